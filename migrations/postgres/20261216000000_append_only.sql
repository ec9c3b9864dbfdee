-- What the log has recorded stays recorded, whoever holds a connection: a certificate and a
-- revocation are never changed or removed, a request is never removed and changes only while
-- it is pending (to issued or denied), and the CRL's number only grows (RFC 5280 §5.2.3).
-- Only the tables' owner can switch these triggers off; the runtime role cannot.
CREATE FUNCTION log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are not changed or removed: the issuance log is append-only', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER certificates_are_append_only BEFORE UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER certificates_are_append_only_truncate BEFORE TRUNCATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER revocations_are_append_only BEFORE UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER revocations_are_append_only_truncate BEFORE TRUNCATE ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER requests_are_kept BEFORE DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER requests_are_kept_truncate BEFORE TRUNCATE ON requests
    FOR EACH STATEMENT EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER requests_are_decided_once BEFORE UPDATE ON requests
    FOR EACH ROW WHEN (OLD.status <> 'pending') EXECUTE FUNCTION log_is_append_only();

CREATE FUNCTION crl_number_only_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the CRL number only grows';
END;
$$;

CREATE TRIGGER crl_number_only_grows BEFORE UPDATE ON crl
    FOR EACH ROW WHEN (NEW.number <= OLD.number) EXECUTE FUNCTION crl_number_only_grows();
CREATE TRIGGER crl_is_kept BEFORE DELETE ON crl
    FOR EACH ROW EXECUTE FUNCTION crl_number_only_grows();
CREATE TRIGGER crl_is_kept_truncate BEFORE TRUNCATE ON crl
    FOR EACH STATEMENT EXECUTE FUNCTION crl_number_only_grows();
