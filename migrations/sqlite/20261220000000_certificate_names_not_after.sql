-- The end of each certificate's validity kept beside each of its names: the valid holders of
-- a name (what `issue` points to before making another certificate for it) are then found in
-- this table's key alone, without reading the row of every certificate that ever held the
-- name (a page of the log for every few of them: the note's cost grew with each certificate
-- issued for the name and never revoked). The trigger fills it from now on.
ALTER TABLE certificate_names ADD COLUMN not_after INTEGER NOT NULL DEFAULT 0;

UPDATE certificate_names SET not_after =
    (SELECT c.not_after FROM certificates c WHERE c.request_id = certificate_names.request_id);

DROP TRIGGER certificate_names_insert;

CREATE TRIGGER certificate_names_insert AFTER INSERT ON certificates
BEGIN
    INSERT OR IGNORE INTO certificate_names (name, request_id, not_after)
        SELECT value, NEW.request_id, NEW.not_after FROM json_each(NEW.names);
END;
