-- 005_pacing.sql - a chat's backlog no longer holds up other chats.
--
-- When a claim finds a chat that is not due yet, it moves queued rows of
-- that chat to the chat's next slot in one statement; this index makes that
-- cheap (the claim: sql/functions/outbox_claim_tg.sql).

CREATE INDEX outbox_queued_chat ON outbox (chat_id) WHERE state = 'queued';
