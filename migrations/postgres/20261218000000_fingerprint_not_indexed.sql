-- The certificates' SHA-256 fingerprints lose their unique index. No query looks a
-- certificate up by its fingerprint, and two certificates cannot share one without sharing
-- their DER, serial included, which the serial's own unique index already refuses. The index
-- cost every issuance an index page changed at a random place (a fingerprint is random by
-- nature) and ~80 bytes of store per certificate.
ALTER TABLE certificates DROP CONSTRAINT certificates_sha256_key;
