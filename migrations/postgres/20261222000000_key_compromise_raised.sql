-- A revocation's reason may be raised to keyCompromise, once, when its key is found exposed
-- after a revocation for another reason (Baseline Requirements §7.2.2: the CA updates the
-- CRL entry to keyCompromise): the key is then refused as those of the certificates revoked
-- for it are, and the next CRL and OCSP answers say so. Nothing else of a revocation
-- changes, and none is removed. (The runtime role may update the reason column alone.)
DROP TRIGGER revocations_are_append_only ON revocations;
CREATE TRIGGER revocations_are_append_only BEFORE UPDATE ON revocations
    FOR EACH ROW
    WHEN (NOT (OLD.reason <> 'keyCompromise' AND NEW.reason = 'keyCompromise'
               AND NEW.request_id = OLD.request_id AND NEW.revoked_at = OLD.revoked_at))
    EXECUTE FUNCTION log_is_append_only();
CREATE TRIGGER revocations_are_kept BEFORE DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION log_is_append_only();
