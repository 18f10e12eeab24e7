"""Walkthrough pages (docs/getting-started.md, and any page with `<!-- doc: run -->`
steps) run as tests, step by step, against a real `loangraph serve` started the
way `make serve` starts it: no database endpoint (the embedded DynamoDB Local,
data in a temporary directory), the default development secret, a free port.

Each `run` block runs in bash in the repository, carrying the variables and
functions it defines to the next step; `http://127.0.0.1:8000` is the test
server's address. An `output` block is what the step before it printed (JSON
compared field by field; `id`/`*Id`/`at`/`*At`/cursors only by type; `...` in
a string matches any text, the string `"..."` any value). `run background` starts a long-running step; the
`output` after it is its first line(s), `output background` its next ones.
`server-prints` is a line the server prints on start."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.dynamodb_local import free_port
from tests.docs.doccheck import Block, blocks, doc_pages, rel
from tests.ops.conftest import ROOT

DOC_PORT = "127.0.0.1:8000"
WALKTHROUGHS = [p for p in doc_pages() if any(b.marker == "run" for b in blocks(p))]
VARIES = re.compile(r"^(id|at|ts|cursor|\w+Id|\w+At|\w+Cursor)$")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a newcomer has: no LOANGRAPH_* and no AWS region."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOANGRAPH_", "BASH_FUNC_"))
        and k not in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    env.update(extra)
    return env


class Server:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.log_path = tmp / "serve.log"
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [str(ROOT / ".venv/bin/loangraph"), "serve"],
                cwd=ROOT,
                env=clean_env(
                    LOANGRAPH_DATA_DIR=str(tmp / "data"),
                    LOANGRAPH_PORT=str(self.port),
                    LOANGRAPH_LOG_FORMAT="text",
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"server not ready:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Background:
    """A `run background` step: its stdout lines arrive on a queue."""

    def __init__(self, script: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_lines(self, n: int, timeout: float = 20.0) -> list[str]:
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            out.append(line)
        return out

    def stop(self) -> str:
        """End it (its whole process group); its stderr."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.pump.join(10)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        err = "" if self.proc.stderr.closed else self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


def run_step(block: Block, script: str, env: dict[str, str], tmp: Path) -> tuple[str, dict]:
    """Run one step in bash; (stdout, the environment it leaves for the next)."""
    state = tmp / f"env-{block.index}"
    wrapped = (
        "set -eo pipefail\nset -a\n"
        + script
        + '\nset +a\nfor f in $(compgen -A function); do export -f "$f"; done\n'
        + f"env -0 > {state}\n"
    )
    r = subprocess.run(
        ["bash", "-c", wrapped], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, (
        f"{block.where()}: the step exited {r.returncode}\n--- stdout\n{r.stdout}\n"
        f"--- stderr\n{r.stderr}"
    )
    new_env = dict(item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    return r.stdout, new_env


def json_values(text: str, where: str) -> list[Any]:
    """A JSON document, or one per line (JSON lines)."""
    text = text.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{where}: not JSON ({exc}):\n{text}") from None


def differences(expected: Any, actual: Any, path: str = "") -> Iterator[str]:
    if expected == "...":
        return  # elided: any value
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(expected) != set(actual):
            yield f"{path or '.'}: keys {sorted(actual)}, the doc shows {sorted(expected)}"
            return
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else key
            if VARIES.match(key):
                if type(value) is not type(actual[key]):
                    yield f"{sub}: {actual[key]!r}, the doc shows {value!r}"
            else:
                yield from differences(value, actual[key], sub)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: {len(actual)} items, the doc shows {len(expected)}"
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from differences(e, a, f"{path}.{i}")
    elif isinstance(expected, str) and "..." in expected and isinstance(actual, str):
        pattern = ".*".join(re.escape(part) for part in expected.split("..."))
        if not re.fullmatch(pattern, actual, re.S):
            yield f"{path}: {actual!r}, the doc shows {expected!r}"
    elif expected != actual or type(expected) is not type(actual):
        yield f"{path or '.'}: {actual!r}, the doc shows {expected!r}"


def compare(block: Block, printed: str) -> None:
    expected = json_values(block.text, block.where())
    actual = json_values(printed, f"{block.where()} (what the step printed)")
    problems = (
        [f"{len(actual)} JSON value(s), the doc shows {len(expected)}"]
        if len(actual) != len(expected)
        else [d for e, a in zip(expected, actual, strict=True) for d in differences(e, a)]
    )
    assert not problems, (
        f"{block.where()}: the output differs from the doc:\n  "
        + "\n  ".join(problems)
        + f"\n--- printed\n{printed}"
    )


@pytest.mark.parametrize("page", WALKTHROUGHS, ids=rel)
def test_walkthrough_runs_as_written(page: Path, tmp_path: Path) -> None:
    server = Server(tmp_path)
    address = f"127.0.0.1:{server.port}"
    env = clean_env()
    background: Background | None = None
    last_output: str | None = None
    ran = 0
    try:
        for block in blocks(page):
            if block.marker == "server-prints":
                for line in block.text.strip().splitlines():
                    assert line.replace(DOC_PORT, address) in server.log(), (
                        f"{block.where()}: the server did not print {line!r}:\n{server.log()[-2000:]}"
                    )
            elif block.marker == "run" and block.argument == "background":
                assert background is None, f"{block.where()}: one background step per page"
                script = block.text.replace(DOC_PORT, address).rstrip().removesuffix("&")
                background = Background(script, env)
                last_output = None
            elif block.marker == "run":
                last_output, env = run_step(
                    block, block.text.replace(DOC_PORT, address), env, tmp_path
                )
                ran += 1
            elif block.marker == "output":
                from_background = block.argument == "background" or last_output is None
                if from_background:
                    assert background is not None, f"{block.where()}: no step before this output"
                    want = len(json_values(block.text, block.where()))
                    got = background.next_lines(want)
                    if len(got) < want:
                        err = background.stop()
                        raise AssertionError(
                            f"{block.where()}: the background step printed {got}, "
                            f"the doc shows {want} line(s)\n--- stderr\n{err}"
                        )
                    compare(block, "\n".join(got))
                else:
                    compare(block, last_output)
        assert ran >= 5, f"{rel(page)}: only {ran} steps ran"
        assert "ERROR" not in server.log(), server.log()[-3000:]
    finally:
        if background is not None:
            background.stop()
        server.stop()
