/*
 * test_tglogin.c - unit tests for tglogin.c: a Telegram login's query is
 * Telegram's (the hash of its data-check-string under the bot token), fresh,
 * bounded and made only of the documented fields and `r`, which is not
 * signed and only ever a request id.
 *
 * The hashes below were computed outside this code, with Python's hmac and
 * hashlib over the sorted key=value lines, so a fault shared by the
 * signer and the checker cannot hide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tglogin.h"
#include "t.h"

#define TOKEN "123456:TEST-token"
#define T0 1764616800 /* the auth_date of the vectors */
#define RID "123e4567-e89b-12d3-a456-426614174000"

/* id, first_name "Ann Lee", last_name "Ölund", username, photo_url, auth_date. */
#define FULL                                                                                       \
    "id=424242&first_name=Ann+Lee&last_name=%C3%96lund&username=ann&photo_url=https%3A%2F%2Ft.me"  \
    "%2Fi%2Fuserpic%2F320%2Fann.jpg&auth_date=1764616800"
#define FULL_HASH "803858911c72de46e9f11373a9e00e4105feeb4937b4882eb0257e7ad93c5edf"
/* id and auth_date only. */
#define BARE "id=7&auth_date=1764616800"
#define BARE_HASH "015819c019863635af58c6769b18b3c0dd2a03aabd7f63ef155ca93981436985"
/* first_name "A&B=C": escapes decoded before the string is built. */
#define AMP "id=424242&first_name=A%26B%3DC&auth_date=1764616800"
#define AMP_HASH "51be24d57a2c29648ddb42c82ca46b44322e8daa7289c9f88305be1575f30619"

static int check(const char *q, int64_t now, struct tglogin *l, struct lg_error *e)
{
    return tglogin_check(q, TOKEN, now, l, e);
}

TEST(valid_full)
{
    struct tglogin l;
    struct lg_error e;
    char name[128];

    CHECK_EQ_INT(check(FULL "&hash=" FULL_HASH, T0 + 5, &l, &e), 0);
    CHECK_EQ_INT(l.id, 424242);
    CHECK_EQ_INT(l.auth_date, T0);
    CHECK_EQ_STR(l.first_name, "Ann Lee");
    CHECK_EQ_STR(l.last_name, "\xC3\x96lund");
    CHECK_EQ_STR(l.username, "ann");
    CHECK_EQ_STR(l.hash, FULL_HASH);
    CHECK_EQ_STR(l.request_id, "");
    tglogin_name(&l, name, sizeof(name));
    CHECK_EQ_STR(name, "Ann Lee \xC3\x96lund @ann");
}

TEST(order_does_not_matter)
{
    struct tglogin l;
    struct lg_error e;

    CHECK_EQ_INT(check("hash=" FULL_HASH "&auth_date=1764616800&username=ann&last_name=%C3%96lund"
                       "&photo_url=https%3A%2F%2Ft.me%2Fi%2Fuserpic%2F320%2Fann.jpg"
                       "&first_name=Ann%20Lee&id=424242",
                       T0, &l, &e),
                 0);
}

TEST(r_is_not_signed)
{
    struct tglogin l;
    struct lg_error e;
    char name[16];

    /* Telegram adds its fields to our URL; r is ours and not in the string. */
    CHECK_EQ_INT(check("r=" RID "&" BARE "&hash=" BARE_HASH, T0, &l, &e), 0);
    CHECK_EQ_STR(l.request_id, RID);
    CHECK_EQ_INT(l.id, 7);
    tglogin_name(&l, name, sizeof(name));
    CHECK_EQ_STR(name, "user 7");
    /* Another r is equally accepted: it names what to open, the id decides who. */
    CHECK_EQ_INT(
        check(BARE "&hash=" BARE_HASH "&r=00000000-0000-0000-0000-000000000001", T0, &l, &e), 0);
    CHECK_EQ_STR(l.request_id, "00000000-0000-0000-0000-000000000001");
    /* ... but only a request id. */
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH "&r=https%3A%2F%2Fevil.example", T0, &l, &e), -1);
    CHECK_EQ_STR(e.code, "invalid");
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH "&r=" RID "x", T0, &l, &e), -1);
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH "&r=", T0, &l, &e), -1);
    CHECK_EQ_INT(l.id, 0); /* nothing is left filled on a refusal */
}

TEST(escapes)
{
    struct tglogin l;
    struct lg_error e;

    CHECK_EQ_INT(check(AMP "&hash=" AMP_HASH, T0, &l, &e), 0);
    CHECK_EQ_STR(l.first_name, "A&B=C");
}

TEST(tampered)
{
    struct tglogin l;
    struct lg_error e;
    char q[1024];
    const char *variants[] = {
        "id=424243&first_name=Ann+Lee&last_name=%C3%96lund&username=ann&photo_url=https%3A%2F%2F"
        "t.me%2Fi%2Fuserpic%2F320%2Fann.jpg&auth_date=1764616800",
        "id=424242&first_name=Ann+Lea&last_name=%C3%96lund&username=ann&photo_url=https%3A%2F%2F"
        "t.me%2Fi%2Fuserpic%2F320%2Fann.jpg&auth_date=1764616800",
        /* a field left out */
        "id=424242&first_name=Ann+Lee&last_name=%C3%96lund&username=ann&auth_date=1764616800",
        /* a field added */
        "id=424242&first_name=Ann+Lee&last_name=%C3%96lund&username=ann&photo_url=https%3A%2F%2F"
        "t.me%2Fi%2Fuserpic%2F320%2Fann.jpg&auth_date=1764616800&last_name=x",
        "id=424242&first_name=Ann+Lee&last_name=%C3%96lund&username=ann&photo_url=https%3A%2F%2F"
        "t.me%2Fi%2Fuserpic%2F320%2Fann.jpg&auth_date=1764616801",
    };

    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        snprintf(q, sizeof(q), "%s&hash=%s", variants[i], FULL_HASH);
        CHECKF(check(q, T0, &l, &e) == -1 && !strcmp(e.code, "invalid"), "variant %zu accepted", i);
    }
    /* One hex digit of the hash changed. */
    CHECK_EQ_INT(check(FULL
                       "&hash=903858911c72de46e9f11373a9e00e4105feeb4937b4882eb0257e7ad93c5edf",
                       T0, &l, &e),
                 -1);
    CHECK_EQ_INT(e.status, 401);
    /* Another bot's token. */
    CHECK_EQ_INT(tglogin_check(FULL "&hash=" FULL_HASH, "654321:OTHER", T0, &l, &e), -1);
    CHECK_EQ_STR(e.code, "invalid");
    /* No token at all: refused, never checked against an empty key. */
    CHECK_EQ_INT(tglogin_check(FULL "&hash=" FULL_HASH, "", T0, &l, &e), -1);
    CHECK_EQ_INT(tglogin_check(FULL "&hash=" FULL_HASH, NULL, T0, &l, &e), -1);
}

TEST(time_window)
{
    struct tglogin l;
    struct lg_error e;

    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH, T0 + TGLOGIN_MAX_AGE, &l, &e), 0);
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH, T0 + TGLOGIN_MAX_AGE + 1, &l, &e), -1);
    CHECK_EQ_STR(e.code, "expired");
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH, T0 - TGLOGIN_MAX_SKEW, &l, &e), 0);
    CHECK_EQ_INT(check(BARE "&hash=" BARE_HASH, T0 - TGLOGIN_MAX_SKEW - 1, &l, &e), -1);
    CHECK_EQ_STR(e.code, "invalid");
    /* An old date with a wrong hash is invalid, not expired: only authentic data expires. */
    CHECK_EQ_INT(check(BARE "&hash=" FULL_HASH, T0 + 100000, &l, &e), -1);
    CHECK_EQ_STR(e.code, "invalid");
}

TEST(malformed)
{
    struct tglogin l;
    struct lg_error e;
    char big[TGLOGIN_QUERY_MAX + 64];
    const char *bad[] = {
        "",
        "&&&",
        BARE,                                       /* no hash */
        "auth_date=1764616800&hash=" BARE_HASH,     /* no id */
        "id=7&hash=" BARE_HASH,                     /* no auth_date */
        BARE "&hash=" BARE_HASH "&foo=1",           /* unknown key */
        BARE "&hash=" BARE_HASH "&hash=" BARE_HASH, /* repeated */
        BARE "&id=7&hash=" BARE_HASH,
        BARE "&hash", /* no '=' */
        "id=-7&auth_date=1764616800&hash=" BARE_HASH,
        "id=07&auth_date=1764616800&hash=" BARE_HASH,
        "id=+7&auth_date=1764616800&hash=" BARE_HASH,
        "id=7x&auth_date=1764616800&hash=" BARE_HASH,
        "id=99999999999999999999&auth_date=1764616800&hash=" BARE_HASH,
        "id=7&auth_date=&hash=" BARE_HASH,
        "id=7&auth_date=1764616800&hash=" BARE_HASH "0", /* 65 digits */
        "id=7&auth_date=1764616800&hash="
        "015819C019863635AF58C6769B18B3C0DD2A03AABD7F63EF155CA93981436985",
        "id=7&auth_date=1764616800&first_name=%&hash=" BARE_HASH,
        "id=7&auth_date=1764616800&first_name=%4&hash=" BARE_HASH,
        "id=7&auth_date=1764616800&first_name=%zz&hash=" BARE_HASH,
        "id=7&auth_date=1764616800&first_name=a%00b&hash=" BARE_HASH,
        "id=7&auth_date=1764616800&first_name=%C3&hash=" BARE_HASH, /* bad UTF-8 */
        "i%64=7&auth_date=1764616800&hash=" BARE_HASH "&id=7",      /* the same key, escaped */
        "first_name=a&last_name=b&username=c&photo_url=d&r=" RID "&" BARE "&hash=" BARE_HASH
        "&x=1", /* more than the fields there are */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        CHECKF(check(bad[i], T0, &l, &e) == -1 && !strcmp(e.code, "invalid") && e.status >= 400 &&
                   e.message[0],
               "case %zu (%s) accepted or without an error", i, bad[i]);
        CHECKF(strstr(e.message, BARE_HASH) == NULL, "case %zu quotes the hash", i);
    }
    CHECK_EQ_INT(check(NULL, T0, &l, &e), -1);
    /* Bounds: a value past TGLOGIN_VALUE_MAX, a query past TGLOGIN_QUERY_MAX. */
    memset(big, 0, sizeof(big));
    snprintf(big, sizeof(big), "id=7&auth_date=1764616800&hash=%s&first_name=", BARE_HASH);
    memset(big + strlen(big), 'a', TGLOGIN_VALUE_MAX + 1);
    CHECK_EQ_INT(check(big, T0, &l, &e), -1);
    memset(big, 0, sizeof(big));
    snprintf(big, sizeof(big), "id=7&auth_date=1764616800&hash=%s&first_name=", BARE_HASH);
    memset(big + strlen(big), 'a', sizeof(big) - strlen(big) - 1);
    CHECK_EQ_INT(check(big, T0, &l, &e), -1);
    CHECK_CONTAINS(e.message, "longer");
}

TEST(long_name_cut_on_a_character)
{
    struct tglogin l;
    char name[8];

    memset(&l, 0, sizeof(l));
    l.id = 1;
    lg_strlcpy(l.first_name, "\xC3\x96\xC3\x96\xC3\x96\xC3\x96", sizeof(l.first_name));
    tglogin_name(&l, name, sizeof(name));
    CHECK_EQ_STR(name, "\xC3\x96\xC3\x96\xC3\x96");
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(valid_full);
    RUN(order_does_not_matter);
    RUN(r_is_not_signed);
    RUN(escapes);
    RUN(tampered);
    RUN(time_window);
    RUN(malformed);
    RUN(long_name_cut_on_a_character);
    return t_end();
}
