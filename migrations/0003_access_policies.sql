-- HopGate control-plane schema, version 3: per-domain access policies. Portable SQL
-- (Postgres and SQLite through sqlx Any), like 0001.

-- A domain's access policy as JSON (NULL: no restriction):
-- {"basic_auth": [{"user", "salt", "hash"}], "allow_cidrs": [...], "deny_cidrs": [...]}.
-- Passwords are not stored: only a random salt per credential and hex of
-- SHA-256(salt || password) (docs/security/access-control.md says why that hash). Kept on
-- the domain's row, so unregistering a domain drops its policy with it.
ALTER TABLE domains ADD COLUMN access_policy TEXT;
