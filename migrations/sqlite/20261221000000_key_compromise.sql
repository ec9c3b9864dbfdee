-- The certificates revoked for keyCompromise, found without reading every revocation: a
-- request whose key is one of theirs is refused (a key known to be exposed is never
-- certified again, Baseline Requirements §6.1.1.3), and that check runs at every signing.
CREATE INDEX revocations_key_compromise ON revocations (request_id) WHERE reason = 'keyCompromise';
