-- 016_timeout_seen.sql - a timeout approves only what a person could read.
--
-- on_timeout 'approve' applies only when all of these hold; otherwise the
-- timeout denies, and its response (and the audit row's "reason") says why:
--   - the request's Telegram message was delivered (011);
--   - it was not shortened to fit Telegram: requests.tg_cut, recorded with
--     the message id when the message is sent (a message sent by a binary
--     that does not record it has tg_cut NULL, and its timeout denies too);
--   - it was in front of a person for at least half the request's timeout,
--     at most 60 s: tg_sent_at <= expires_at - least(timeout / 2, 60 s).
-- on_timeout 'deny' is unchanged (response stays empty). The rule is in
-- sql/functions/requests_expire.sql.
--
-- Expand only: the previous binary keeps working on this schema.

-- Whether the request's Telegram message had to be shortened (NULL: not recorded).
ALTER TABLE requests ADD COLUMN tg_cut boolean;
