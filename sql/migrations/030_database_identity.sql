-- 030_database_identity.sql - what tells this database from any other.
--
-- db_listen_uri (LISTEN and the janitor's session) must reach the database
-- db_uri reaches, or notifications are sent where nobody listens and the
-- janitor prunes another database. A pooler in front of db_uri may call the
-- database by another name, and a staging database may share the cluster,
-- so each side reads what identifies it (src/db.c db_identity): the
-- cluster's pg_control_system().system_identifier, current_database() on
-- the server, and this row's id, random for every database migrated from
-- empty. pg_dump copies the row, so a restored copy keeps its id; its new
-- cluster gives both connections the same new system identifier.
--
-- Expand only: a new table the previous release never names.
CREATE TABLE IF NOT EXISTS database_identity (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO database_identity DEFAULT VALUES ON CONFLICT (one) DO NOTHING;
