-- The certificates' SHA-256 fingerprints lose their unique index. No query looks a
-- certificate up by its fingerprint, and two certificates cannot share one without sharing
-- their DER, serial included, which the serial's own unique index already refuses. The index
-- cost every issuance a page written at a random place (a fingerprint is random by nature),
-- a fifth of the pages a group of issuances writes, and ~80 bytes of store per certificate.
-- SQLite cannot drop a column's UNIQUE, so the table is made again under its own name with
-- every row kept, by way of a copy. The store migrates with foreign keys off and checks every
-- reference afterwards; run with them on, the rows that refer to it (revocations, OCSP
-- responses, renewals) wait for their certificate to come back, checked at commit.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE certificates_kept AS SELECT * FROM certificates;
DROP TABLE certificates;

CREATE TABLE certificates (
    request_id    INTEGER PRIMARY KEY REFERENCES requests (id),
    serial        TEXT NOT NULL UNIQUE,   -- lowercase hex, as DER encodes it
    names         TEXT NOT NULL,          -- JSON array of the SAN entries
    not_before    INTEGER NOT NULL,
    not_after     INTEGER NOT NULL,
    key_algorithm TEXT NOT NULL,
    sha256        TEXT NOT NULL,          -- lowercase hex of the DER's SHA-256
    der           BLOB NOT NULL,
    renewed_from  INTEGER REFERENCES certificates (request_id)
) STRICT;

INSERT INTO certificates (request_id, serial, names, not_before, not_after, key_algorithm,
                          sha256, der, renewed_from)
    SELECT request_id, serial, names, not_before, not_after, key_algorithm, sha256, der,
           renewed_from FROM certificates_kept ORDER BY request_id;
DROP TABLE certificates_kept;

CREATE INDEX certificates_not_after ON certificates (not_after);
CREATE INDEX certificates_renewed_from ON certificates (renewed_from);

-- Its own triggers went with it. The tallies' are made after the rows came back, which the
-- tallies already count.
CREATE TRIGGER expiry_tallies_insert AFTER INSERT ON certificates
BEGIN
    INSERT INTO expiry_tallies (day, issued, revoked) VALUES (NEW.not_after / 86400, 1, 0)
        ON CONFLICT (day) DO UPDATE SET issued = issued + 1;
END;

CREATE TRIGGER expiry_tallies_delete AFTER DELETE ON certificates
BEGIN
    UPDATE expiry_tallies SET issued = issued - 1 WHERE day = OLD.not_after / 86400;
END;

CREATE TRIGGER certificates_are_append_only_update BEFORE UPDATE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates rows are not changed or removed: the issuance log is append-only'); END;

CREATE TRIGGER certificates_are_append_only_delete BEFORE DELETE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates rows are not changed or removed: the issuance log is append-only'); END;
