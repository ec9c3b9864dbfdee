-- What the log has recorded stays recorded: a certificate and a revocation are never changed
-- or removed, a request is never removed and changes only while it is pending (to issued or
-- denied), and the CRL's number only grows (RFC 5280 §5.2.3).
CREATE TRIGGER certificates_are_append_only_update BEFORE UPDATE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER certificates_are_append_only_delete BEFORE DELETE ON certificates
BEGIN SELECT RAISE(ABORT, 'certificates rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER revocations_are_append_only_update BEFORE UPDATE ON revocations
BEGIN SELECT RAISE(ABORT, 'revocations rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER revocations_are_append_only_delete BEFORE DELETE ON revocations
BEGIN SELECT RAISE(ABORT, 'revocations rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER requests_are_kept BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER requests_are_decided_once BEFORE UPDATE ON requests WHEN OLD.status <> 'pending'
BEGIN SELECT RAISE(ABORT, 'requests rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER crl_number_only_grows BEFORE UPDATE ON crl WHEN NEW.number <= OLD.number
BEGIN SELECT RAISE(ABORT, 'the CRL number only grows'); END;
CREATE TRIGGER crl_is_kept BEFORE DELETE ON crl
BEGIN SELECT RAISE(ABORT, 'the CRL number only grows'); END;
