-- The reason a kept OCSP response states, beside the time (NULL for good, and for responses
-- kept before this change, which are signed again when next asked). A response is handed out
-- only while both are what the log holds: a reason raised to keyCompromise keeps its date, so
-- a response a slower writer stored after the raise, stating the old reason, was current by
-- its date alone.
ALTER TABLE ocsp_responses ADD COLUMN reason TEXT;
