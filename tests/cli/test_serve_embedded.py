"""`loangraph serve` as `make serve` runs it: no endpoint configured, so it starts
the embedded DynamoDB Local with data on disk; `loangraph seed` shares it; the
data survives a restart; the database stops with the server."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from core.auth import mint_token
from core.dynamodb_local import free_port
from core.settings import Settings
from tests.ops.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SECRET = "cli-test-secret-0123456789abcdef012345"


def env(data_dir: Path, port: int) -> dict[str, str]:
    e = {
        k: v for k, v in os.environ.items() if not k.startswith("LOANGRAPH_") and k != "AWS_REGION"
    }
    e.update(
        LOANGRAPH_DATA_DIR=str(data_dir), LOANGRAPH_PORT=str(port), LOANGRAPH_JWT_SECRET=SECRET
    )
    return e


def start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/loangraph"), "serve"],
            cwd=ROOT,
            env=env(data_dir, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(log.read_text()[-3000:])


def titles(port: int) -> list[str]:
    token = mint_token(
        Settings(jwt_secret=SECRET), sub="cli-admin", email="cli-admin@example.com", admin=True
    )
    r = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": "{ loans(first: 100) { edges { node { title } } } }"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    return sorted(e["node"]["title"] for e in r.json()["data"]["loans"]["edges"])


def java_children(data_dir: Path) -> int:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if "DynamoDBLocal" in line and str(data_dir) in line)


def test_serve_seed_restart(tmp_path: Path) -> None:
    data, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    server = start(data, port, log)
    try:
        assert (data / "dynamodb.endpoint").is_file()
        seed = run_cli("seed", env=env(data, port))
        assert seed.returncode == 0, seed.stderr[-2000:]
        assert "using the running server's DynamoDB Local" in seed.stderr
        seeded = titles(port)
        assert len(seeded) >= 10
    finally:
        server.terminate()
        server.wait(30)
    deadline = time.monotonic() + 15
    while java_children(data) != 0:
        assert time.monotonic() < deadline, "DynamoDB Local outlived the server"
        time.sleep(0.2)
    server = start(data, port, log)
    try:
        assert titles(port) == seeded  # kept under the data directory across restarts
    finally:
        server.terminate()
        server.wait(30)


def test_refuses_real_aws_with_the_development_secret(tmp_path: Path) -> None:
    e = {k: v for k, v in os.environ.items() if not k.startswith("LOANGRAPH_")}
    e["AWS_REGION"] = "eu-west-1"
    r = run_cli("serve", env=e)
    assert r.returncode == 2
    assert "development JWT secret" in r.stderr


def test_bad_setting_is_a_clear_message(tmp_path: Path) -> None:
    e = {**os.environ, "LOANGRAPH_RATE_LIMIT_BACKEND": "postgres"}
    r = run_cli("token", "--sub", "x", env=e)
    assert r.returncode == 2
    assert "LOANGRAPH_RATE_LIMIT_BACKEND='postgres' is not one of: memory, dynamodb" in r.stderr
    assert "Traceback" not in r.stderr
