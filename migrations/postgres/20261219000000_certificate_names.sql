-- Each name each certificate holds, one row per name: the valid certificates that already
-- hold a name (what issuing points to before making another certificate for it) are found
-- through this table's key instead of by reading every certificate's row, which grew with the
-- log. A trigger keeps it in the transaction that adds the certificate, whoever writes; a copy
-- of the log (migration, backup, restore) rebuilds it the same way, so copies skip this table.
CREATE TABLE certificate_names (
    name       TEXT NOT NULL,
    request_id BIGINT NOT NULL REFERENCES certificates (request_id),
    PRIMARY KEY (name, request_id)
);

INSERT INTO certificate_names (name, request_id)
    SELECT DISTINCT n.name, c.request_id
    FROM certificates c, jsonb_array_elements_text(c.names::jsonb) AS n(name);

CREATE FUNCTION certificate_names_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO certificate_names (name, request_id)
        SELECT DISTINCT n.name, NEW.request_id
        FROM jsonb_array_elements_text(NEW.names::jsonb) AS n(name)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER certificate_names_insert AFTER INSERT ON certificates
    FOR EACH ROW EXECUTE FUNCTION certificate_names_insert();
