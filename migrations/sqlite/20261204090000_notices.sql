-- Notices that reach a person: expiry warnings and the findings of watched servers, one row
-- per notice and channel. A row is the claim: `about` names what the notice is about once
-- ('expiry 12 7': request 12 entering its 7-day window), so a restart, or a second server on
-- the same log, inserts nothing new for it. A row is sent, then kept with sent_at; one that
-- could not be sent waits for next_attempt (a server about to send sets it ahead first, so no
-- other takes the row meanwhile); a row that will never be sent (its channel was removed) has
-- neither.
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    about        TEXT NOT NULL,
    channel      TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    created_at   INTEGER NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    payload      TEXT NOT NULL,          -- JSON, for the webhook
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    sent_at      INTEGER,
    last_error   TEXT,
    UNIQUE (about, channel)
) STRICT;

CREATE INDEX notices_due ON notices (next_attempt);

-- The last check of each watched server: its verdict and the codes of its findings that are
-- not 'ok', so that a notice goes out when they change, and only then.
CREATE TABLE watched_servers (
    url        TEXT PRIMARY KEY NOT NULL,
    verdict    TEXT NOT NULL,
    codes      TEXT NOT NULL,             -- space-separated, sorted
    checked_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    changes    INTEGER NOT NULL DEFAULT 0
) STRICT;
