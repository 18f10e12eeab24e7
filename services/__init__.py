"""The domain/write layer: the only code that writes to DynamoDB.

Every change is one TransactWriteItems holding the changed records under
their conditions, the audit entry, and where relevant the loan version
snapshot, the funding metric point, the uniqueness guard and the loan's
recomputed funding fields. See docs/write-path.md."""
