"""Schemathesis fuzzes every Query and Mutation field of a running server, as
an anonymous caller, a borrower, a lender and an admin, with arguments drawn
from the schema (custom scalars: tests/fuzz/strategies.py).

The check: no response is an HTTP 5xx, every GraphQL error carries a code, and
none is INTERNAL_SERVER_ERROR. Refusals (FORBIDDEN, NOT_FOUND, BAD_USER_INPUT,
UNAUTHENTICATED, GRAPHQL_VALIDATION_FAILED, QUERY_TOO_COMPLEX, payload
UserErrors...) are the expected answers to hostile input, not failures.

`make test` runs a bounded, derandomized pass (LOANGRAPH_FUZZ_EXAMPLES per field
and role, default 6); `make fuzz` runs a longer random one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.fuzz import strategies
from tests.fuzz.conftest import SEEDED_IDS, FuzzWorld

EXAMPLES = int(os.environ.get("LOANGRAPH_FUZZ_EXAMPLES", "6"))
RANDOM = os.environ.get("LOANGRAPH_FUZZ_RANDOM", "") == "1"

# The committed SDL (kept equal to the code's schema by tests/ops/test_sdl.py),
# loaded at import: the server is started later, by the `fuzz_world` fixture.
strategies.register(
    SEEDED_IDS, malformed_scalars=os.environ.get("LOANGRAPH_FUZZ_MALFORMED_SCALARS", "1") == "1"
)
schema = schemathesis.graphql.from_path(Path(__file__).parents[2] / "schema/schema.graphql")


@schemathesis.check
def no_server_error(ctx, response, case) -> None:
    """A 5xx, a non-JSON answer, an uncoded error or a masked internal error fails."""
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:500]}"
    assert "Traceback" not in response.text, response.text[:2000]
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"HTTP {response.status_code} answer is not JSON: {response.text[:300]!r}"
        ) from None
    errors = body.get("errors") or [] if isinstance(body, dict) else []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert code, f"GraphQL error without a code: {error}"
        assert code != "INTERNAL_SERVER_ERROR", f"internal server error: {error}"


def _fuzz_as(role: str):
    @pytest.mark.slow
    @schema.parametrize()
    @settings(
        max_examples=EXAMPLES,
        derandomize=not RANDOM,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if RANDOM else []),
        suppress_health_check=list(HealthCheck),
    )
    def test(case, fuzz_world: FuzzWorld) -> None:
        token = fuzz_world.tokens[role]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        case.call_and_validate(
            base_url=fuzz_world.server.url + "/graphql",
            headers=headers,
            checks=[no_server_error],
            timeout=30,
        )

    test.__name__ = test.__qualname__ = f"test_no_server_errors_as_{role}"
    return test


test_no_server_errors_as_anonymous = _fuzz_as("anonymous")
test_no_server_errors_as_borrower = _fuzz_as("borrower")
test_no_server_errors_as_lender = _fuzz_as("lender")
test_no_server_errors_as_admin = _fuzz_as("admin")


def test_server_logged_no_internal_error(fuzz_world: FuzzWorld) -> None:
    """After the run: the server logged no unhandled exception (a masked error
    the checks above might miss, e.g. in a background task)."""
    log = fuzz_world.server.log()
    assert "internal error" not in log and "Traceback" not in log, log[-5000:]
