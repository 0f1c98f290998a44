/*
 * test_decide.c - unit tests for decide.c: what an option or a typed answer
 * means (the approval and deny vocabularies, other languages, emoji,
 * negations, whole answers, options that contradict their flag), the callback_data of a button, who
 * may decide, and the PostgreSQL array literals the approvers and option meanings come back as.
 */
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "t.h"

#define ID "123e4567-e89b-12d3-a456-426614174000"
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ what a label means */

#define A DECIDE_APPROVES
#define D DECIDE_DENIES
#define U DECIDE_UNCLEAR

struct label_case {
    const char *label;
    enum decide_meaning meaning;
};

static const struct label_case labels[] = {
    /* The README's options (its emoji in UTF-8). */
    {"\xF0\x9F\x9A\x80 Deploy", A},
    {"\xE2\x8F\xB8\xEF\xB8\x8F Hold", D},
    {"\xF0\x9F\x94\x8D Review First", D},
    /* Signs that say no, next to an approval word. */
    {"\xE2\x9C\x97 Deploy", D},               /* ✗ */
    {"\xE2\x9C\x98 Deploy", D},               /* ✘ */
    {"\xE2\x98\x92 Deploy", D},               /* ☒ */
    {"\xE2\x8A\x98 Deploy", D},               /* ⊘ */
    {"\xF0\x9F\x9A\xB7 Deploy", D},           /* 🚷 */
    {"\xF0\x9F\x86\x96 \xF0\x9F\x9A\x80", D}, /* 🆖 🚀 */
    {"\xF0\x9F\x9A\x80\xE2\x83\xA0", D},      /* 🚀 with U+20E0 */
    {"\xF0\x9F\xA4\xB7 Deploy", D},           /* 🤷 */
    /* More apostrophes that join a negation. */
    {"Don\xCA\xB9t deploy", D},     /* U+02B9 */
    {"Don\xEA\x9E\x8Ct deploy", D}, /* U+A78C */
    {"Don\xE2\x80\x9Bt deploy", D}, /* U+201B */
    /* More question marks. */
    {"Go\xEF\xB9\x96", U},      /* U+FE56 */
    {"Deploy\xEF\xB8\x96", U},  /* U+FE16 */
    {"Go \xE2\x80\xBD", U},     /* ‽ */
    {"Deploy \xE2\x8D\xB0", U}, /* ⍰ */
    /* The approval vocabulary, whole words, any case. */
    {"Approve", A},
    {"APPROVED", A},
    {"Yes", A},
    {"OK", A},
    {"Okay", A},
    {"Allow", A},
    {"Accept", A},
    {"Confirm", A},
    {"Proceed", A},
    {"Continue", A},
    {"Deploy", A},
    {"Execute", A},
    {"Run", A},
    {"Ship", A},
    {"Merge", A},
    {"Go", A},
    {"deploy_now", A},
    {"Go ahead", A},
    /* Every word is an approval word or a filler word; emoji and punctuation decorate. */
    {"\xE2\x9C\x85 Approve", A}, /* ✅ Approve */
    {"Yes, deploy", A},
    {"Approve and deploy", A},
    {"Ship it", A},
    {"Yes please", A},
    {"Deploy now", A},
    {"OK \xF0\x9F\x91\x8D", A}, /* OK 👍 */
    {"Go for it!", A},
    {"\xF0\x9F\x94\xB5 Deploy", A}, /* 🔵 Deploy */
    {"[Deploy]", A},
    {"\xEF\xBC\xA4\xEF\xBD\x85\xEF\xBD\x90\xEF\xBD\x8C\xEF\xBD\x8F\xEF\xBD\x99",
     A}, /* Ｄｅｐｌｏｙ */
    /* A word that is neither: unclear, and so it denies. */
    {"Deploy to staging", U},
    {"Run migrations (v2)", U},
    {"Run tests first", U},
    {"Go back", U},
    {"Continue editing", U},
    {"Deploy tomorrow", U},
    {"Deploy postponed", U},
    {"Go to staging first", U},
    {"Execute dry run", U},
    {"Okay, I'll think about it", U},
    {"Maybe ok", U},
    {"LGTM but fix tests", U},
    {"Approve nothing", U},
    {"Deploy after reviewing", U},
    {"Deploy to Staging First", U},
    {"\xE2\x9C\x85 Blue", U}, /* ✅ Blue */
    {"It", U},
    {"Please", U},
    {"Now and for it", U},
    /* A question approves nothing. */
    {"Go?", U},
    {"Deploy?", U},
    {"Deploy ?", U},
    {"\xC2\xBF Deploy", U},         /* ¿ Deploy */
    {"Deploy\xEF\xBC\x9F", U},      /* Deploy？ (full-width) */
    {"Deploy \xE2\x9D\x93", U},     /* Deploy ❓ */
    {"\xF0\x9F\xA4\x94 Deploy", U}, /* 🤔 Deploy */
    {"Deny?", D},
    /* Anything the vocabulary does not know: unclear, and so it denies. */
    {"Revert", D},
    {"Blue", U},
    {"Red", U},
    {"Ann", U},
    {"Bob", U},
    {"Option A", U},
    {"Reduce Size", U},
    {"Frobnicate", U},
    {"Flag", U},
    {"Maybe", U},
    {"Later today", D},
    {"", U},
    {"   ", U},
    {"\xF0\x9F\x94\xB5", U}, /* 🔵 */
    {"42", U},
    /* Whole words only: letters glued on make another word. */
    {"Gone", U},
    {"Running late", U},
    {"Shipment", U},
    {"Okra", U},
    {"Yesterday", U},
    {"Goal", U},
    {"Know more", U},
    {"Nothing to add", U},
    {"Notify the team", U},
    {"Start stopwatch", U},
    /* A deny word denies whatever else is there; negations are deny words. */
    {"Don't deploy", D},
    {"Don\xE2\x80\x99t deploy", D}, /* typographic apostrophe */
    /* Everything that looks like an apostrophe joins the negation. */
    {"Don\xC2\xB4t deploy", D},     /* U+00B4 */
    {"Don\xE2\x80\x98t deploy", D}, /* U+2018 */
    {"Don`t deploy", D},
    {"Don\xCA\xBCt deploy", D},     /* U+02BC */
    {"Don\xEF\xBC\x87t deploy", D}, /* U+FF07 */
    {"Don\xE2\x80\xB2t deploy", D}, /* U+2032 */
    {"\xCA\xBCNo", D},              /* a quote before a word is not part of it */
    /* Full-width letters, combining marks and invisible characters do not hide a word. */
    {"\xEF\xBC\xA4\xEF\xBD\x85\xEF\xBD\x8E\xEF\xBD\x99", D}, /* Ｄｅｎｙ */
    {"Reject\xCC\x81", D},                                   /* Reject + U+0301 */
    {"De\xE2\x81\xA0ny", D},                                 /* De U+2060 ny */
    {"De\xC2\xADny", D},                                     /* De U+00AD ny */
    {"N\xE2\x80\x8Bo", D},                                   /* N U+200B o */
    {"Disagree", D},
    {"Negative", D},
    {"dont ship", D},
    {"Do not run", D},
    {"Never merge", D},
    {"Not yet", D},
    {"No", D},
    {"NO!", D},
    {"Yes and no", D},
    {"Deploy-no-wait", D},
    {"Cancel", D},
    {"Reject", D},
    {"Deny", D},
    {"Stop", D},
    {"Needs Review", D},
    {"Ship without tests", D},
    {"Can't approve", D},
    {"Won't merge", D},
    {"Rollback", D},
    {"Undo", D},
    {"Say 'no'", D},
    {"'Cancel'", D},
    {"\"Stop\"", D},
    /* Other languages. */
    {"S\xC3\xAD", A}, /* Sí */
    {"S\xC3\x8D", A}, /* SÍ */
    {"Aprobar", A},
    {"Oui", A},
    {"D\xC3\xA9ployer", A}, /* Déployer */
    {"D'accord", A},
    {"Ja", A},
    {"Best\xC3\xA4tigen", A}, /* Bestätigen */
    {"BEST\xC3\x84TIGEN", A}, /* BESTÄTIGEN */
    {"Sim", A},
    {"S\xC3\xAC", A}, /* Sì */
    {"Approva", A},
    {"\xD0\x94\xD0\xB0", A}, /* Да */
    {"\xD0\x9F\xD0\x9E\xD0\x94\xD0\xA2\xD0\x92\xD0\x95\xD0\xA0\xD0\x94\xD0\x98\xD0\xA2\xD0\xAC",
     A},                             /* ПОДТВЕРДИТЬ */
    {"\xE6\x89\xB9\xE5\x87\x86", A}, /* 批准 */
    {"\xE6\x98\xAF", A},             /* 是 */
    {"\xE3\x81\xAF\xE3\x81\x84", A}, /* はい */
    {"\xE6\x89\xBF\xE8\xAA\x8D", A}, /* 承認 */
    {"\xEC\x8A\xB9\xEC\x9D\xB8", A}, /* 승인 */
    {"\xE3\x81\xAF\xE3\x81\x84\xE3\x80\x81\xE6\x89\xBF\xE8\xAA\x8D", A}, /* はい、承認 */
    {"No, gracias", D},
    {"Non", D},
    {"Nein", D},
    {"Nicht deployen", D},
    {"Ja, aber nicht jetzt", D},
    {"N\xC3\xA3o", D},               /* Não */
    {"\xD0\x9D\xD0\xB5\xD1\x82", D}, /* Нет */
    {"\xD0\x9D\xD0\xB5 \xD0\xB7\xD0\xB0\xD0\xBF\xD1\x83\xD1\x81\xD0\xBA\xD0\xB0\xD1\x82\xD1\x8C",
     D},                                         /* Не запускать */
    {"\xE4\xB8\x8D", D},                         /* 不 */
    {"\xE6\x8B\x92\xE7\xBB\x9D", D},             /* 拒绝 */
    {"\xE4\xB8\x8D\xE5\x90\x8C\xE6\x84\x8F", D}, /* 不同意 */
    {"\xE4\xB8\x8D\xE6\x89\xB9\xE5\x87\x86", U}, /* 不批准: one unknown run, denies */
    {"\xE3\x81\x84\xE3\x81\x84\xE3\x81\x88", D}, /* いいえ */
    {"\xEC\xB7\xA8\xEC\x86\x8C", D},             /* 취소 */
    {"Blau", U},
    {"Azul", U},
    /* Emoji are words of their own; variation selectors and skin tones do not matter. */
    {"\xE2\x9C\x85", A},                     /* ✅ */
    {"\xF0\x9F\x91\x8D", A},                 /* 👍 */
    {"\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", A}, /* 👍🏽 */
    {"\xE2\x9C\x94\xEF\xB8\x8F", A},         /* ✔️ */
    {"\xF0\x9F\x86\x97", A},                 /* 🆗 */
    {"\xF0\x9F\x9A\x80", A},                 /* 🚀 */
    {"\xE2\x9D\x8C", D},                     /* ❌ */
    {"\xE2\x9D\x8C Reject", D},
    {"\xE2\x9D\x8C Deploy", D},
    {"\xF0\x9F\x91\x8E", D},         /* 👎 */
    {"\xF0\x9F\x9B\x91 Ship", D},    /* 🛑 Ship */
    {"\xE2\x9C\x85\xE2\x9D\x8C", D}, /* ✅❌ */
    /* Words too long for the buffer neither crash nor match. */
    {"Supercalifragilisticexpialidocious-and-then-some-more-letters-approve", U},
    {"Approveeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee yes", U},
    {"Yesssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss", U},
    {"Nooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo", U},
    /* Invalid UTF-8 is a separator, never a crash. */
    {"\xFF\xFE yes", A},
    {"\xC3", U},
    {"\xE2\x9C", U},
};

TEST(label_cases)
{
    for (size_t i = 0; i < N(labels); i++) {
        enum decide_meaning got = decide_label_meaning(labels[i].label);
        CHECKF(got == labels[i].meaning, "\"%s\": meaning %d, expected %d", labels[i].label, got,
               labels[i].meaning);
        CHECKF(decide_label_approves(labels[i].label) == (labels[i].meaning == A),
               "\"%s\": approves disagrees with its meaning", labels[i].label);
    }
    CHECK(decide_label_meaning(NULL) == U);
    CHECK(!decide_label_approves(NULL));
}

/*
 * Every vocabulary word means what its list says: alone, in upper case, with
 * a filler word; an approval word beside an unknown word is unclear, a deny
 * word denies in any sentence.
 */
static void vocabulary(const char *const *list, enum decide_meaning want, size_t min)
{
    size_t n = 0;

    for (int i = 0; list[i]; i++, n++) {
        const char *w = list[i];
        char upper[80], sentence[200];

        CHECKF(strlen(w) < sizeof(upper), "word \"%s\" is too long", w);
        for (size_t j = 0; j <= strlen(w) && j < sizeof(upper); j++)
            upper[j] = (char)(w[j] >= 'a' && w[j] <= 'z' ? w[j] - 'a' + 'A' : w[j]);
        upper[sizeof(upper) - 1] = '\0';
        CHECKF(decide_label_meaning(w) == want, "\"%s\" alone: %d", w, decide_label_meaning(w));
        CHECKF(decide_label_meaning(upper) == want, "\"%s\": %d", upper,
               decide_label_meaning(upper));
        snprintf(sentence, sizeof(sentence), "%s now, please!", w);
        CHECKF(decide_label_meaning(sentence) == want, "\"%s\": %d", sentence,
               decide_label_meaning(sentence));
        snprintf(sentence, sizeof(sentence), "Well, %s, I think.", w);
        CHECKF(decide_label_meaning(sentence) == (want == A ? U : D), "\"%s\": %d", sentence,
               decide_label_meaning(sentence));
        /* With the other list's first word: a deny word always wins. */
        snprintf(sentence, sizeof(sentence), "%s %s", w,
                 want == A ? decide_refusal_words[0] : decide_approve_words[0]);
        CHECKF(decide_label_meaning(sentence) == D, "\"%s\" does not deny", sentence);
        /* Glued to other letters it is another word (emoji stand alone). */
        if ((unsigned char)w[0] < 0xE2 || (unsigned char)w[0] > 0xF0) {
            snprintf(sentence, sizeof(sentence), "x%sx", w);
            CHECKF(decide_label_meaning(sentence) == U, "\"%s\": %d", sentence,
                   decide_label_meaning(sentence));
        }
    }
    CHECK(n >= min);
}

TEST(approve_words)
{
    vocabulary(decide_approve_words, A, 100);
}

TEST(deny_words)
{
    vocabulary(decide_refusal_words, D, 80);
    vocabulary(decide_action_words, D, 40);
}

/* Filler words alone, or together, approve nothing; beside an approval word they do not matter. */
TEST(filler_words)
{
    size_t n;

    for (int i = 0; decide_filler_words[i]; i++) {
        char s[64];

        CHECKF(decide_label_meaning(decide_filler_words[i]) == U, "\"%s\" alone: %d",
               decide_filler_words[i], decide_label_meaning(decide_filler_words[i]));
        snprintf(s, sizeof(s), "Deploy %s", decide_filler_words[i]);
        CHECKF(decide_label_meaning(s) == A, "\"%s\": %d", s, decide_label_meaning(s));
        CHECKF(decide_answer_approves(s), "answer \"%s\" denies", s);
    }
    /* Tiny on purpose. */
    for (n = 0; decide_filler_words[n]; n++)
        ;
    CHECK(n <= 8);
}

/* ------------------------------------------------------------ typed answers */

struct answer_case {
    const char *text;
    bool approves;
};

static const struct answer_case answers[] = {
    {"yes", true},
    {"Yes", true},
    {"  YES  ", true},
    {"yes.", true},
    {"Yes!", true},
    {"yes!!!", true},
    {"ok", true},
    {"OK \xF0\x9F\x91\x8D", true}, /* OK 👍 */
    {"\xF0\x9F\x91\x8D", true},    /* 👍 */
    {"\xE2\x9C\x85", true},        /* ✅ */
    {"approved", true},
    {"Deploy", true},
    {"Go ahead", true},
    {"go ahead!", true},
    {"Ship it", true},
    {"Yes, go ahead", true},
    {"yes please", true},
    {"LGTM", true},
    {"S\xC3\xAD", true},          /* Sí */
    {"\xC2\xA1S\xC3\xAD!", true}, /* ¡Sí! */
    {"Oui", true},
    {"Ja!", true},
    {"\xD0\x94\xD0\xB0", true},                     /* Да */
    {"\xE5\xA5\xBD\xE7\x9A\x84\xE3\x80\x82", true}, /* 好的。 */
    {"\xE3\x81\xAF\xE3\x81\x84", true},             /* はい */
    {"Yes, deploy", true},
    {"Approve and deploy", true},
    {"Deploy now", true},
    {"yes do it", true},
    {"Yes, go ahead please", true},
    {"\xEF\xBC\xB9\xEF\xBD\x85\xEF\xBD\x93\xEF\xBC\x81", true}, /* Ｙｅｓ！ */
    /* The same words as labels that do not approve (rule 1). */
    {"Run tests first", false},
    {"Go back", false},
    {"Continue editing", false},
    {"Deploy postponed", false},
    {"Execute dry run", false},
    {"Okay, I'll think about it", false},
    {"Maybe ok", false},
    {"LGTM but fix tests", false},
    {"Approve nothing", false},
    {"Go?", false},
    {"Go\xEF\xBC\x9F", false}, /* Go？ */
    {"Don\xC2\xB4t", false},
    {"Don`t deploy", false},
    {"Disagree", false},
    {"Negative", false},
    /* Stricter than a label: only . ! , and approval emoji between the words. */
    {"[Deploy]", false},
    {"\xF0\x9F\x94\xB5 Deploy", false}, /* 🔵 Deploy */
    {"Deploy - now", false},
    /* Refusals in words the deny list does not hold. */
    {"I'd rather you didn't", false},
    {"absolutely out of the question", false},
    {"Please wait for Bob", false},
    {"let me think about it", false},
    {"nope", false},
    {"no", false},
    {"No.", false},
    {"not yet", false},
    {"don't", false},
    /* An approval word inside a longer answer is not an approval. */
    {"yes but only on staging", false},
    {"yes?", false},
    {"ok...?", false},
    {"Deploy tomorrow", false},
    {"go home", false},
    {"ok \xF0\x9F\xA4\x94", false},              /* ok 🤔 */
    {"\xF0\x9F\xA4\x94 ok", false},              /* 🤔 ok */
    {"yes \xE2\x9D\x8C", false},                 /* yes ❌ */
    {"\xF0\x9F\x91\x8D\xF0\x9F\x91\x8E", false}, /* 👍👎 */
    {"yes, no", false},
    {"'yes'", false},
    {"\"ok\"", false},
    {"yes - after lunch", false},
    {"", false},
    {"   ", false},
    {"...", false},
    {"blue", false},
    {"yes yes yes yes yes", false},
};

TEST(answer_cases)
{
    for (size_t i = 0; i < N(answers); i++) {
        bool got = decide_answer_approves(answers[i].text);
        CHECKF(got == answers[i].approves, "answer \"%s\" %s", answers[i].text,
               got ? "approves" : "denies");
    }
    CHECK(!decide_answer_approves(NULL));
}

/* Every single approval word approves as a whole answer; deny words never. */
TEST(answer_vocabulary)
{
    for (int i = 0; decide_approve_words[i]; i++)
        CHECKF(decide_answer_approves(decide_approve_words[i]), "\"%s\" as an answer denies",
               decide_approve_words[i]);
    for (int i = 0; decide_refusal_words[i]; i++)
        CHECKF(!decide_answer_approves(decide_refusal_words[i]), "\"%s\" as an answer approves",
               decide_refusal_words[i]);
    for (int i = 0; decide_action_words[i]; i++)
        CHECKF(!decide_answer_approves(decide_action_words[i]), "\"%s\" as an answer approves",
               decide_action_words[i]);
}

/* ------------------------------------------------------------ contradictions */

struct contra_case {
    const char *label;
    bool approve;
    bool contradicts;
};

static const struct contra_case contras[] = {
    {"Deny", true, true},
    {"\xE2\x9D\x8C Reject", true, true},
    {"Don't deploy", true, true},
    {"Approve", false, true},
    {"\xF0\x9F\x9A\x80 Deploy", false, true},
    {"Yes", false, true},
    {"Approve", true, false},
    {"Deny", false, false},
    {"Don't deploy", false, false},
    /* An unclear label takes the flag as given. */
    {"Blue", true, false},
    {"Blue", false, false},
    {"Revert", false, false},
    {"Plan B", true, false},
    /* Signs that say no and look-alike apostrophes are refusals. */
    {"\xE2\x9C\x97", true, true},
    {"\xF0\x9F\x86\x96", true, true},
    {"Don\xCA\xB9t deploy", true, true},
    {"Don\xE2\x80\x9Bt deploy", true, true},
    /* Approve true: only a refusal contradicts; an action may be what approving does. */
    {"Rollback", true, false},
    {"Revert", true, false},
    {"Cancel", true, false},
    {"Cancel subscription", true, false},
    {"Abort mission", true, false},
    {"Stop the server", true, false},
    {"\xE2\x8F\xB8\xEF\xB8\x8F Hold", true, false}, /* ⏸️ Hold */
    {"Pause", true, false},
    {"Undo", true, false},
    {"Skip", true, false},
    {"Escalate", true, false},
    {"Block IP", true, false},
    {"Halt", true, false},
    {"\xD0\x9E\xD1\x82\xD0\xBC\xD0\xB5\xD0\xBD\xD0\xB0", true, false}, /* Отмена */
    {"\xE5\x8F\x96\xE6\xB6\x88", true, false},                         /* 取消 */
    {"Don't rollback", true, true},
    {"No", true, true},
    {"Never", true, true},
    {"Decline", true, true},
    {"Refuse", true, true},
    {"Veto", true, true},
    {"Disapprove", true, true},
    {"Disallow", true, true},
    {"Disagree", true, true},
    {"Negative", true, true},
    {"Nein", true, true},
    {"\xD0\x9D\xD0\xB5\xD1\x82", true, true}, /* Нет */
    {"\xE6\x8B\x92\xE7\xBB\x9D", true, true}, /* 拒绝 */
    {"\xF0\x9F\x91\x8E", true, true},         /* 👎 */
    {"\xF0\x9F\x9A\xAB Deploy", true, true},  /* 🚫 Deploy */
    {"Don\xC2\xB4t deploy", true, true},
    {"Don\xE2\x80\x98t deploy", true, true},
    {"Don`t deploy", true, true},
    {"Don\xCA\xBCt deploy", true, true},
    /* Evasions that decide.c reads through (validate.c refuses the rest). */
    {"\xEF\xBC\xA4\xEF\xBD\x85\xEF\xBD\x8E\xEF\xBD\x99", true, true}, /* Ｄｅｎｙ */
    {"Reject\xCC\x81", true, true},
    {"De\xE2\x81\xA0ny", true, true},
    {"De\xC2\xADny", true, true},
    /* Approve false: a label that approves under the label rule contradicts. */
    {"Deploy now", false, true},
    {"Ship it", false, true},
    {"OK \xF0\x9F\x91\x8D", false, true},
    {"\xEF\xBC\xA1\xEF\xBD\x90\xEF\xBD\x90\xEF\xBD\x92\xEF\xBD\x8F\xEF\xBD\x96\xEF\xBD\x85", false,
     true}, /* Ａｐｐｒｏｖｅ */
    {"Deploy tomorrow", false, false},
    {"Run tests first", false, false},
    {"Go?", false, false},
    {"Rollback", false, false},
};

TEST(contradictions)
{
    for (size_t i = 0; i < N(contras); i++)
        CHECKF(decide_option_contradicts(contras[i].label, contras[i].approve) ==
                   contras[i].contradicts,
               "{\"%s\", approve %d}: contradicts %d, expected %d", contras[i].label,
               contras[i].approve, !contras[i].contradicts, contras[i].contradicts);
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
    /* The "Deny with reason…" button. */
    CHECK_EQ_INT(decide_callback_parse(ID ":r", id, &idx), 0);
    CHECK_EQ_INT(idx, DECIDE_CALLBACK_REASON);
    CHECK_EQ_INT(decide_callback_parse(ID ":rr", id, &idx), -1);
    CHECK_EQ_INT(decide_callback_parse(ID ":R", id, &idx), -1);
}

TEST(callback_format_bad)
{
    char data[CALLBACK_DATA_MAX + 1], small[20];

    CHECK_EQ_INT(decide_callback_format(ID, 101, data, sizeof(data)), -1);
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
        ID ":-0",
        ID ":00",
        ID ":01",
        ID ":09",
        ID ": 0",
        ID ":0 ",
        ID ":+0",
        ID ":\t1",
        ID ":1\n",
        ID ":\xD9\xA1",     /* ١ ARABIC-INDIC DIGIT ONE */
        ID ":\xEF\xBC\x91", /* １ FULLWIDTH DIGIT ONE */
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
    RUN(approve_words);
    RUN(deny_words);
    RUN(filler_words);
    RUN(answer_cases);
    RUN(answer_vocabulary);
    RUN(contradictions);
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
