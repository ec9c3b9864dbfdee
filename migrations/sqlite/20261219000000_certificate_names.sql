-- Each name each certificate holds, one row per name: the valid certificates that already
-- hold a name (what issuing points to before making another certificate for it) are found
-- through this table's key instead of by reading every certificate's row, which grew with the
-- log (34 ms at 100,000 certificates). A trigger keeps it in the transaction that adds the
-- certificate, whoever writes; a copy of the log (migration, backup, restore) rebuilds it the
-- same way, so copies skip this table.
CREATE TABLE certificate_names (
    name       TEXT NOT NULL,
    request_id INTEGER NOT NULL REFERENCES certificates (request_id),
    PRIMARY KEY (name, request_id)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO certificate_names (name, request_id)
    SELECT n.value, c.request_id FROM certificates c, json_each(c.names) n;

CREATE TRIGGER certificate_names_insert AFTER INSERT ON certificates
BEGIN
    INSERT OR IGNORE INTO certificate_names (name, request_id)
        SELECT value, NEW.request_id FROM json_each(NEW.names);
END;
