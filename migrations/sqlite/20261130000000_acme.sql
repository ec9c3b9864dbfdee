-- ACME (RFC 8555): accounts, their external account binding keys, orders, authorizations,
-- challenges and nonces live in the log, so a restart loses nothing and several servers can
-- answer one directory. Certificates issued through ACME are requests of source 'acme'.

-- The requests table takes the new source: SQLite cannot change a CHECK, so it is rebuilt,
-- with every row and id kept (foreign keys are checked at commit).
PRAGMA defer_foreign_keys = ON;

CREATE TABLE requests_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    requester   TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('cli', 'csr', 'web', 'renewal', 'acme')),
    names       TEXT NOT NULL,
    csr         BLOB,
    attributes  TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'issued', 'denied')),
    disposition TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER,
    decided_by  TEXT,
    status_code INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO requests_new (id, created_at, requester, source, names, csr, attributes, status,
                          disposition, decided_at, decided_by, status_code)
    SELECT id, created_at, requester, source, names, csr, attributes, status, disposition,
           decided_at, decided_by, status_code FROM requests;
DROP TABLE requests;
ALTER TABLE requests_new RENAME TO requests;
CREATE INDEX requests_status ON requests (status);
CREATE INDEX requests_requester ON requests (requester);

CREATE TABLE acme_eab_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    user_name  TEXT NOT NULL,
    hmac_key   BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    account_id TEXT                      -- the account it bound, once used
) STRICT;

CREATE TABLE acme_accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    thumbprint  TEXT NOT NULL UNIQUE,    -- RFC 7638 SHA-256 of the account key
    jwk         TEXT NOT NULL,           -- the account key, as a JWK
    contact     TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
    owner       TEXT,                    -- the user bound by external account binding
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE acme_orders (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES acme_accounts (id),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    identifiers TEXT NOT NULL,           -- JSON array of {type, value}
    expires_at  INTEGER NOT NULL,
    error       TEXT,                    -- a problem document, when invalid
    request_id  INTEGER REFERENCES requests (id),
    replaces    INTEGER REFERENCES requests (id),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX acme_orders_account ON acme_orders (account_id);

CREATE TABLE acme_authzs (
    id          TEXT PRIMARY KEY NOT NULL,
    order_id    TEXT NOT NULL REFERENCES acme_orders (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('dns', 'ip')),
    value       TEXT NOT NULL,
    wildcard    INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
    status      TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'revoked')),
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX acme_authzs_order ON acme_authzs (order_id);

CREATE TABLE acme_challenges (
    id           TEXT PRIMARY KEY NOT NULL,
    authz_id     TEXT NOT NULL REFERENCES acme_authzs (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('http-01', 'dns-01', 'tls-alpn-01')),
    token        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
    validated_at INTEGER,
    error        TEXT
) STRICT;

CREATE INDEX acme_challenges_authz ON acme_challenges (authz_id);

-- Nonces are MACs under a key every server on the log shares, so handing one out writes
-- nothing; a nonce is recorded when a signed request uses it, until it would have expired.
CREATE TABLE acme_nonce_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
) STRICT;

CREATE TABLE acme_used_nonces (
    nonce      TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
