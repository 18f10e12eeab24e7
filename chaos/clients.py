"""The chaos soak's clients: borrowers, lenders and an admin doing a realistic
mix of GraphQL calls through the replicas, each call recorded in the report."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.procs import AppProcess
from chaos.report import Call, Report
from core.auth import mint_token
from core.settings import Settings

CREATE = """mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id loanId version } errors { code } } }"""
INVITE = """mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) { participant { id } errors { code } } }"""
ACCEPT = """mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { loan { version } errors { code } } }"""
DECLINE = """mutation($i: RespondToInvitationInput!) { declineInvitation(input: $i) { loan { version } errors { code } } }"""
REMOVE = """mutation($i: RemoveParticipantInput!) { removeParticipant(input: $i) { participant { id } errors { code } } }"""
UPDATE = """mutation($i: UpdateLoanTermsInput!) { updateLoanTerms(input: $i) { loan { version } errors { code } } }"""
REVERT = """mutation($i: RevertLoanTermsInput!) { revertLoanTerms(input: $i) { loan { version } errors { code } } }"""
DELETE = """mutation($i: DeleteLoanInput!) { deleteLoan(input: $i) { loan { version } errors { code } } }"""
RESTORE = """mutation($i: RestoreLoanInput!) { restoreLoan(input: $i) { loan { version } errors { code } } }"""
READ = """query($id: ID!) { loan(id: $id, includeDeleted: true) { loanId version amount totalFunded status deletedAt
  participants(first: 50) { edges { node { id status } } } } }"""


@dataclass
class Person:
    user_id: str
    email: str
    token: str


@dataclass
class LoanRef:
    gid: str
    loan_id: str
    borrower: Person
    invited: list[tuple[str, Person]] = field(default_factory=list)


class Clients:
    def __init__(
        self, report: Report, replicas: list[AppProcess], settings: Settings, seed: int
    ) -> None:
        self.report = report
        self.replicas = replicas
        self.rng = random.Random(seed)
        mk = lambda p, admin=False: Person(  # noqa: E731
            f"{p}",
            f"{p}@example.com",
            mint_token(settings, sub=p, email=f"{p}@example.com", admin=admin),
        )
        run = uuid.uuid4().hex[:6]
        self.admin = mk(f"admin-{run}", admin=True)
        self.borrowers = [mk(f"b{i}-{run}") for i in range(3)]
        self.lenders = [mk(f"l{i}-{run}") for i in range(6)]
        self.loans: list[LoanRef] = []
        self.http = httpx.AsyncClient(timeout=30)

    async def gql(
        self,
        op: str,
        query: str,
        variables: dict[str, Any],
        who: Person,
        replica: AppProcess | None = None,
    ) -> dict[str, Any] | None:
        replica = replica or self.rng.choice(self.live())
        rid = uuid.uuid4().hex
        t0 = time.perf_counter()
        try:
            r = await self.http.post(
                replica.url + "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {who.token}", "X-Request-ID": rid},
            )
        except httpx.HTTPError:
            self.report.calls.append(Call(op, rid, "transport", time.perf_counter() - t0))
            return None
        seconds = time.perf_counter() - t0
        if r.status_code >= 500:
            self.report.calls.append(Call(op, rid, f"http:{r.status_code}", seconds))
            return None
        body = r.json()
        if body.get("errors"):
            code = (body["errors"][0].get("extensions") or {}).get("code", "?")
            self.report.calls.append(Call(op, rid, f"error:{code}", seconds))
            return None
        data = body.get("data") or {}
        payload = next(iter(data.values()), None) if data else None
        if isinstance(payload, dict) and payload.get("errors"):
            self.report.calls.append(
                Call(op, rid, f"domain:{payload['errors'][0]['code']}", seconds)
            )
            return None
        self.report.calls.append(Call(op, rid, "ok", seconds))
        return data

    def live(self) -> list[AppProcess]:
        """The replicas a load balancer would send to (a killed one is out until
        it answers /healthz again; requests already in flight still fail)."""
        return [r for r in self.replicas if not r.down] or self.replicas

    async def create(self) -> None:
        b = self.rng.choice(self.borrowers)
        d = await self.gql(
            "createLoan",
            CREATE,
            {"i": {"title": "Chaos", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            b,
        )
        if d:
            loan = d["createLoan"]["loan"]
            self.loans.append(LoanRef(loan["id"], loan["loanId"], b))

    def pick(self) -> LoanRef | None:
        return self.rng.choice(self.loans) if self.loans else None

    async def invite(self) -> None:
        loan = self.pick()
        if loan is None:
            return
        lender = self.rng.choice(self.lenders)
        amount = str(self.rng.choice([100, 200, 300, 400, 600]))
        d = await self.gql(
            "inviteParticipant",
            INVITE,
            {"i": {"loanId": loan.gid, "email": lender.email, "amount": amount}},
            loan.borrower,
        )
        if d:
            loan.invited.append((d["inviteParticipant"]["participant"]["id"], lender))

    async def respond(self, accept: bool) -> None:
        loan = self.pick()
        if loan is None or not loan.invited:
            return
        pid, lender = self.rng.choice(loan.invited)
        if accept:
            await self.gql("acceptInvitation", ACCEPT, {"i": {"participantId": pid}}, lender)
        else:
            await self.gql("declineInvitation", DECLINE, {"i": {"participantId": pid}}, lender)

    async def race_accepts(self) -> None:
        """Two lenders accept on the same loan at once, through different replicas."""
        loan = self.pick()
        if loan is None or len(loan.invited) < 2:
            return
        (p1, l1), (p2, l2) = self.rng.sample(loan.invited, 2)
        await asyncio.gather(
            self.gql(
                "acceptInvitation", ACCEPT, {"i": {"participantId": p1}}, l1, self.replicas[0]
            ),
            self.gql(
                "acceptInvitation", ACCEPT, {"i": {"participantId": p2}}, l2, self.replicas[1]
            ),
        )

    async def remove(self) -> None:
        loan = self.pick()
        if loan is None or not loan.invited:
            return
        pid, _ = self.rng.choice(loan.invited)
        await self.gql(
            "removeParticipant",
            REMOVE,
            {"i": {"participantId": pid, "reason": "chaos"}},
            loan.borrower,
        )

    async def read(self, loan: LoanRef) -> dict[str, Any] | None:
        d = await self.gql("loan", READ, {"id": loan.gid}, loan.borrower)
        return d["loan"] if d else None

    async def update(self, revert: bool = False) -> None:
        loan = self.pick()
        if loan is None:
            return
        state = await self.read(loan)
        if not state:
            return
        v = int(state["version"])
        if revert and v > 1:
            await self.gql(
                "revertLoanTerms",
                REVERT,
                {
                    "i": {
                        "id": loan.gid,
                        "toVersion": 1,
                        "expectedVersion": v,
                        "changeReason": "chaos",
                    }
                },
                loan.borrower,
            )
        else:
            amount = str(self.rng.choice([1000, 1200, 1500, 2000]))
            await self.gql(
                "updateLoanTerms",
                UPDATE,
                {
                    "i": {
                        "id": loan.gid,
                        "expectedVersion": v,
                        "changeReason": "chaos",
                        "amount": amount,
                    }
                },
                loan.borrower,
            )

    async def delete_restore(self) -> None:
        loan = self.pick()
        if loan is None:
            return
        if self.rng.random() < 0.5:
            await self.gql(
                "deleteLoan", DELETE, {"i": {"id": loan.gid, "reason": "chaos"}}, loan.borrower
            )
        else:
            await self.gql("restoreLoan", RESTORE, {"i": {"id": loan.gid}}, loan.borrower)

    async def step(self) -> None:
        ops = [
            (self.create, 3),
            (self.invite, 6),
            (lambda: self.respond(True), 4),
            (lambda: self.respond(False), 1),
            (self.race_accepts, 2),
            (self.remove, 1),
            (self.update, 2),
            (lambda: self.update(revert=True), 1),
            (self.delete_restore, 1),
            (self.read_some, 6),
        ]
        fn = self.rng.choices([f for f, _ in ops], weights=[w for _, w in ops])[0]
        await fn()

    async def read_some(self) -> None:
        loan = self.pick()
        if loan is not None:
            await self.read(loan)
