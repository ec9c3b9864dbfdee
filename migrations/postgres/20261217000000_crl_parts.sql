-- A long CRL is kept in parts of at most 64 KiB: the first stays in crl.der, beside the
-- CRL's number and dates, and the others follow here in order. Signing, storing and handing
-- out a CRL of a million entries (~50 MB) then never needs it whole in memory. Every new CRL
-- replaces all the parts of the one before, in the same transaction as its row.
CREATE TABLE crl_parts (
    part  BIGINT PRIMARY KEY CHECK (part >= 1),
    bytes BYTEA NOT NULL
);

-- The CRL lists revocations oldest first; read in this index's order, none are sorted.
CREATE INDEX revocations_in_order ON revocations (revoked_at, request_id);
