"""Strawberry executing the loan page (bench/live.py LOAN_PAGE) from memory:
the same fields, arguments and nesting, resolved from plain objects built from
one real response. What a cached loan page cannot beat: no database, no auth,
no guards, just GraphQL execution and the response's JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type
class MUser:
    user_id: str
    display_name: str | None = None


@strawberry.type
class MParticipant:
    participant_id: str
    lender_email: str
    contribution_amount: Decimal
    status: str
    lender: MUser | None


@strawberry.type
class MParticipantEdge:
    node: MParticipant


@strawberry.type
class MParticipantConnection:
    edges: list[MParticipantEdge]


@strawberry.type
class MVersion:
    version: int
    changed_at: str
    change_reason: str | None


@strawberry.type
class MVersionEdge:
    node: MVersion


@strawberry.type
class MVersionConnection:
    edges: list[MVersionEdge]


@strawberry.type
class MPoint:
    timestamp: str
    total_funded: Decimal


@strawberry.type
class MPointEdge:
    node: MPoint


@strawberry.type
class MPointConnection:
    edges: list[MPointEdge]


@strawberry.type
class MLoan:
    id: strawberry.ID
    title: str
    amount: Decimal
    currency: str
    interest_rate: Decimal
    term_months: int
    status: str
    version: int
    total_funded: Decimal
    funding_percentage: Decimal
    participant_count: int
    accepted_participant_count: int
    is_fully_funded: bool
    borrower: MUser
    participants_: strawberry.Private[list[MParticipant]]
    versions_: strawberry.Private[list[MVersion]]
    points_: strawberry.Private[list[MPoint]]

    @strawberry.field
    async def participants(self, first: int = 20) -> MParticipantConnection:
        return MParticipantConnection(
            edges=[MParticipantEdge(node=p) for p in self.participants_[:first]]
        )

    @strawberry.field
    async def versions(self, last: int = 20) -> MVersionConnection:
        return MVersionConnection(edges=[MVersionEdge(node=v) for v in self.versions_[-last:]])

    @strawberry.field
    async def funding_history(self, last: int = 20) -> MPointConnection:
        return MPointConnection(edges=[MPointEdge(node=p) for p in self.points_[-last:]])


def build(loan: dict[str, Any]) -> strawberry.Schema:
    """A schema whose `loan(id)` returns `loan` (a real LOAN_PAGE response)."""
    m = MLoan(
        id=strawberry.ID(loan["id"]),
        title=loan["title"],
        amount=Decimal(loan["amount"]),
        currency=loan["currency"],
        interest_rate=Decimal(loan["interestRate"]),
        term_months=loan["termMonths"],
        status=loan["status"],
        version=loan["version"],
        total_funded=Decimal(loan["totalFunded"]),
        funding_percentage=Decimal(str(loan["fundingPercentage"])),
        participant_count=loan["participantCount"],
        accepted_participant_count=loan["acceptedParticipantCount"],
        is_fully_funded=loan["isFullyFunded"],
        borrower=MUser(**_snake(loan["borrower"])),
        participants_=[
            MParticipant(
                participant_id=n["participantId"],
                lender_email=n["lenderEmail"],
                contribution_amount=Decimal(n["contributionAmount"]),
                status=n["status"],
                lender=MUser(**_snake(n["lender"])) if n["lender"] else None,
            )
            for n in _nodes(loan["participants"])
        ],
        versions_=[
            MVersion(
                version=n["version"], changed_at=n["changedAt"], change_reason=n["changeReason"]
            )
            for n in _nodes(loan["versions"])
        ],
        points_=[
            MPoint(timestamp=n["timestamp"], total_funded=Decimal(n["totalFunded"]))
            for n in _nodes(loan["fundingHistory"])
        ],
    )

    @strawberry.type
    class Query:
        @strawberry.field
        async def loan(self, id: strawberry.ID) -> MLoan | None:
            return m if id == m.id else None

    # Strawberry at its best: documents parsed and validated once, as the
    # server does (schema/validation.py)
    # Instances, as Strawberry documents them (its hint names classes and factories).
    return strawberry.Schema(query=Query, extensions=[ParserCache(), ValidationCache()])  # type: ignore[list-item]  # instances


def _nodes(conn: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in conn["edges"]]


def _snake(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": d["userId"],
        **({"display_name": d.get("displayName")} if "displayName" in d else {}),
    }
