-- A revocation's reason may be raised to keyCompromise, once, when its key is found exposed
-- after a revocation for another reason (Baseline Requirements §7.2.2: the CA updates the
-- CRL entry to keyCompromise): the key is then refused as those of the certificates revoked
-- for it are, and the next CRL and OCSP answers say so. Nothing else of a revocation
-- changes, and none is removed.
DROP TRIGGER revocations_are_append_only_update;
CREATE TRIGGER revocations_are_append_only_update BEFORE UPDATE ON revocations
WHEN NOT (OLD.reason <> 'keyCompromise' AND NEW.reason = 'keyCompromise'
          AND NEW.request_id = OLD.request_id AND NEW.revoked_at = OLD.revoked_at)
BEGIN SELECT RAISE(ABORT, 'revocations rows are not changed or removed: the issuance log is append-only'); END;
