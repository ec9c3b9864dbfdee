-- SQLite's REPLACE (INSERT OR REPLACE, UPDATE OR REPLACE) removes the rows a new one conflicts
-- with without firing their delete triggers: `REPLACE INTO revocations` turned a
-- keyCompromise back into another reason, dated anywhen, past the triggers that keep the log.
-- A row that would take the place of one the log keeps is refused before it is written; a
-- revocation or a certificate is skipped instead (the program's own `ON CONFLICT DO NOTHING`
-- skips a second revocation, and takes a certificate not written for a serial already
-- drawn, to draw another). (PostgreSQL has no REPLACE: its upsert fires the update triggers.)
CREATE TRIGGER revocations_are_not_replaced BEFORE INSERT ON revocations
WHEN EXISTS (SELECT 1 FROM revocations WHERE request_id = NEW.request_id)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER certificates_are_not_replaced BEFORE INSERT ON certificates
WHEN EXISTS (SELECT 1 FROM certificates WHERE request_id = NEW.request_id OR serial = NEW.serial)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER requests_are_not_replaced BEFORE INSERT ON requests
WHEN EXISTS (SELECT 1 FROM requests WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'requests rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER requests_keep_their_id BEFORE UPDATE ON requests WHEN NEW.id IS NOT OLD.id
BEGIN SELECT RAISE(ABORT, 'requests rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER audit_is_not_replaced BEFORE INSERT ON audit
WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER crl_is_not_replaced BEFORE INSERT ON crl
WHEN NEW.number <= (SELECT number FROM crl WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the CRL number only grows'); END;
