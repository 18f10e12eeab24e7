"""Processes the chaos soak (and the outage tests) kill -9 and restart:
redis-server, `loangraph serve`, `loangraph worker`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.dynamodb_local import free_port


class _Killable:
    """kill (SIGKILL: no goodbye to connected clients) and stop (SIGTERM, then
    SIGKILL after `stop_timeout` seconds) of a child process in `self.proc`."""

    proc: subprocess.Popen[bytes] | None
    stop_timeout: float = 5.0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RedisProcess(_Killable):
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.down = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make setup installs it)")
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)


# ---------------------------------------------------------------- app processes
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class AppProcess(_Killable):
    """`loangraph serve` or `loangraph worker`, restartable (same port)."""

    stop_timeout = 20.0  # graceful shutdown closes sockets and drains the dispatcher

    command: str
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    down: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> AppProcess:
        env = {**os.environ, **self.env}
        if self.port is not None:
            env.update(LOANGRAPH_HOST="127.0.0.1", LOANGRAPH_PORT=str(self.port))
        exe = ROOT / ".venv/bin/loangraph"
        cmd = [str(exe)] if exe.exists() else [sys.executable, str(ROOT / "cli.py")]
        cmd.append(self.command)
        if self.command == "serve":
            cmd.append("--no-create-tables")
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        if self.port is None:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.command} did not start in {timeout}s")

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0
