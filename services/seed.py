"""`loangraph seed`: a demo marketplace written through the domain layer, so
every record has its versions, audit trail and metric points, exactly as if
users had made those changes: borrowers, lenders, loans in every status,
term changes and a revert, declines, a removal, a deleted and a restored loan.

Users are fixed (`seed-...` ids; mint tokens with `loangraph token --sub
seed-borrower-alice --email alice@seed.loangraph.dev`). Seeding twice does
nothing the second time (a seed borrower's loans already exist)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import Any

import anyio

from core import db
from core.actor import Actor
from core.auth import Viewer
from models import Loan
from services import loans as L
from services import participants as P
from services.progress import bar
from services.users import ensure_user

DOMAIN = "seed.loangraph.dev"
BORROWERS = ["alice", "bruno", "chen"]
LENDERS = ["dana", "emeka", "farah", "gus", "hana", "ivan", "jo", "kemal"]


def viewer(name: str, role: str) -> Viewer:
    return Viewer(
        user_id=f"seed-{role}-{name}", email=f"{name}@{DOMAIN}", display_name=name.capitalize()
    )


def _actor(v: Viewer) -> Actor:
    return Actor(v, ip_address="127.0.0.1", user_agent="loangraph-seed", request_id="seed")


def _already_seeded() -> bool:
    first = viewer(BORROWERS[0], "borrower").user_id
    return any(True for _ in Loan.by_borrower.query(first, limit=1))


async def seed(*, progress: bool = True) -> dict[str, Any]:
    """Write the demo data; returns counts (or {"skipped": True})."""
    if await db.run_db(_already_seeded):
        return {"skipped": True}
    borrowers = [_actor(viewer(n, "borrower")) for n in BORROWERS]
    lenders = [_actor(viewer(n, "lender")) for n in LENDERS]
    admin = _actor(
        Viewer(
            user_id="seed-admin", email=f"admin@{DOMAIN}", roles=("admin",), display_name="Admin"
        )
    )
    steps: list[Callable[[], Awaitable[Any]]] = []
    made: dict[str, int] = {"loans": 0, "participants": 0}

    for a in [*borrowers, *lenders, admin]:
        steps.append(partial(ensure_user, a.viewer))

    def loan_story(
        b: Actor, n: int, title: str, amount: str, rate: str, term: int, story: str
    ) -> None:
        async def run() -> None:
            loan = await L.create_loan(
                b,
                title=title,
                amount=Decimal(amount),
                interest_rate=Decimal(rate),
                term_months=term,
            )
            made["loans"] += 1
            lid = loan.loan_id
            crew = [lenders[(n + i) % len(lenders)] for i in range(4)]
            share = (Decimal(amount) / 4).quantize(Decimal("0.01"))
            shares = [share, share, share, Decimal(amount) - 3 * share]

            async def invite_all() -> list[Any]:
                out = await P.invite_participants(
                    b, lid, [(c.viewer.email or "", s) for c, s in zip(crew, shares, strict=True)]
                )
                made["participants"] += out.summary.succeeded
                return [r.participant for r in out.results]

            if story == "pending":
                await L.update_loan_terms(
                    b, lid, expected_version=1, change_reason="Longer term", term_months=term + 12
                )
                await L.update_loan_terms(
                    b,
                    lid,
                    expected_version=2,
                    change_reason="Lower rate after feedback",
                    interest_rate=Decimal(rate) - 1,
                )
                await L.revert_loan_terms(
                    b,
                    lid,
                    to_version=2,
                    expected_version=3,
                    change_reason="Back to the original rate",
                )
                ps = await invite_all()
                await P.accept_invitation(crew[0], lid, ps[0].participant_id, 4)
                await P.decline_invitation(crew[1], lid, ps[1].participant_id)
                await P.remove_participant(b, lid, ps[2].participant_id, "Invited by mistake")
            elif story in ("funded", "active", "completed"):
                ps = await invite_all()
                for c, p in zip(crew, ps, strict=True):
                    await P.accept_invitation(c, lid, p.participant_id, 1)
                if story in ("active", "completed"):
                    await L.set_loan_status(b, lid, "ACTIVE", "Funds disbursed")
                if story == "completed":
                    await L.set_loan_status(b, lid, "COMPLETED", "Repaid in full")
            elif story == "cancelled":
                ps = await invite_all()
                await P.accept_invitation(crew[0], lid, ps[0].participant_id)
                await L.set_loan_status(b, lid, "CANCELLED", "Found a bank loan")
            elif story in ("deleted", "restored"):
                ps = await invite_all()
                await P.accept_invitation(crew[3], lid, ps[3].participant_id)
                await L.delete_loan(b, lid, "Posted twice")
                if story == "restored":
                    await L.restore_loan(admin, lid)

        steps.append(run)

    stories = ["pending", "funded", "active", "completed", "cancelled", "deleted", "restored"]
    titles = [
        "Bakery oven",
        "Food truck",
        "Solar roof",
        "Tractor repair",
        "Shop fit-out",
        "Delivery van",
        "Coffee roaster",
        "Greenhouse",
        "Kiln",
        "Bike workshop",
    ]
    n = 0
    for bi, b in enumerate(borrowers):
        for si, story in enumerate(stories):
            if (bi + si) % 3 == 2 and story not in ("pending", "funded", "restored"):
                continue  # not every borrower tells every story
            amount = str(1000 * (2 + (n * 7) % 23))
            loan_story(
                b,
                n,
                titles[n % len(titles)],
                amount,
                f"{5 + n % 7}.{n % 4}25",
                12 * (1 + n % 5),
                story,
            )
            n += 1

    with bar("seeding the demo marketplace", len(steps), enabled=progress) as advance:
        for step in steps:
            await step()
            advance()
    return made


def run_seed(*, progress: bool = True) -> dict[str, Any]:
    """Blocking entry point (the CLI)."""
    return anyio.run(lambda: seed(progress=progress))
