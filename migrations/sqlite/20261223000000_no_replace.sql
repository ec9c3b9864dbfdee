-- SQLite's REPLACE (INSERT OR REPLACE, UPDATE OR REPLACE) removes the rows a new one conflicts
-- with without firing their delete triggers: `REPLACE INTO revocations` turned a
-- keyCompromise back into another reason, dated anywhen, past the triggers that keep the log.
-- A revocation that would take another's place is skipped (as the program's own `ON CONFLICT
-- DO NOTHING` skips a second revocation), a CRL whose number is not higher is refused, and a
-- request keeps its id. (A certificate's row is checked against its signed DER by `ca check`;
-- triggers on the rows every issuance writes cost the web's issuance rate ~5%.) PostgreSQL
-- has no REPLACE: its upsert fires the update triggers.
CREATE TRIGGER revocations_are_not_replaced BEFORE INSERT ON revocations
WHEN EXISTS (SELECT 1 FROM revocations WHERE request_id = NEW.request_id)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER requests_keep_their_id BEFORE UPDATE ON requests WHEN NEW.id IS NOT OLD.id
BEGIN SELECT RAISE(ABORT, 'requests rows are not changed or removed: the issuance log is append-only'); END;
CREATE TRIGGER crl_is_not_replaced BEFORE INSERT ON crl
WHEN NEW.number <= (SELECT number FROM crl WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'the CRL number only grows'); END;
