-- The issuance log: every request, every certificate, every revocation, the users, the CA's
-- settings and an append-only audit trail. Times are Unix seconds (UTC).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'requester')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- One row per request, whatever became of it. Its id is the "request id" (AD CS ReqID) that
-- every command and page uses for the request and the certificate issued for it.
CREATE TABLE requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    requester   TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('cli', 'csr', 'web', 'renewal')),
    names       TEXT NOT NULL,            -- JSON array of the names asked for, normalised
    csr         BLOB,                     -- DER PKCS#10, when the request came as one
    attributes  TEXT,                     -- CertAttrib lines, as submitted
    status      TEXT NOT NULL CHECK (status IN ('pending', 'issued', 'denied')),
    disposition TEXT NOT NULL DEFAULT '',
    decided_at  INTEGER,
    decided_by  TEXT
) STRICT;

CREATE INDEX requests_status ON requests (status);

CREATE TABLE certificates (
    request_id    INTEGER PRIMARY KEY REFERENCES requests (id),
    serial        TEXT NOT NULL UNIQUE,   -- lowercase hex, as DER encodes it
    names         TEXT NOT NULL,          -- JSON array of the SAN entries
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    key_algorithm TEXT NOT NULL,
    sha256        TEXT NOT NULL UNIQUE,   -- lowercase hex of the DER's SHA-256
    der           BLOB NOT NULL,
    renewed_from  INTEGER REFERENCES certificates (request_id)
) STRICT;

CREATE INDEX certificates_not_after ON certificates (not_after);

CREATE TABLE revocations (
    request_id INTEGER PRIMARY KEY REFERENCES certificates (request_id),
    revoked_at INTEGER NOT NULL,
    reason     TEXT NOT NULL
) STRICT;

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
