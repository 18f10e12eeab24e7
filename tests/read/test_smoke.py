from tests.conftest import new_user
from tests.factories import make_loan, make_participant, guard_for, make_user, version_of, write_all
from tests.graphql_client import gql
from core.ids import to_global_id

Q = """
query($id: ID!) { loan(id: $id) { id loanId title amount interestRate status version totalFunded
  createdAt borrower { userId email }
  participants(first: 5) { totalCount edges { cursor node { lenderEmail contributionAmount lender { userId } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
  versions { edges { node { version terms { amount } snapshot } } }
} viewer { userId email } }
"""


async def test_smoke(client, token, settings):
    b = new_user("b")
    loan = make_loan(b)
    ps = [make_participant(loan, f"l{i}@example.com") for i in range(7)]
    write_all([loan, *ps, *[guard_for(p) for p in ps], make_user(b), version_of(loan)])
    r = await gql(client, Q, {"id": to_global_id("Loan", loan.loan_id)}, token=token(b.user_id, b.email))
    print(r)
    assert r["data"]["loan"]["title"] == "Loan"
    r = await gql(client, Q, {"id": to_global_id("Loan", loan.loan_id)})
    print(r)
