"""Strawberry's own execution of the nested result from memory: the same
shape (loans -> participants -> lender) resolved from dicts, no database."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import strawberry

from bench.memory_loan_page import MParticipant, MParticipantConnection, MParticipantEdge, MUser

if TYPE_CHECKING:
    from bench.dataset import Dataset


@strawberry.type
class MLoan:
    loan_id: str
    title: str
    amount: Decimal
    status: str
    participants_: strawberry.Private[list[MParticipant]]

    @strawberry.field
    async def participants(self, first: int = 20) -> MParticipantConnection:
        return MParticipantConnection(
            edges=[MParticipantEdge(node=p) for p in self.participants_[:first]]
        )


@strawberry.type
class MLoanEdge:
    node: MLoan


@strawberry.type
class MLoanConnection:
    edges: list[MLoanEdge]


def build(dataset: Dataset) -> strawberry.Schema:
    by_loan: dict[str, list[MParticipant]] = {}
    for p in dataset.participants:
        by_loan.setdefault(p.loan_id, []).append(
            MParticipant(
                participant_id=p.participant_id,
                lender_email=p.lender_email,
                contribution_amount=p.contribution_amount,
                status=p.status,
                lender=MUser(user_id=p.lender_id, display_name=p.lender_id),
            )
        )
    loans = [
        MLoan(
            loan_id=l.loan_id,
            title=l.title,
            amount=l.amount,
            status=l.status,
            participants_=by_loan[l.loan_id],
        )
        for l in dataset.loans
    ]

    @strawberry.type
    class Query:
        @strawberry.field
        async def loans(self, first: int = 20) -> MLoanConnection:
            return MLoanConnection(edges=[MLoanEdge(node=l) for l in loans[:first]])

    return strawberry.Schema(query=Query)
