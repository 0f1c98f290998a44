/*
 * test_decide.c - unit tests for decide.c: what an option or a typed answer
 * means, the callback_data of a button, who may decide, and the PostgreSQL
 * array literals the approvers and option meanings come back as.
 */
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "t.h"

#define ID "123e4567-e89b-12d3-a456-426614174000"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ decide_label_denies */

struct label_case {
    const char *label;
    bool denies;
};

static const struct label_case labels[] = {
    /* The README's options (its emoji in UTF-8). */
    {"\xF0\x9F\x9A\x80 Deploy", false},
    {"\xE2\x8F\xB8\xEF\xB8\x8F Hold", true},
    {"\xF0\x9F\x94\x8D Review First", true},
    {"Deploy", false},
    {"Hold", true},
    {"Execute", false},
    {"Cancel", true},
    {"Reduce Size", false},
    {"Reject", true},
    {"no", true},
    {"No thanks", true},
    {"NO", true},
    {"No.", true},
    {"no!", true},
    /* Whole words only: "know", "note", "nothing", "stopwatch" are not deny words. */
    {"Know more", false},
    {"Take note", false},
    {"Nothing to add", false},
    {"Start stopwatch", false},
    {"Notify the team", false},
    {"Don't", true},
    {"don't do it", true},
    {"Dont", true},
    {"Not now", true},
    {"Flag", false},
    {"Approve", false},
    {"Yes", false},
    {"OK", false},
    {"Needs Review", true},
    {"\xE2\x9D\x8C Reject", true},
    {"Deploy-no-wait", true},
    {"deploy_now", false},
    {"", false},
    {"   ", false},
    {"\xF0\x9F\x9A\x80", false},
    /* A word longer than the internal buffer neither crashes nor matches. */
    {"Supercalifragilisticexpialidocious-and-then-some-more-letters", false},
    {"Nooooooooooooooooooooooooooooooooooooooooooooooo", false},
    /* Quotes around a word are not part of it. */
    {"Say 'no'", true},
    {"'Cancel'", true},
    {"\"Stop\"", true},
    /* The typographic apostrophe (U+2019) that phone keyboards type. */
    {"Don\xE2\x80\x99t", true},
    {"Don\xE2\x80\x99t deploy", true},
    {"\xE2\x80\x98no\xE2\x80\x99", true},
};

TEST(label_cases)
{
    for (size_t i = 0; i < N(labels); i++) {
        bool got = decide_label_denies(labels[i].label);
        CHECKF(got == labels[i].denies, "\"%s\" %s, expected it to %s", labels[i].label,
               got ? "denies" : "approves", labels[i].denies ? "deny" : "approve");
    }
}

/* Every deny word denies alone, in upper case and inside a sentence. */
TEST(label_deny_words)
{
    size_t n = 0;

    for (int i = 0; decide_deny_words[i]; i++, n++) {
        const char *w = decide_deny_words[i];
        char upper[64], sentence[160];

        CHECKF(strlen(w) < sizeof(upper), "deny word \"%s\" is too long", w);
        for (size_t j = 0; j <= strlen(w) && j < sizeof(upper); j++)
            upper[j] = (char)(w[j] >= 'a' && w[j] <= 'z' ? w[j] - 'a' + 'A' : w[j]);
        upper[sizeof(upper) - 1] = '\0';
        snprintf(sentence, sizeof(sentence), "Well, %s, I think: let us %s it.", w, w);

        CHECKF(decide_label_denies(w), "\"%s\" alone approves", w);
        CHECKF(decide_label_denies(upper), "\"%s\" approves", upper);
        CHECKF(decide_label_denies(sentence), "\"%s\" approves", sentence);
        snprintf(sentence, sizeof(sentence), "\xE2\x9B\x94 %s!", w);
        CHECKF(decide_label_denies(sentence), "\"%s\" approves", sentence);
        /* Glued to other letters it is another word. */
        snprintf(sentence, sizeof(sentence), "x%sx", w);
        CHECKF(!decide_label_denies(sentence), "\"%s\" denies", sentence);
    }
    CHECK(n >= 20);
}

/* ------------------------------------------------------------ callback data */

TEST(callback_round_trip)
{
    static const int idxs[] = {0, 1, 9, 10, 42, 99};
    char data[CALLBACK_DATA_MAX + 1], id[37];
    int idx;

    for (size_t i = 0; i < N(idxs); i++) {
        char want[64];

        snprintf(want, sizeof(want), "%s:%d", ID, idxs[i]);
        CHECK_EQ_INT(decide_callback_format(ID, idxs[i], data, sizeof(data)), 0);
        CHECK_EQ_STR(data, want);
        CHECK(strlen(data) <= CALLBACK_DATA_MAX);
        memset(id, 'x', sizeof(id));
        idx = -1;
        CHECK_EQ_INT(decide_callback_parse(data, id, &idx), 0);
        CHECK_EQ_STR(id, ID);
        CHECK_EQ_INT(idx, idxs[i]);
    }

    /* Upper-case hex is still a UUID. */
    CHECK_EQ_INT(decide_callback_parse("123E4567-E89B-12D3-A456-426614174000:3", id, &idx), 0);
    CHECK_EQ_INT(idx, 3);
}

TEST(callback_format_bad)
{
    char data[CALLBACK_DATA_MAX + 1], small[20];

    CHECK_EQ_INT(decide_callback_format(ID, 100, data, sizeof(data)), -1);
    CHECK_EQ_INT(decide_callback_format(ID, -1, data, sizeof(data)), -1);
    CHECK_EQ_INT(decide_callback_format("not-a-uuid", 0, data, sizeof(data)), -1);
    CHECK_EQ_INT(decide_callback_format(ID "0", 0, data, sizeof(data)), -1);
    CHECK_EQ_INT(decide_callback_format(NULL, 0, data, sizeof(data)), -1);
    /* It does not fit: -1, and the buffer stays terminated. */
    CHECK_EQ_INT(decide_callback_format(ID, 1, small, sizeof(small)), -1);
    CHECK(strlen(small) < sizeof(small));
}

TEST(callback_parse_bad)
{
    static const char *const bad[] = {
        "",
        ":",
        ID,
        ID ":",
        ID ":100",
        ID ":-1",
        ID ":+1",
        ID ": 1",
        ID ":1 ",
        ID ":1x",
        ID ":x",
        ID ":1:2",
        ID ";1",
        ID "1",
        "123e4567-e89b-12d3-a456-42661417400:1",   /* 35 characters */
        "123e4567-e89b-12d3-a456-4266141740000:1", /* 37 characters */
        "123e4567+e89b-12d3-a456-426614174000:1",  /* wrong separator */
        "123e4567-e89b-12d3-a456-42661417400g:1",  /* not hex */
        "123e4567e89b12d3a456426614174000:1",      /* no dashes */
        "1:" ID,
        ID ":1"
           "00000000000000000000000000000000", /* over 64 bytes */
        "{\"id\": \"" ID "\", \"idx\": 1}",
    };
    char id[37];
    int idx;

    for (size_t i = 0; i < N(bad); i++) {
        idx = 77;
        CHECKF(decide_callback_parse(bad[i], id, &idx) == -1, "\"%s\" parsed", bad[i]);
        CHECKF(idx == 77, "\"%s\": idx set on failure", bad[i]);
    }
    idx = 77;
    CHECK_EQ_INT(decide_callback_parse(NULL, id, &idx), -1);
    CHECK_EQ_INT(idx, 77);
}

/* ------------------------------------------------------------ decide_authorized */

TEST(authorized_approvers)
{
    static const int64_t approvers[] = {111, 222};
    struct approver_policy p = {.chat_id = 999, .approvers = approvers, .napprovers = 2};

    /* Private chat with approvers: only they, not the chat's own user. */
    CHECK(decide_authorized(&p, 111));
    CHECK(decide_authorized(&p, 222));
    CHECK(!decide_authorized(&p, 999));
    CHECK(!decide_authorized(&p, 333));

    /* The same in a group, whatever group_any_member says. */
    p.chat_id = INT64_C(-1001234567890);
    CHECK(decide_authorized(&p, 111));
    CHECK(!decide_authorized(&p, 333));
    p.group_any_member = true;
    CHECK(decide_authorized(&p, 222));
    CHECK(!decide_authorized(&p, 333));

    /* Unless listed, the chat's user is nobody special. */
    p.chat_id = 222;
    CHECK(decide_authorized(&p, 222));
}

TEST(authorized_private)
{
    struct approver_policy p = {.chat_id = 999};

    CHECK(decide_authorized(&p, 999));
    CHECK(!decide_authorized(&p, 998));
    CHECK(!decide_authorized(&p, 1000));
    /* group_any_member is about groups only. */
    p.group_any_member = true;
    CHECK(decide_authorized(&p, 999));
    CHECK(!decide_authorized(&p, 111));
}

TEST(authorized_group)
{
    struct approver_policy p = {.chat_id = INT64_C(-1001234567890)};

    CHECK(!decide_authorized(&p, 111));
    CHECK(!decide_authorized(&p, INT64_C(1001234567890)));
    p.group_any_member = true;
    CHECK(decide_authorized(&p, 111));
    CHECK(decide_authorized(&p, INT64_C(1001234567890)));
}

TEST(authorized_allow_list)
{
    static const int64_t approvers[] = {111, 222};
    static const int64_t allow[] = {222, 999, 555};
    struct approver_policy p = {
        .chat_id = 999, .approvers = approvers, .napprovers = 2, .allow = allow, .nallow = 3};

    /* On top of the approvers: a listed approver outside it is refused. */
    CHECK(!decide_authorized(&p, 111));
    CHECK(decide_authorized(&p, 222));
    /* Being allowed does not make an approver. */
    CHECK(!decide_authorized(&p, 999));
    CHECK(!decide_authorized(&p, 555));

    /* Private chat without approvers: the chat's user must be allowed too. */
    p.napprovers = 0;
    p.approvers = NULL;
    CHECK(decide_authorized(&p, 999));
    CHECK(!decide_authorized(&p, 555));
    p.chat_id = 888;
    CHECK(!decide_authorized(&p, 888));

    /* Group open to any member: only the allowed ones. */
    p.chat_id = -42;
    CHECK(!decide_authorized(&p, 111));
    p.group_any_member = true;
    CHECK(!decide_authorized(&p, 111));
    CHECK(decide_authorized(&p, 555));
}

TEST(authorized_bad_user)
{
    static const int64_t approvers[] = {0, -5};
    struct approver_policy p = {.chat_id = 999, .group_any_member = true};

    CHECK(!decide_authorized(&p, 0));
    CHECK(!decide_authorized(&p, -1));
    CHECK(!decide_authorized(&p, INT64_MIN));
    p.chat_id = -42;
    CHECK(!decide_authorized(&p, 0));
    CHECK(!decide_authorized(&p, -42));
    /* Not even when listed. */
    p.approvers = approvers;
    p.napprovers = 2;
    CHECK(!decide_authorized(&p, 0));
    CHECK(!decide_authorized(&p, -5));
    /* A private chat whose id is not positive authorizes nobody by it. */
    p.napprovers = 0;
    p.chat_id = 0;
    p.group_any_member = false;
    CHECK(!decide_authorized(&p, 0));
}

/* ------------------------------------------------------------ array literals */

TEST(int_array)
{
    int64_t v[4] = {7, 7, 7, 7};

    CHECK_EQ_INT(decide_parse_int_array("{}", v, 4), 0);
    CHECK_EQ_INT(v[0], 7);
    CHECK_EQ_INT(decide_parse_int_array("{}", NULL, 0), 0);
    CHECK_EQ_INT(decide_parse_int_array("{1,2,3}", v, 4), 3);
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == 3 && v[3] == 7);
    CHECK_EQ_INT(decide_parse_int_array("{-5}", v, 4), 1);
    CHECK_EQ_INT(v[0], -5);
    CHECK_EQ_INT(decide_parse_int_array("{123456789,-1001234567890}", v, 4), 2);
    CHECK(v[0] == 123456789 && v[1] == INT64_C(-1001234567890));
    CHECK_EQ_INT(decide_parse_int_array("{9223372036854775807,-9223372036854775808}", v, 4), 2);
    CHECK(v[0] == INT64_MAX && v[1] == INT64_MIN);

    /* Exactly max fits; one more is an overflow. */
    CHECK_EQ_INT(decide_parse_int_array("{1,2,3,4}", v, 4), 4);
    CHECK_EQ_INT(decide_parse_int_array("{1,2,3,4,5}", v, 4), -1);
    CHECK_EQ_INT(decide_parse_int_array("{1}", v, 0), -1);
}

TEST(int_array_junk)
{
    static const char *const bad[] = {
        "",
        "1,2,3",
        "{",
        "}",
        "{1,2",
        "{a}",
        "{1,,2}",
        "{,}",
        "{,1}",
        "{1,}",
        "{1 2}",
        "{1;2}",
        "{ 1}",
        "{1 }",
        "{+1}",
        "{-}",
        "{1}x",
        "{1} ",
        "{}{}",
        "{NULL}",
        "{1,NULL}",
        "{1.5}",
        "{0x10}",
        "[1,2]",
        "{{1,2}}",
        "{\"1\"}",
        "{t}",
        "{9223372036854775808}",
        "{-9223372036854775809}",
        "{99999999999999999999}",
    };
    int64_t v[8];

    for (size_t i = 0; i < N(bad); i++)
        CHECKF(decide_parse_int_array(bad[i], v, N(v)) == -1, "\"%s\" parsed", bad[i]);
    CHECK_EQ_INT(decide_parse_int_array(NULL, v, N(v)), -1);
}

TEST(bool_array)
{
    bool v[4] = {false, false, false, false};

    CHECK_EQ_INT(decide_parse_bool_array("{}", v, 4), 0);
    CHECK_EQ_INT(decide_parse_bool_array("{}", NULL, 0), 0);
    CHECK_EQ_INT(decide_parse_bool_array("{t,f,t}", v, 4), 3);
    CHECK(v[0] && !v[1] && v[2] && !v[3]);
    CHECK_EQ_INT(decide_parse_bool_array("{f}", v, 4), 1);
    CHECK(!v[0]);
    CHECK_EQ_INT(decide_parse_bool_array("{t,t,t,t}", v, 4), 4);
    CHECK_EQ_INT(decide_parse_bool_array("{t,t,t,t,t}", v, 4), -1);
    CHECK_EQ_INT(decide_parse_bool_array("{t}", v, 0), -1);
}

TEST(bool_array_junk)
{
    static const char *const bad[] = {
        "",     "t,f",  "{",    "}",     "{t,f",   "{x}",   "{t,,f}", "{,}",
        "{,t}", "{t,}", "{tf}", "{t f}", "{ t}",   "{t }",  "{true}", "{false}",
        "{T}",  "{1}",  "{t}x", "{}{}",  "{NULL}", "[t,f]", "{{t}}",
    };
    bool v[8];

    for (size_t i = 0; i < N(bad); i++)
        CHECKF(decide_parse_bool_array(bad[i], v, N(v)) == -1, "\"%s\" parsed", bad[i]);
    CHECK_EQ_INT(decide_parse_bool_array(NULL, v, N(v)), -1);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(label_cases);
    RUN(label_deny_words);
    RUN(callback_round_trip);
    RUN(callback_format_bad);
    RUN(callback_parse_bad);
    RUN(authorized_approvers);
    RUN(authorized_private);
    RUN(authorized_group);
    RUN(authorized_allow_list);
    RUN(authorized_bad_user);
    RUN(int_array);
    RUN(int_array_junk);
    RUN(bool_array);
    RUN(bool_array_junk);
    return t_end();
}
