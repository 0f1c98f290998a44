-- lg_vote(...) - a person's vote on a request and the outcome it derives,
-- in one statement.
--
-- The request is locked first, so two votes on one request are counted one
-- after the other and exactly one of them can decide. A vote on a request
-- that is no longer pending, or is past expires_at, changes nothing ('gone'); a second vote by the
-- same person (`p_person`, 'telegram:<id>') changes nothing either
-- ('already', audited as already_voted). Otherwise the vote is a row of
-- `votes`, and the request's policy (018) derives the outcome: an approval
-- decides when `approvals_required` distinct people approved; a denial
-- decides at once when `deny_vetoes`, else when as many people denied. A
-- vote that decides makes the decision as ever (UPDATE ... WHERE status =
-- 'pending', the 'decided' audit row, request_finished) and returns
-- 'approved' or 'denied'; one that does not is audited as 'voted', queues
-- an edit of the request's Telegram message (the progress, for everyone in
-- the chat; and of its escalation message, 021) and returns 'voted'.
--
-- `p_answer` (answerCallbackQuery parameters of a press) is queued with its
-- own text when the vote decides, with the progress or "already voted"
-- otherwise; `p_reply` (sendMessage parameters without a text, for a typed
-- answer) is queued only when the vote does not decide. `p_reason` is the
-- person's reason for the vote (deny with a reason) or NULL; it is the vote's
-- `reason` in `votes` and in requests.votes, where the API reads the
-- deciding reason from.
--
-- `p_params` is an approval with edits (020): the params the person
-- approved instead of the request's, or NULL. It is the vote's `params`
-- (in `votes` and in requests.votes) and, when the vote decides, the
-- request's edited_params. Only an approval of a request that has params
-- and needs a single approval may carry edits (with a quorum, the others
-- would approve params they did not see): the caller refuses any other
-- edit before it votes, and this function raises rather than record one.
CREATE OR REPLACE FUNCTION lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint,
                                   p_name text, p_approve boolean, p_response text,
                                   p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb,
                                   p_reason text, p_params jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r requests;
    shown jsonb;
    yes integer;
    no integer;
    outcome text;
    said text;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    -- past its deadline a request is over, whether or not the expiry loop
    -- has written its timeout yet
    IF NOT FOUND OR r.status <> 'pending' OR r.expires_at <= now() THEN
        RETURN 'gone';
    END IF;
    IF p_params IS NOT NULL AND (NOT p_approve OR r.params IS NULL
                                 OR r.approvals_required <> 1) THEN
        RAISE EXCEPTION 'an edit is only an approval of a request with params and one approver';
    END IF;
    INSERT INTO votes (request_id, tenant, person, user_id, name, channel, approve, response,
                       reason, params)
        VALUES (p_id, r.tenant, p_person, p_user, p_name, p_channel, p_approve, p_response,
                p_reason, p_params)
        ON CONFLICT (request_id, person) DO NOTHING;
    IF NOT FOUND THEN
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, p_actor, 'already_voted', p_detail);
        outcome := 'already';
        said := 'You already voted on this request.';
    ELSE
        -- the vote as the API shows it (requests.votes, 018)
        shown := jsonb_build_array(jsonb_build_object(
            'responder', jsonb_build_object('id', p_user, 'name', p_name), 'channel', p_channel,
            'approve', p_approve, 'response', p_response, 'reason', p_reason, 'at', lg_ts(now()))
            || CASE WHEN p_params IS NOT NULL THEN jsonb_build_object('params', p_params)
                    ELSE '{}' END);
        IF r.approvals_required = 1 THEN
            -- the first vote decides: nothing to count (the press path stays short)
            yes := p_approve::integer;
            no := (NOT p_approve)::integer;
        ELSE
            SELECT count(*) FILTER (WHERE approve), count(*) FILTER (WHERE NOT approve)
                INTO yes, no FROM votes WHERE request_id = p_id;
        END IF;
        IF (p_approve AND yes >= r.approvals_required)
           OR (NOT p_approve AND (r.deny_vetoes OR no >= r.approvals_required)) THEN
            UPDATE requests SET status = 'completed', response = p_response, approved = p_approve,
                                responder_id = p_user, responder_name = p_name,
                                responded_at = now(), updated_at = now(),
                                votes = coalesce(votes, '[]') || shown,
                                edited_params = CASE WHEN p_approve THEN p_params END
                WHERE id = p_id AND status = 'pending';
            INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
                VALUES (r.tenant, r.id, r.session_id, p_actor, 'decided',
                        coalesce(p_detail, '{}')
                        || jsonb_build_object('latency_ms', lg_latency_ms(r.created_at))
                        || CASE WHEN r.approvals_required > 1
                                THEN jsonb_build_object('approvals', yes, 'denials', no,
                                                        'approvals_required', r.approvals_required)
                                ELSE '{}' END);
            PERFORM request_finished(p_id);
            IF p_answer IS NOT NULL THEN
                INSERT INTO outbox (kind, chat_id, payload, priority)
                    VALUES ('tg_answer', 0, p_answer, 1);
            END IF;
            RETURN CASE WHEN p_approve THEN 'approved' ELSE 'denied' END;
        END IF;
        INSERT INTO audit_log (tenant, request_id, session_id, actor, action, detail)
            VALUES (r.tenant, r.id, r.session_id, p_actor, 'voted',
                    p_detail || jsonb_build_object('approvals', yes, 'denials', no,
                                                   'approvals_required', r.approvals_required));
        UPDATE requests SET updated_at = now(), votes = coalesce(votes, '[]') || shown
            WHERE id = p_id;
        -- One progress edit waiting is enough: it shows the row as it is when
        -- it goes out, so a vote that finds one unclaimed adds none (ten
        -- quick votes would otherwise spend ten of the chat's paced slots).
        INSERT INTO outbox (kind, request_id, chat_id, priority)
            SELECT 'tg_edit', r.id, r.telegram_chat_id, 3
             WHERE r.telegram_message_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM outbox o
                                WHERE o.chat_id = r.telegram_chat_id AND o.state = 'queued'
                                  AND o.kind = 'tg_edit' AND o.request_id = r.id
                                  AND o.payload IS NULL  -- not the escalation message's (021)
                                  AND (o.leased_until IS NULL OR o.leased_until < now()));
        PERFORM request_escalation_edit(r.id);
        outcome := 'voted';
        said := 'Recorded: ' || p_response || '. ' || yes || ' of ' || r.approvals_required
                || ' approvals'
                || CASE WHEN NOT r.deny_vetoes
                        THEN ', ' || no || ' of ' || r.approvals_required || ' denials to deny'
                        ELSE '' END || '.';
    END IF;
    IF p_answer IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority)
            VALUES ('tg_answer', 0, p_answer || jsonb_build_object('text', left(said, 200)), 1);
    END IF;
    IF p_reply IS NOT NULL THEN
        INSERT INTO outbox (kind, chat_id, payload, priority)
            VALUES ('tg_text', coalesce((p_reply ->> 'chat_id')::bigint, 0),
                    (p_reply - 'chat_id') || jsonb_build_object('text', said), 4);
    END IF;
    RETURN outcome;
END $$;

-- The signature without edits (the release of deny with a reason): a vote
-- that carries none.
CREATE OR REPLACE FUNCTION lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint,
                                   p_name text, p_approve boolean, p_response text,
                                   p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb,
                                   p_reason text)
RETURNS text LANGUAGE sql AS $$
    SELECT lg_vote(p_id, p_channel, p_person, p_user, p_name, p_approve, p_response, p_actor,
                   p_detail, p_answer, p_reply, p_reason, NULL)
$$;

-- The signature without a reason (018): a vote that gives none.
CREATE OR REPLACE FUNCTION lg_vote(p_id uuid, p_channel text, p_person text, p_user bigint,
                                   p_name text, p_approve boolean, p_response text,
                                   p_actor text, p_detail jsonb, p_answer jsonb, p_reply jsonb)
RETURNS text LANGUAGE sql AS $$
    SELECT lg_vote(p_id, p_channel, p_person, p_user, p_name, p_approve, p_response, p_actor,
                   p_detail, p_answer, p_reply, NULL::text, NULL::jsonb)
$$;
