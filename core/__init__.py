"""Cross-cutting pieces: settings, auth, DynamoDB access, ids, cursors, errors."""
