"""The SQLite ledger (the embedded default): backend, schema and checks."""
