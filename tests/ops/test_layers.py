"""The declared layers hold (docs/architecture.md): the import contracts of
`.importlinter`, checked by the real tool, and DynamoDB writes only where the
architecture allows them."""

from __future__ import annotations

import ast
import subprocess

from tests.ops.conftest import ROOT

# Modules allowed to call DynamoDB write APIs besides the domain layer (services/):
# infrastructure state that is not business data and is not audited.
INFRASTRUCTURE_WRITERS = {
    "events/checkpoints.py": "stream checkpoints and the dispatcher's lease",
    "guards/apq.py": "persisted queries",
    "guards/ratelimit.py": "rate-limit counters (DynamoDB backend)",
}
# Known exceptions to be moved into services/ (docs/architecture.md, "Debts").
# The test fails when one stops writing, so the list can only shrink.
DEBTS: dict[str, str] = {}
WRITE_CALLS = {
    "save",
    "batch_write",
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
}
PRODUCT = ("core", "models", "loaders", "schema", "resolvers", "services", "events", "guards")
PRODUCT += ("ops", "web", "commands")


def writes_to_dynamodb(tree: ast.AST) -> set[str]:
    """The DynamoDB write calls in a module: PynamoDB's save/update/delete and
    batch/transaction writes, botocore's write operations."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        keywords = {k.arg for k in node.keywords}
        if name == "TransactWrite" or name in WRITE_CALLS:
            found.add(name)
        elif name == "update" and keywords & {"actions", "condition"}:
            found.add("update")  # Model.update(actions=...), not dict.update
        elif (
            name == "delete"
            and isinstance(f, ast.Attribute)
            and (not node.args or "condition" in keywords)
        ):
            found.add("delete")  # Model.delete(), not a client's delete(url)
    return found


def writers() -> dict[str, set[str]]:
    out = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            calls = writes_to_dynamodb(ast.parse(path.read_text()))
            if calls:
                out[str(path.relative_to(ROOT))] = calls
    return out


def test_only_the_domain_layer_and_named_infrastructure_write() -> None:
    found = writers()
    outside = {
        path: calls
        for path, calls in found.items()
        if not path.startswith("services/")
        and path not in INFRASTRUCTURE_WRITERS
        and path not in DEBTS
    }
    assert not outside, f"DynamoDB writes outside services/ and the named modules: {outside}"
    assert any(p.startswith("services/") for p in found)  # the scan sees real writes
    paid = [path for path in DEBTS if path not in found]
    assert not paid, f"{paid} no longer write: remove them from DEBTS"


def test_the_scan_recognizes_write_calls() -> None:
    src = "Loan(x).save()\nrow.update(actions=[a])\nrow.delete()\nd.update({1: 2})\nc.delete(url)\n"
    assert writes_to_dynamodb(ast.parse(src)) == {"save", "update", "delete"}


def test_import_contracts_hold() -> None:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/lint-imports")], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


OWN = {"core", "models", "loaders", "schema", "resolvers", "services", "events", "guards"}
OWN |= {"ops", "web", "commands", "server", "cli"}


def test_no_import_of_our_own_code_is_guarded() -> None:
    """`except ImportError` may guard optional third-party extras (OpenTelemetry),
    never our own modules: a broken import must fail loudly, not switch a feature off."""
    guarded = []
    for package in (*PRODUCT, "server.py", "cli.py"):
        target = ROOT / package
        for path in [target] if target.is_file() else sorted(target.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Try):
                    continue
                catches_import_error = any(
                    isinstance(h.type, ast.Name)
                    and h.type.id in ("ImportError", "ModuleNotFoundError")
                    for h in node.handlers
                )
                if not catches_import_error:
                    continue
                for inner in node.body:
                    if isinstance(inner, ast.ImportFrom | ast.Import):
                        names = (
                            [inner.module]
                            if isinstance(inner, ast.ImportFrom)
                            else [a.name for a in inner.names]
                        )
                        if any((n or "").split(".")[0] in OWN for n in names):
                            guarded.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not guarded, guarded
