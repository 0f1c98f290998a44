/*
 * test_migrate.c - how a no-transaction migration is cut into statements
 * (migrate_statement_end): a ';' ends a statement only outside quotes,
 * dollar quotes and comments.
 */
#include <string.h>

#include "migrate.h"
#include "t.h"

/* The statements of `sql` joined by '|', each without its ';' and outer blanks. */
static const char *split(const char *sql)
{
    static char out[1024];
    const char *p = sql;
    size_t n = 0;

    while (*p) {
        const char *end = migrate_statement_end(sql, p), *a = p, *b = end;

        while (a < b && strchr(" \n\t", *a))
            a++;
        while (b > a && strchr(" \n\t", b[-1]))
            b--;
        if (b > a && n + (size_t)(b - a) + 2 < sizeof(out)) {
            if (n)
                out[n++] = '|';
            memcpy(out + n, a, (size_t)(b - a));
            n += (size_t)(b - a);
        }
        p = *end ? end + 1 : end;
    }
    out[n] = '\0';
    return out;
}

TEST(plain)
{
    CHECK_EQ_STR(split("SELECT 1; SELECT 2;\n"), "SELECT 1|SELECT 2");
    CHECK_EQ_STR(split("SELECT 1"), "SELECT 1");
    CHECK_EQ_STR(split(";;\n"), "");
}

TEST(quotes)
{
    CHECK_EQ_STR(split("SELECT 'a;b', 'it''s;'; SELECT 2;"), "SELECT 'a;b', 'it''s;'|SELECT 2");
    CHECK_EQ_STR(split("SELECT E'\\';'; SELECT 2;"), "SELECT E'\\';'|SELECT 2");
    /* Not an E'' string: a backslash is an ordinary character. */
    CHECK_EQ_STR(split("SELECT name'\\'; SELECT 2;"), "SELECT name'\\'|SELECT 2");
    CHECK_EQ_STR(split("SELECT 1 AS \"a;\"\"b\"; SELECT 2"), "SELECT 1 AS \"a;\"\"b\"|SELECT 2");
}

TEST(comments)
{
    CHECK_EQ_STR(split("-- one; two\nSELECT 1; /* x; /* y; */ z; */ SELECT 2;"),
                 "-- one; two\nSELECT 1|/* x; /* y; */ z; */ SELECT 2");
    CHECK_EQ_STR(split("SELECT 1 - -1; SELECT 2"), "SELECT 1 - -1|SELECT 2");
}

TEST(dollar_quotes)
{
    CHECK_EQ_STR(split("DO $$ BEGIN PERFORM 1; END $$; SELECT 2;"),
                 "DO $$ BEGIN PERFORM 1; END $$|SELECT 2");
    CHECK_EQ_STR(split("DO $b$ BEGIN RAISE NOTICE '$$;'; END $b$; SELECT 2"),
                 "DO $b$ BEGIN RAISE NOTICE '$$;'; END $b$|SELECT 2");
    /* $1 and a$b are no dollar quotes. */
    CHECK_EQ_STR(split("PREPARE p AS SELECT $1; SELECT a$b;"), "PREPARE p AS SELECT $1|SELECT a$b");
    /* An unterminated quote runs to the end rather than past it. */
    CHECK_EQ_STR(split("SELECT $x$ ;"), "SELECT $x$ ;");
    CHECK_EQ_STR(split("SELECT ';"), "SELECT ';");
}

TEST(migration)
{
    CHECK_EQ_STR(split("-- loopgate: no-transaction\n"
                       "DROP INDEX CONCURRENTLY IF EXISTS i;\n"
                       "CREATE INDEX CONCURRENTLY i ON t (lower(a)) WHERE a <> ';';\n"),
                 "-- loopgate: no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS i|"
                 "CREATE INDEX CONCURRENTLY i ON t (lower(a)) WHERE a <> ';'");
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(plain);
    RUN(quotes);
    RUN(comments);
    RUN(dollar_quotes);
    RUN(migration);
    return t_end();
}
