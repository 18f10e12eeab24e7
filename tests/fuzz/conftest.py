"""A real `loangraph serve` process (uvicorn) on DynamoDB Local for the fuzzer,
over tables seeded with a loan, its lenders, versions and audit entries, and
tokens for the four kinds of caller."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from core.auth import Viewer, mint_token
from core.ids import to_global_id
from core.settings import Settings
from tests.conftest import new_user
from tests.factories import (
    guard_for,
    loan_created_entry,
    make_loan,
    make_participant,
    make_user,
    version_of,
    write_all,
)
from tests.ops.conftest import LiveServer, start_server

# A budget no fuzzing run can spend: the rate limiter must not turn the run into
# a stream of RATE_LIMITED refusals.
RATE_LIMIT_POINTS = 1_000_000_000


@dataclass
class FuzzWorld:
    server: LiveServer
    tokens: dict[str, str | None]  # role -> bearer token (None: anonymous)


# The seeded world's users and records, fixed when the test module is imported:
# Schemathesis builds its strategies (and the ID strategy samples these ids) at
# collection time, before any fixture runs.
BORROWER, LENDER, ADMIN = new_user("borrower"), new_user("lender"), new_user("admin", admin=True)
OPEN_LOAN = make_loan(BORROWER, title="Fuzzed loan", amount="50000.00")
ACTIVE_LOAN = make_loan(BORROWER, title="Active loan", status="ACTIVE")
DELETED_LOAN = make_loan(BORROWER, title="Deleted loan", deleted=True)
ACCEPTED = make_participant(
    OPEN_LOAN, LENDER.email, amount="1500.00", status="ACCEPTED", lender_id=LENDER.user_id
)
INVITED = make_participant(ACTIVE_LOAN, LENDER.email, amount="250.00")
OTHER = make_participant(OPEN_LOAN, "someone-else@example.com", amount="700.00")
AUDIT = loan_created_entry(OPEN_LOAN, BORROWER)
SEEDED_IDS = [
    *(to_global_id("Loan", loan.loan_id) for loan in (OPEN_LOAN, ACTIVE_LOAN, DELETED_LOAN)),
    *(
        to_global_id("Participant", f"{p.loan_id}/{p.participant_id}")
        for p in (ACCEPTED, INVITED, OTHER)
    ),
    *(to_global_id("LoanVersion", f"{loan.loan_id}/1") for loan in (OPEN_LOAN, DELETED_LOAN)),
    *(to_global_id("User", v.user_id) for v in (BORROWER, LENDER, ADMIN)),
    to_global_id("AuditEntry", f"{AUDIT.record_key}/{AUDIT.sk}"),
]


@pytest.fixture(scope="module")
def fuzz_world(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    loans = (OPEN_LOAN, ACTIVE_LOAN, DELETED_LOAN)
    participants = (ACCEPTED, INVITED, OTHER)
    write_all(
        [
            *loans,
            *participants,
            *(guard_for(p) for p in participants),
            *(version_of(loan) for loan in loans),
            AUDIT,
            *(make_user(v) for v in (BORROWER, LENDER, ADMIN)),
        ]
    )
    # The server shares the module's freshly created tables (and its JWT secret).
    server = start_server(
        settings.dynamodb_endpoint or "",
        tmp_path_factory.mktemp("fuzz"),
        LOANGRAPH_TABLE_PREFIX=settings.table_prefix,
        LOANGRAPH_CREATE_TABLES="false",
        LOANGRAPH_RATE_LIMIT_POINTS=str(RATE_LIMIT_POINTS),
    )

    def token(v: Viewer) -> str:
        return mint_token(settings, sub=v.user_id, email=v.email, admin=v.is_admin)

    try:
        yield FuzzWorld(
            server=server,
            tokens={
                "anonymous": None,
                "borrower": token(BORROWER),
                "lender": token(LENDER),
                "admin": token(ADMIN),
            },
        )
    finally:
        server.stop()
