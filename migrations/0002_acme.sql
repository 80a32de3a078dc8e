-- HopGate control-plane schema, version 2: ACME (issue 5). Portable SQL (Postgres and
-- SQLite through sqlx Any), like 0001.

-- The ACME account per directory URL: instant-acme's credentials as JSON (account URL and
-- its PKCS#8 private key). Created once, reused across restarts; another directory (say,
-- from staging to production) gets its own account.
CREATE TABLE IF NOT EXISTS acme_accounts (
    directory   TEXT PRIMARY KEY,
    credentials TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The main domain's (HOP_SERVER_DOMAIN) certificate: the same columns as a registered
-- domain's in `domains`. Keyed by name, so changing HOP_SERVER_DOMAIN orders a new one.
CREATE TABLE IF NOT EXISTS gateway_certificates (
    domain         TEXT PRIMARY KEY,
    cert_chain_pem TEXT,
    cert_key_pem   TEXT,
    cert_not_after BIGINT,
    cert_status    TEXT,
    updated_at     BIGINT NOT NULL
);
