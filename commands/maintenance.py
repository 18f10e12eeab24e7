"""Maintenance of records and evidence: integrity checks and repairs, the audit
chain (verify, backfill), acceptance receipts (verify, rotate the key), the
legacy migration, trusted documents. Registered on the CLI by `register`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from commands.database import database
from core.settings import get_settings

# The commands, in the order `loangraph --help` lists them (see `register`).
maintenance_cli = typer.Typer()


@maintenance_cli.command("check-integrity")
def check_integrity_cmd(
    repair: Annotated[
        bool, typer.Option(help="Recompute what can be recomputed (audited)")
    ] = False,
) -> None:
    """Report orphans, guard mismatches, wrong counters, version gaps, unaudited changes."""
    import anyio

    from services.integrity import check_integrity

    database()
    report = anyio.run(lambda: check_integrity(repair, progress=True))
    for issue in report.issues:
        mark = "repaired" if issue.repaired else ("repairable" if issue.repairable else "manual")
        typer.echo(f"[{mark}] {issue.kind} {issue.record}: {issue.detail}")
    typer.echo(
        f"checked {report.loans} loans, {report.participants} participants, "
        f"{report.guards} guards: {len(report.issues)} issue(s)"
    )
    if not report.ok:
        raise typer.Exit(1)


@maintenance_cli.command("verify-audit")
def verify_audit_cmd(
    loan: Annotated[str | None, typer.Option("--loan", help="Verify only this loan id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON lines")] = False,
) -> None:
    """Recompute every loan's audit chain; name each altered, deleted, inserted or
    reordered entry and each head that does not match. Exit 0 if all verify, else 1."""
    import json

    from services import chain

    database()
    loan_ids = [loan] if loan else chain.all_loan_ids()
    bad = entries = 0
    for loan_id in loan_ids:
        res = chain.verify_loan(loan_id)
        entries += res.entries
        bad += 0 if res.ok else 1
        for f in res.findings:
            typer.echo(json.dumps(f.as_dict()) if as_json else f.line())
    typer.echo(
        f"verified {len(loan_ids)} loan(s), {entries} entries: "
        + ("all chains intact" if not bad else f"{bad} loan(s) failed"),
        err=as_json,
    )
    if bad:
        raise typer.Exit(1)


@maintenance_cli.command("backfill-audit-chain")
def backfill_audit_chain_cmd(
    loan: Annotated[str | None, typer.Option("--loan", help="Only this loan id")] = None,
) -> None:
    """One-time: give existing audit entries their chain (hash, previousHash) and
    each loan its chain head; each loan's backfill is itself an audit entry.
    Resumable: loans whose chain already verifies are skipped."""
    import anyio

    from core.db import run_db
    from services import chain
    from services.common import with_retry

    database()

    async def run() -> tuple[int, int, int, int]:
        ids = [loan] if loan else await run_db(chain.all_loan_ids)
        chained = skipped = refused = 0
        for loan_id in ids:
            res = await with_retry(
                "backfillAuditChain",
                lambda n, lid=loan_id: run_db(chain.backfill_loan, lid),
                loan_id=loan_id,
            )
            if res.status == "chained":
                chained += 1
                typer.echo(f"chained {loan_id}: {res.entries} entries, {res.rewritten} rewritten")
            elif res.status == "refused":
                refused += 1
                typer.echo(f"refused {loan_id}: its chain exists and fails; see verify-audit")
            else:
                skipped += 1
        unowned = 0 if loan else await run_db(chain.backfill_unowned)
        return chained, skipped, refused, unowned

    chained, skipped, refused, unowned = anyio.run(run)
    typer.echo(
        f"backfill: {chained} loan(s) chained, {skipped} already intact, "
        f"{unowned} entries of no loan hashed, {refused} refused"
    )
    if refused:
        raise typer.Exit(1)


@maintenance_cli.command("verify-receipt")
def verify_receipt_cmd(
    file: Annotated[
        Path, typer.Argument(help="Receipt JSON: {payload, signature, keyId, algorithm}")
    ],
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            help="Published JWKS: a file or an http(s) URL (default: this installation's keys)",
        ),
    ] = None,
) -> None:
    """Verify an acceptance receipt offline against the published keys. Exit 0 if valid."""
    import json

    from services import receipts

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"INVALID: cannot read {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    # Accept the GraphQL response shape too: {"data": ...{"receipt": {...}}}.
    while isinstance(doc, dict) and "payload" not in doc and len(doc) == 1:
        doc = next(iter(doc.values()))
    if isinstance(doc, dict) and "receipt" in doc:
        doc = doc["receipt"]
    if keys is None:
        jwks = receipts.keyring(get_settings()).jwks()
    elif keys.startswith(("http://", "https://")):
        import httpx

        jwks = httpx.get(keys, timeout=10).json()
    else:
        jwks = json.loads(Path(keys).read_text())
    try:
        payload = receipts.verify(doc if isinstance(doc, dict) else {}, jwks)
    except receipts.ReceiptInvalid as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"VALID: signed by key {doc['keyId']}")
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


@maintenance_cli.command("rotate-receipt-key")
def rotate_receipt_key_cmd() -> None:
    """Generate a new receipt signing key under the data directory; the old public
    key stays published, so receipts it signed stay verifiable. Restart servers after."""
    from services import receipts

    try:
        old, new = receipts.rotate(get_settings())
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"retired {old}; now signing with {new}")


@maintenance_cli.command("migrate-legacy")
def migrate_legacy_cmd(
    from_table: Annotated[
        str, typer.Option("--from", help="Legacy participants table (full name)")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only, write nothing")] = False,
) -> None:
    """Convert a legacy participants table into stable participants (idempotent)."""
    import json

    import anyio

    from core.errors import DomainError
    from services.migrate import migrate_legacy

    database()
    try:
        report = anyio.run(lambda: migrate_legacy(from_table, dry_run, progress=True))
    except DomainError as exc:
        typer.echo(f"migrate-legacy: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        json.dumps(
            {"summary": report.summary(), "merged": report.merged, "refused": report.refused},
            indent=2,
        )
    )


persisted_queries_app = typer.Typer(
    help="Trusted documents: the persisted-documents manifest a frontend build produced.",
    no_args_is_help=True,
)


@persisted_queries_app.command("import")
def persisted_queries_import(
    file: Annotated[Path, typer.Argument(help="Manifest JSON: {sha256 hex: document}")],
) -> None:
    """Store every document of a manifest (idempotent; checked against the schema)."""
    import json

    from core.errors import BadUserInput
    from guards import apq
    from models import tables
    from schema import build_schema

    try:
        docs = apq.parse_manifest(json.loads(file.read_text()))
        apq.check_manifest_schema(docs, build_schema()._schema)
    except (OSError, ValueError) as exc:
        typer.echo(f"persisted-queries import: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    except BadUserInput as exc:
        sha = (exc.extensions or {}).get("sha256Hash")
        where = f" (sha256Hash {sha})" if sha else ""
        typer.echo(f"persisted-queries import: {file}: {exc.message}{where}", err=True)
        raise typer.Exit(2) from None
    settings, _launcher = database()
    tables.create_tables(settings)
    added, present = apq.import_manifest_sync(None, docs)
    typer.echo(f"imported {added} document(s); {present} already stored")


def register(app: typer.Typer) -> None:
    """Add these commands to the CLI, in their order."""
    for info in maintenance_cli.registered_commands:
        app.registered_commands.append(info)
    app.add_typer(persisted_queries_app, name="persisted-queries")
