-- The inventory's filters and the audit trail's, read by their keys: every filtered page is a
-- range of an index in the list's order (request id, or notAfter then request id), never a
-- scan of the log. PostgreSQL's indexes do not end with the row's id as SQLite's do, so it is
-- named in each.
CREATE INDEX requests_status_id ON requests (status, id);
DROP INDEX requests_status;
CREATE INDEX requests_requester_id ON requests (requester, id);
DROP INDEX requests_requester;
CREATE INDEX requests_source_id ON requests (source, id);
CREATE INDEX certificates_not_after_id ON certificates (not_after, request_id);
DROP INDEX certificates_not_after;
CREATE INDEX audit_actor_id ON audit (actor, id);
CREATE INDEX audit_action_id ON audit (action, id);
CREATE INDEX audit_at ON audit (at);
-- Requests without a certificate (pending or denied), read in order after the certificates in
-- a list by expiry.
CREATE INDEX requests_without_certificate ON requests (id) WHERE status <> 'issued';
