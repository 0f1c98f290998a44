-- 020: approve with edits: the parameters a request proposes, the schema a
-- person's edits must meet, and what was approved.
--
-- `params` is the JSON object the agent submitted (NULL: none),
-- `params_schema` the JSON Schema subset its edits are checked against
-- (src/params.h; NULL: none). `edited_params` is what a person approved
-- instead, written with the decision by lg_vote when the deciding vote is
-- an approval with edits (the vote's own copy is votes.params); NULL when the
-- request was not approved with edits. The API reads the final params as
-- coalesce(edited_params, params) and `edited` as edited_params IS NOT NULL.
--
-- Expand only: three nullable columns without defaults (no table rewrite).
-- The previous release neither names nor needs them; its requests have
-- none, which is what a request without params is.
ALTER TABLE requests
    ADD COLUMN params jsonb,
    ADD COLUMN params_schema jsonb,
    ADD COLUMN edited_params jsonb;
