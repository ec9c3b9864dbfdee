-- The current CRL, kept in the log so that the command line and every server hand out the same
-- one, and a new one is signed only when revocations changed or nextUpdate draws near. Its
-- number only grows (RFC 5280 §5.2.3); numbers drawn before this table existed are in the
-- settings row 'crl_number', and the next CRL continues after them.
CREATE TABLE crl (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    number      INTEGER NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    revocations INTEGER NOT NULL,   -- how many revocations the log held when it was signed
    der         BLOB NOT NULL
) STRICT;
