-- The end of each certificate's validity kept beside each of its names: the valid holders of
-- a name (what `issue` points to before making another certificate for it) are then found in
-- this table's key alone, without reading the row of every certificate that ever held the
-- name. The trigger's function fills it from now on (the table keeps its grants: altered,
-- not made again).
ALTER TABLE certificate_names ADD COLUMN not_after BIGINT;

UPDATE certificate_names n SET not_after = c.not_after
    FROM certificates c WHERE c.request_id = n.request_id;

ALTER TABLE certificate_names ALTER COLUMN not_after SET NOT NULL;

CREATE OR REPLACE FUNCTION certificate_names_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_names (name, request_id, not_after)
        SELECT DISTINCT n.name, NEW.request_id, NEW.not_after
        FROM jsonb_array_elements_text(NEW.names::jsonb) AS n(name)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
