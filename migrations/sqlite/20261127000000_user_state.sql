-- Users can be disabled, and every change of a user's password, role or state bumps its
-- generation, so that a running server drops credentials it verified before the change.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
