""" "Did you mean" for the names newcomers guess: graphql-core suggests names
that are spelled alike; these are the ones that are not (`contributionAmount`
where the input says `amount`, `id` where it says `participantId`)."""

from __future__ import annotations

import re

from graphql import GraphQLError

# (type, the guess) -> the name to use
HINTS: dict[tuple[str, str], str] = {
    ("InviteParticipantInput", "contributionAmount"): "amount",
    ("InviteParticipantInput", "lenderEmail"): "email",
    ("InviteParticipantInput", "participantEmail"): "email",
    ("RespondToInvitationInput", "id"): "participantId",
    ("RemoveParticipantInput", "id"): "participantId",
    ("Participant", "email"): "lenderEmail",
    ("Participant", "contribution"): "amount",
    ("Loan", "fundedAmount"): "totalFunded",
    ("Loan", "funded"): "totalFunded",
    ("Loan", "participantsCount"): "participantCount",
}

_PATTERNS = [
    re.compile(r"^Cannot query field '(?P<name>\w+)' on type '(?P<type>\w+)'\."),
    re.compile(
        r"^Expected value of type '(?P<type>\w+)' not to include unknown field '(?P<name>\w+)'"
    ),
    re.compile(r"Field '(?P<name>\w+)' is not defined by type '(?P<type>\w+)'\."),
]


def with_hints(errors: list[GraphQLError]) -> list[GraphQLError]:
    """The same errors, with "Did you mean 'x'?" added where HINTS knows better."""
    for error in errors:
        if "Did you mean" in error.message:
            continue
        for pattern in _PATTERNS:
            m = pattern.search(error.message)
            use = m and HINTS.get((m["type"], m["name"]))
            if use:
                error.message = f"{error.message} Did you mean '{use}'?"
                break
    return errors
