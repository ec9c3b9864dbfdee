-- The status code a request's outcome is recorded with (an HRESULT as AD CS reports it: 0 for
-- issued or pending, CERTSRV_E_* and friends for refusals and denials).
ALTER TABLE requests ADD COLUMN status_code INTEGER NOT NULL DEFAULT 0;
