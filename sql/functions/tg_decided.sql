-- tg_decided(...) - a decision made in Telegram, in one round trip: the
-- person's vote (lg_vote) and what it derives under the request's quorum:
-- the request leaves 'pending', the audit row, the final-state work
-- (request_finished) and the answer to the button press (p_answer, when
-- there is one) are written together; a vote that does not decide is
-- recorded, the message edited to show the progress, and the press
-- answered (or, for a typed answer, `p_reply` queued) with it.
--
-- The transaction commits synchronously: the workers connect with
-- synchronous_commit on and the store sets it again for the decision's own
-- transaction, because an asynchronous commit is visible at once to every
-- reader (a poll, an MCP call, a webhook claim) before its WAL reaches the
-- disk. A decision is on disk before anyone hears of it.
--
-- Returns lg_vote's outcome: 'approved', 'denied', 'voted', 'already', or
-- 'gone' when the request was no longer pending. `p_reply`: sendMessage
-- parameters without the text (chat_id, reply_parameters) for a typed
-- answer, or NULL. `p_reason`: the person's reason (a deny with a reason,
-- typed as the answer to the "Why deny?" prompt, or an approval's comment),
-- or NULL. `p_params`: the params of an approval with edits (/edit), or
-- NULL.
CREATE OR REPLACE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                                      p_name text, p_actor text, p_detail jsonb, p_answer jsonb,
                                      p_reply jsonb, p_reason text, p_params jsonb)
RETURNS text LANGUAGE sql AS $$
    SELECT lg_vote(p_id, 'telegram', 'telegram:' || p_user, p_user, p_name, p_approved,
                   p_response, p_actor, p_detail, p_answer, p_reply, p_reason, p_params)
$$;

-- The signature of the release of deny with a reason, without edits.
CREATE OR REPLACE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                                      p_name text, p_actor text, p_detail jsonb, p_answer jsonb,
                                      p_reply jsonb, p_reason text)
RETURNS text LANGUAGE sql AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      p_reply, p_reason, NULL)
$$;

-- The signature of the release of votes (018), without a reason.
CREATE OR REPLACE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                                      p_name text, p_actor text, p_detail jsonb, p_answer jsonb,
                                      p_reply jsonb)
RETURNS text LANGUAGE sql AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      p_reply, NULL::text, NULL::jsonb)
$$;

-- The signature of releases before votes (018): true when the vote decided.
-- A single-approval request (every request such a release submits) is
-- decided by its first vote, as before.
CREATE OR REPLACE FUNCTION tg_decided(p_id uuid, p_response text, p_approved boolean, p_user bigint,
                                      p_name text, p_actor text, p_detail jsonb, p_answer jsonb)
RETURNS boolean LANGUAGE sql AS $$
    SELECT tg_decided(p_id, p_response, p_approved, p_user, p_name, p_actor, p_detail, p_answer,
                      NULL, NULL::text, NULL::jsonb) IN ('approved', 'denied')
$$;
