-- HopGate control-plane schema, version 1. Portable SQL: the same file runs on Postgres
-- and SQLite (sqlx Any driver). Ids are UUID text, times are BIGINT unix milliseconds,
-- key hashes are lowercase hex of SHA-256.

-- Registered domains. The client API key is stored only as its hash.
CREATE TABLE IF NOT EXISTS domains (
    id             TEXT PRIMARY KEY,
    domain         TEXT NOT NULL UNIQUE,
    memo           TEXT NOT NULL DEFAULT '',
    key_hash       TEXT NOT NULL,
    key_rotated_at BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    -- ACME state (issue 5): filled in when a certificate is issued.
    cert_chain_pem TEXT,
    cert_key_pem   TEXT,
    cert_not_after BIGINT,
    cert_status    TEXT
);

-- One row: the table's epoch (a random id per database) and its current version.
-- Every change bumps `version` inside the transaction that makes it, so versions are
-- gap-free, commit in order, and survive restarts.
CREATE TABLE IF NOT EXISTS table_meta (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    epoch   TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- What each version changed (recent versions only), so a pod that reconnects gets just the
-- deltas it missed, also across control-plane restarts. `op` is register, unregister or
-- rotate (an audit trail); the delta sent is the domain's state at load time.
CREATE TABLE IF NOT EXISTS table_changes (
    version    BIGINT PRIMARY KEY,
    domain     TEXT NOT NULL,
    op         TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
