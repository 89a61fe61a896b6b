"""The PostgreSQL ledger backend (psycopg 3): :class:`runner.ledger.pg.backend.PostgresLedger`."""
