-- The inventory's filters and the audit trail's, read by their keys: every filtered page is a
-- range of an index in the list's order (request id, or notAfter then request id), never a
-- scan of the log. SQLite's indexes end with the rowid, which for requests is the request id
-- and for certificates the request id too, so (source) is (source, id).
CREATE INDEX requests_source ON requests (source);
CREATE INDEX audit_actor ON audit (actor);
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_at ON audit (at);
-- Requests without a certificate (pending or denied), read in order after the certificates in
-- a list by expiry.
CREATE INDEX requests_without_certificate ON requests (id) WHERE status <> 'issued';
