"""A real server process (`loangraph serve`) for tests that need a socket:
the browser, the graphql-http audit, shutdown and outage behaviour."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chaos.procs import AppProcess
from core.dynamodb_local import free_port
from tests.conftest import TEST_JWT_SECRET

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests/artifacts"


@dataclass
class LiveServer:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    table_prefix: str = ""  # for tests that write rows directly

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_server(endpoint: str, tmp: Path, **env: str) -> LiveServer:
    """`loangraph serve` on a free port against `endpoint` with fresh tables."""
    port = free_port()
    log_path = tmp / f"server-{port}.log"
    environ = {
        **os.environ,
        "LOANGRAPH_DYNAMODB_ENDPOINT": endpoint,
        "LOANGRAPH_HOST": "127.0.0.1",
        "LOANGRAPH_PORT": str(port),
        "LOANGRAPH_TABLE_PREFIX": f"o{uuid.uuid4().hex[:8]}_",
        "LOANGRAPH_JWT_SECRET": TEST_JWT_SECRET,
        "LOANGRAPH_LOG_FORMAT": "json",
        **env,
    }
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/loangraph"), "serve"],
            cwd=ROOT,
            env=environ,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(proc, port, log_path, environ["LOANGRAPH_TABLE_PREFIX"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()[-3000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"server did not start:\n{server.log()[-3000:]}")


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`loangraph *args` to completion with exactly `env`, its output captured as text."""
    return subprocess.run(
        [str(ROOT / ".venv/bin/loangraph"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_worker(endpoint: str, tmp: Path, **env: str) -> AppProcess:
    """`loangraph worker` against `endpoint`, logging to `tmp/worker.log` (`.stop()` it)."""
    return AppProcess(
        "worker",
        {"LOANGRAPH_DYNAMODB_ENDPOINT": endpoint, "LOANGRAPH_JWT_SECRET": TEST_JWT_SECRET, **env},
        tmp / "worker.log",
    ).start()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
