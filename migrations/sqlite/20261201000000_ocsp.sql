-- OCSP responses signed ahead by the delegated responder, one per certificate, so that an
-- answer costs a lookup. A response is kept while it is current: less than half its lifetime
-- old, and stating the revocation the log holds now (revoked_at is the time it states, NULL
-- for good). A revocation deletes the certificate's response in its own transaction.
CREATE TABLE ocsp_responses (
    request_id  INTEGER PRIMARY KEY REFERENCES certificates (request_id),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    revoked_at  INTEGER,
    der         BLOB NOT NULL
) STRICT;
