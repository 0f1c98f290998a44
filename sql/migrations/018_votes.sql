-- 018: votes, and the quorum a request is decided under.
--
-- Every act of a person that decides (a button press, a typed answer, later
-- a console action) is a row of `votes`, one per person and request. A
-- request's outcome is derived from its votes under its policy, fixed at
-- submit: `approvals_required` distinct approvals approve it; a denial ends
-- it denied when `deny_vetoes`, else it takes as many denials as approvals
-- required (sql/functions/lg_vote.sql, called by tg_press and tg_decided).
--
-- Expand only: the new columns have constant defaults (one approval, a
-- denial vetoes: today's rule), so the previous release's INSERTs, which do
-- not name them, submit requests that behave as before, and its tg_press and
-- tg_decided calls keep their signatures (they now record a vote too).
--
-- The range check is NOT VALID: every row written from now on is checked,
-- and the rows already there (all of them 1, the default) are not scanned
-- under the table's lock.
--
-- `requests.votes` is what the API shows of the votes (a JSON array, oldest
-- first; NULL: none), written by lg_vote in the statement that writes the
-- vote, as `response` and `approved` are written with the decision: a poll
-- and a woken waiter read one row, as before votes.
ALTER TABLE requests
    ADD COLUMN approvals_required smallint NOT NULL DEFAULT 1,
    ADD COLUMN deny_vetoes boolean NOT NULL DEFAULT true,
    ADD COLUMN votes jsonb;
ALTER TABLE requests ADD CONSTRAINT requests_approvals_required
    CHECK (approvals_required BETWEEN 1 AND 10) NOT VALID;

-- `person` identifies the voter across channels: 'telegram:<user id>', or
-- 'console:<user id>' (the console's users are text ids); `user_id` is the
-- Telegram user id (NULL for another channel's person) and `name` is what
-- is shown; `response` the label pressed or the text typed;
-- `reason` and `params` are filled by later channels (deny with a reason,
-- approve with edits) and NULL until then. No foreign key: lg_vote writes a
-- vote only for the request it holds locked, and the press path stays one
-- index write shorter.
CREATE TABLE votes (
    request_id  uuid NOT NULL,
    tenant      text NOT NULL,
    person      text NOT NULL,
    user_id     bigint,
    name        text NOT NULL,
    channel     text NOT NULL CONSTRAINT votes_channel CHECK (channel IN ('telegram', 'console')),
    approve     boolean NOT NULL,
    response    text NOT NULL,
    reason      text,
    params      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, person)
);
