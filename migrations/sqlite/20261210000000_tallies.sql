-- Tallies that the metrics read instead of counting rows, so that a scrape costs the same on a
-- log of a million requests as on a new one: requests by source and status, and certificates
-- by the UTC day of their notAfter (Unix seconds / 86400) with how many of those are revoked.
-- Triggers keep them in the transaction that changes the rows, whoever writes; a copy of the
-- log (migration, backup, restore) rebuilds them the same way, so copies skip these tables.
CREATE TABLE request_tallies (
    source   TEXT NOT NULL,
    status   TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (source, status)
) STRICT;

CREATE TABLE expiry_tallies (
    day     INTEGER PRIMARY KEY,
    issued  INTEGER NOT NULL,
    revoked INTEGER NOT NULL
) STRICT;

-- Changes not yet added to the tallies. On PostgreSQL, where several nodes write at once,
-- triggers append here rather than update a tally row every writer would queue on; readers
-- add these rows to the tallies and fold them in. SQLite has one writer at a time: its
-- triggers update the tallies at once, and this table stays empty.
CREATE TABLE tally_changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    source   TEXT,
    status   TEXT,
    requests INTEGER NOT NULL DEFAULT 0,
    day      INTEGER,
    issued   INTEGER NOT NULL DEFAULT 0,
    revoked  INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO request_tallies (source, status, requests)
    SELECT source, status, COUNT(*) FROM requests GROUP BY source, status;
INSERT INTO expiry_tallies (day, issued, revoked)
    SELECT c.not_after / 86400, COUNT(*), COUNT(v.request_id)
    FROM certificates c LEFT JOIN revocations v ON v.request_id = c.request_id
    GROUP BY c.not_after / 86400;

CREATE TRIGGER request_tallies_insert AFTER INSERT ON requests
BEGIN
    INSERT INTO request_tallies (source, status, requests) VALUES (NEW.source, NEW.status, 1)
        ON CONFLICT (source, status) DO UPDATE SET requests = requests + 1;
END;

CREATE TRIGGER request_tallies_update AFTER UPDATE OF source, status ON requests
    WHEN OLD.source <> NEW.source OR OLD.status <> NEW.status
BEGIN
    UPDATE request_tallies SET requests = requests - 1
        WHERE source = OLD.source AND status = OLD.status;
    INSERT INTO request_tallies (source, status, requests) VALUES (NEW.source, NEW.status, 1)
        ON CONFLICT (source, status) DO UPDATE SET requests = requests + 1;
END;

CREATE TRIGGER request_tallies_delete AFTER DELETE ON requests
BEGIN
    UPDATE request_tallies SET requests = requests - 1
        WHERE source = OLD.source AND status = OLD.status;
END;

CREATE TRIGGER expiry_tallies_insert AFTER INSERT ON certificates
BEGIN
    INSERT INTO expiry_tallies (day, issued, revoked) VALUES (NEW.not_after / 86400, 1, 0)
        ON CONFLICT (day) DO UPDATE SET issued = issued + 1;
END;

CREATE TRIGGER expiry_tallies_delete AFTER DELETE ON certificates
BEGIN
    UPDATE expiry_tallies SET issued = issued - 1 WHERE day = OLD.not_after / 86400;
END;

CREATE TRIGGER expiry_tallies_revoke AFTER INSERT ON revocations
BEGIN
    UPDATE expiry_tallies SET revoked = revoked + 1
        WHERE day = (SELECT not_after / 86400 FROM certificates WHERE request_id = NEW.request_id);
END;

CREATE TRIGGER expiry_tallies_unrevoke AFTER DELETE ON revocations
BEGIN
    UPDATE expiry_tallies SET revoked = revoked - 1
        WHERE day = (SELECT not_after / 86400 FROM certificates WHERE request_id = OLD.request_id);
END;

-- The soonest expiry leaves out certificates renewed since: a renewal names its predecessor.
CREATE INDEX certificates_renewed_from ON certificates (renewed_from);
