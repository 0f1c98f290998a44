/*
 * decide.c - see decide.h.
 */
#include "decide.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The vocabularies. Words are matched whole, after lower-casing; each emoji
 * (one code point, variation selectors and skin tones ignored) is a word of
 * its own. English first, then Spanish, French, German, Portuguese, Italian,
 * Russian, Chinese, Japanese and Korean.
 */
const char *const decide_approve_words[] = {
    /* English */
    "approve",
    "approved",
    "approval",
    "yes",
    "yep",
    "yeah",
    "ok",
    "okay",
    "allow",
    "allowed",
    "accept",
    "accepted",
    "confirm",
    "confirmed",
    "proceed",
    "continue",
    "deploy",
    "execute",
    "run",
    "ship",
    "merge",
    "go",
    "lgtm",
    /* Spanish */
    "s\xC3\xAD",
    "aprobar",
    "apruebo",
    "aprobado",
    "aceptar",
    "acepto",
    "confirmar",
    "confirmo",
    "permitir",
    "continuar",
    "proceder",
    "desplegar",
    "ejecutar",
    "vale",
    /* French */
    "oui",
    "approuver",
    "approuv\xC3\xA9",
    "accepter",
    "accept\xC3\xA9",
    "confirmer",
    "confirm\xC3\xA9",
    "autoriser",
    "continuer",
    "valider",
    "d\xC3\xA9ployer",
    "ex\xC3\xA9"
    "cuter",
    "d'accord",
    /* German */
    "ja",
    "genehmigen",
    "genehmigt",
    "zustimmen",
    "akzeptieren",
    "best\xC3\xA4tigen",
    "best\xC3\xA4tigt",
    "erlauben",
    "fortfahren",
    "weiter",
    "ausf\xC3\xBChren",
    "freigeben",
    "einverstanden",
    /* Portuguese */
    "sim",
    "aprovar",
    "aprovado",
    "aceitar",
    "prosseguir",
    "executar",
    "implantar",
    /* Italian */
    "s\xC3\xAC",
    "approva",
    "approvare",
    "approvato",
    "accetta",
    "accettare",
    "conferma",
    "confermare",
    "consenti",
    "continua",
    "procedi",
    "esegui",
    /* Russian */
    "\xD0\xB4\xD0\xB0",                                                 /* да */
    "\xD0\xBE\xD0\xB4\xD0\xBE\xD0\xB1\xD1\x80\xD0\xB8\xD1\x82\xD1\x8C", /* одобрить */
    "\xD0\xBE\xD0\xB4\xD0\xBE\xD0\xB1\xD1\x80\xD1\x8F\xD1\x8E",         /* одобряю */
    "\xD0\xBF\xD0\xBE\xD0\xB4\xD1\x82\xD0\xB2\xD0\xB5\xD1\x80\xD0\xB4\xD0\xB8\xD1\x82\xD1\x8C",
    /* подтвердить */
    "\xD1\x80\xD0\xB0\xD0\xB7\xD1\x80\xD0\xB5\xD1\x88\xD0\xB8\xD1\x82\xD1\x8C", /* разрешить */
    "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBD\xD1\x8F\xD1\x82\xD1\x8C",                 /* принять */
    "\xD0\xBF\xD1\x80\xD0\xBE\xD0\xB4\xD0\xBE\xD0\xBB\xD0\xB6\xD0\xB8\xD1\x82\xD1\x8C",
    /* продолжить */
    "\xD0\xB2\xD1\x8B\xD0\xBF\xD0\xBE\xD0\xBB\xD0\xBD\xD0\xB8\xD1\x82\xD1\x8C", /* выполнить */
    "\xD0\xB7\xD0\xB0\xD0\xBF\xD1\x83\xD1\x81\xD1\x82\xD0\xB8\xD1\x82\xD1\x8C", /* запустить */
    "\xD1\x85\xD0\xBE\xD1\x80\xD0\xBE\xD1\x88\xD0\xBE",                         /* хорошо */
    "\xD0\xBE\xD0\xBA",                                                         /* ок */
    /* Chinese */
    "\xE6\x98\xAF",             /* 是 */
    "\xE6\x98\xAF\xE7\x9A\x84", /* 是的 */
    "\xE5\xA5\xBD",             /* 好 */
    "\xE5\xA5\xBD\xE7\x9A\x84", /* 好的 */
    "\xE6\x89\xB9\xE5\x87\x86", /* 批准 */
    "\xE5\x90\x8C\xE6\x84\x8F", /* 同意 */
    "\xE7\xA1\xAE\xE8\xAE\xA4", /* 确认 */
    "\xE5\x85\x81\xE8\xAE\xB8", /* 允许 */
    "\xE7\xBB\xA7\xE7\xBB\xAD", /* 继续 */
    "\xE6\x89\xA7\xE8\xA1\x8C", /* 执行 */
    "\xE9\x83\xA8\xE7\xBD\xB2", /* 部署 */
    "\xE5\x8F\xAF\xE4\xBB\xA5", /* 可以 */
    /* Japanese */
    "\xE3\x81\xAF\xE3\x81\x84", /* はい */
    "\xE6\x89\xBF\xE8\xAA\x8D", /* 承認 */
    "\xE8\xA8\xB1\xE5\x8F\xAF", /* 許可 */
    "\xE7\xA2\xBA\xE8\xAA\x8D", /* 確認 */
    "\xE7\xB6\x9A\xE8\xA1\x8C", /* 続行 */
    "\xE5\xAE\x9F\xE8\xA1\x8C", /* 実行 */
    "\xE4\xBA\x86\xE8\xA7\xA3", /* 了解 */
    /* Korean */
    "\xEB\x84\xA4",             /* 네 */
    "\xEC\x98\x88",             /* 예 */
    "\xEC\x8A\xB9\xEC\x9D\xB8", /* 승인 */
    "\xED\x99\x95\xEC\x9D\xB8", /* 확인 */
    "\xED\x97\x88\xEC\x9A\xA9", /* 허용 */
    "\xEA\xB3\x84\xEC\x86\x8D", /* 계속 */
    "\xEC\x8B\xA4\xED\x96\x89", /* 실행 */
    /* Emoji */
    "\xE2\x9C\x85",     /* ✅ U+2705 */
    "\xE2\x9C\x94",     /* ✔ U+2714 */
    "\xE2\x98\x91",     /* ☑ U+2611 */
    "\xF0\x9F\x91\x8D", /* 👍 U+1F44D */
    "\xF0\x9F\x91\x8C", /* 👌 U+1F44C */
    "\xF0\x9F\x9A\x80", /* 🚀 U+1F680 */
    "\xF0\x9F\x86\x97", /* 🆗 U+1F197 */
    NULL,
};

/*
 * Refusals: a deny word that says "no" to the question itself. Only these
 * contradict an option given as {label, approve: true}.
 */
const char *const decide_refusal_words[] = {
    /* English, negations included */
    "deny",
    "denied",
    "reject",
    "rejected",
    "no",
    "nope",
    "nah",
    "decline",
    "declined",
    "refuse",
    "refused",
    "veto",
    "never",
    "not",
    "don't",
    "dont",
    "doesn't",
    "won't",
    "can't",
    "cannot",
    "shouldn't",
    "disapprove",
    "disallow",
    "disagree",
    "negative",
    /* Spanish */
    "rechazar",
    "denegar",
    "nunca",
    "jam\xC3\xA1s",
    "negativo",
    /* French */
    "non",
    "ne",
    "pas",
    "refuser",
    "rejeter",
    "jamais",
    /* German */
    "nein",
    "nicht",
    "kein",
    "keine",
    "ablehnen",
    "verweigern",
    "niemals",
    "dagegen",
    /* Portuguese */
    "n\xC3\xA3o",
    "nao",
    "rejeitar",
    "recusar",
    "negar",
    /* Italian */
    "rifiuta",
    "rifiutare",
    "nega",
    "mai",
    /* Russian */
    "\xD0\xBD\xD0\xB5\xD1\x82",                                                 /* нет */
    "\xD0\xBD\xD0\xB5",                                                         /* не */
    "\xD0\xBE\xD1\x82\xD0\xBA\xD0\xBB\xD0\xBE\xD0\xBD\xD0\xB8\xD1\x82\xD1\x8C", /* отклонить */
    "\xD0\xB7\xD0\xB0\xD0\xBF\xD1\x80\xD0\xB5\xD1\x82\xD0\xB8\xD1\x82\xD1\x8C", /* запретить */
    "\xD0\xBD\xD0\xB8\xD0\xBA\xD0\xBE\xD0\xB3\xD0\xB4\xD0\xB0",                 /* никогда */
    "\xD0\xBF\xD1\x80\xD0\xBE\xD1\x82\xD0\xB8\xD0\xB2",                         /* против */
    /* Chinese */
    "\xE4\xB8\x8D",                         /* 不 */
    "\xE5\x90\xA6",                         /* 否 */
    "\xE4\xB8\x8D\xE8\xA6\x81",             /* 不要 */
    "\xE4\xB8\x8D\xE5\x90\x8C\xE6\x84\x8F", /* 不同意 */
    "\xE6\x8B\x92\xE7\xBB\x9D",             /* 拒绝 */
    "\xE7\xA6\x81\xE6\xAD\xA2",             /* 禁止 */
    "\xE5\x88\xAB",                         /* 别 */
    "\xE5\x8F\x8D\xE5\xAF\xB9",             /* 反对 */
    /* Japanese */
    "\xE3\x81\x84\xE3\x81\x84\xE3\x81\x88", /* いいえ */
    "\xE6\x8B\x92\xE5\x90\xA6",             /* 拒否 */
    "\xE5\x8D\xB4\xE4\xB8\x8B",             /* 却下 */
    "\xE3\x83\x80\xE3\x83\xA1",             /* ダメ */
    "\xE3\x81\xA0\xE3\x82\x81",             /* だめ */
    "\xE5\x8F\x8D\xE5\xAF\xBE",             /* 反対 */
    /* Korean */
    "\xEC\x95\x84\xEB\x8B\x88\xEC\x9A\x94", /* 아니요 */
    "\xEC\x95\x84\xEB\x8B\x88\xEC\x98\xA4", /* 아니오 */
    "\xEA\xB1\xB0\xEB\xB6\x80",             /* 거부 */
    "\xEB\xB0\x98\xEB\x8C\x80",             /* 반대 */
    /* Emoji */
    "\xE2\x9D\x8C",     /* ❌ U+274C */
    "\xE2\x9D\x8E",     /* ❎ U+274E */
    "\xE2\x9C\x96",     /* ✖ U+2716 */
    "\xE2\x9B\x94",     /* ⛔ U+26D4 */
    "\xF0\x9F\x9A\xAB", /* 🚫 U+1F6AB */
    "\xF0\x9F\x91\x8E", /* 👎 U+1F44E */
    "\xF0\x9F\x99\x85", /* 🙅 U+1F645 */
    "\xE2\x9C\x97",     /* ✗ U+2717 */
    "\xE2\x9C\x98",     /* ✘ U+2718 */
    "\xE2\x98\x92",     /* ☒ U+2612 */
    "\xE2\x8A\x98",     /* ⊘ U+2298 */
    "\xE2\x83\xA0",     /* U+20E0 combining enclosing circle backslash (prohibition) */
    "\xF0\x9F\x9A\xB7", /* 🚷 U+1F6B7 */
    "\xF0\x9F\x86\x96", /* 🆖 U+1F196 "no good" */
    "\xF0\x9F\xA4\xB7", /* 🤷 U+1F937 */
    NULL,
};

/*
 * Actions other than going ahead, and words that hedge: a plain label that
 * holds one denies, but they may name a button that approves ({"label":
 * "Rollback", "approve": true} for "Roll back now?").
 */
const char *const decide_action_words[] = {
    /* English */
    "cancel",
    "canceled",
    "cancelled",
    "abort",
    "stop",
    "hold",
    "wait",
    "pause",
    "later",
    "postpone",
    "skip",
    "review",
    "escalate",
    "revert",
    "rollback",
    "undo",
    "block",
    "halt",
    "without",
    "unless",
    "except",
    /* Spanish */
    "cancelar",
    "detener",
    "parar",
    "esperar",
    /* French */
    "annuler",
    "arr\xC3\xAAter",
    "attendre",
    /* German */
    "abbrechen",
    "stopp",
    "stoppen",
    "warten",
    /* Italian */
    "annulla",
    "ferma",
    "aspetta",
    /* Russian */
    "\xD0\xBE\xD1\x82\xD0\xBC\xD0\xB5\xD0\xBD\xD0\xB0",                 /* отмена */
    "\xD0\xBE\xD1\x82\xD0\xBC\xD0\xB5\xD0\xBD\xD0\xB8\xD1\x82\xD1\x8C", /* отменить */
    "\xD1\x81\xD1\x82\xD0\xBE\xD0\xBF",                                 /* стоп */
    /* Chinese */
    "\xE5\x8F\x96\xE6\xB6\x88", /* 取消 */
    "\xE5\x81\x9C\xE6\xAD\xA2", /* 停止 */
    /* Japanese */
    "\xE4\xB8\xAD\xE6\xAD\xA2",                                     /* 中止 */
    "\xE3\x82\xAD\xE3\x83\xA3\xE3\x83\xB3\xE3\x82\xBB\xE3\x83\xAB", /* キャンセル */
    /* Korean */
    "\xEC\xB7\xA8\xEC\x86\x8C", /* 취소 */
    "\xEC\xA4\x91\xEC\xA7\x80", /* 중지 */
    /* Emoji */
    "\xE2\x9C\x8B",     /* ✋ U+270B */
    "\xE2\x8F\xB8",     /* ⏸ U+23F8 */
    "\xE2\x8F\xB9",     /* ⏹ U+23F9 */
    "\xF0\x9F\x9B\x91", /* 🛑 U+1F6D1 */
    NULL,
};

/* Words that may stand beside approval words without changing what they say. */
const char *const decide_filler_words[] = {
    "it", "please", "now", "ahead", "and", "for", "do", NULL,
};

/* ------------------------------------------------------------ scanning */

enum tok { TOK_END, TOK_WORD, TOK_SYMBOL, TOK_SPACE };

/* Decode one code point at `p` into *cp; bytes used, 1 with *cp = 0xFFFD for a bad byte. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
    size_t len;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0) {
        *cp = p[0] & 0x1F;
        len = 2;
    } else if ((p[0] & 0xF0) == 0xE0) {
        *cp = p[0] & 0x0F;
        len = 3;
    } else if ((p[0] & 0xF8) == 0xF0) {
        *cp = p[0] & 0x07;
        len = 4;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        *cp = (*cp << 6) | (p[i] & 0x3F);
    }
    return len;
}

/* utf8_next, with full-width ASCII (U+FF01-U+FF5E) read as the ASCII it shows. */
static size_t next_cp(const char *p, uint32_t *cp)
{
    size_t len = utf8_next((const unsigned char *)p, cp);

    if (*cp >= 0xFF01 && *cp <= 0xFF5E)
        *cp -= 0xFEE0;
    return len;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Marks that change how the code point before them looks, and characters
 * that are not seen at all: ignored, so that they neither split nor hide a
 * word. Variation selectors, skin tones, the keycap, combining diacritical
 * marks (U+0300-U+036F), soft hyphen, zero-width and bidi marks, word
 * joiners, BOM, tags.
 */
static bool is_modifier(uint32_t cp)
{
    return (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x1F3FB && cp <= 0x1F3FF) || cp == 0x20E3 || (cp >= 0xE0000 && cp <= 0xE007F) ||
           (cp >= 0x300 && cp <= 0x36F) || cp == 0xAD || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF || cp == 0x61C || cp == 0x180E;
}

static bool is_space(uint32_t cp)
{
    return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* A non-ASCII code point that is not part of a word: punctuation, symbols, emoji. */
static bool is_symbol(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || cp == 0xFFFD ||
           (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE10 && cp <= 0xFE6F) || cp == 0xFEFF ||
           (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
           (cp >= 0x1F000 && cp <= 0x1FAFF);
}

static bool is_letter(uint32_t cp)
{
    if (cp < 0x80)
        return isalnum((int)cp) != 0;
    return !is_symbol(cp) && !is_modifier(cp) && !is_space(cp);
}

/* Lower case for the scripts of the vocabularies: ASCII, Latin-1, Greek, Cyrillic. */
static uint32_t lower(uint32_t cp)
{
    if (cp >= 'A' && cp <= 'Z')
        return cp + 32;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
        return cp + 32;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F)
        return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F)
        return cp + 80;
    return cp;
}

/*
 * Bytes of the apostrophe at `p`, 0 if none: ' and everything that looks
 * like one: U+2019 and U+2018 (typographic quotes phones type), ` (U+0060),
 * U+00B4 acute accent, U+02BC modifier letter apostrophe, U+02B9 modifier
 * letter prime, U+201B reversed comma, U+A78C saltillo, U+2032 prime and the
 * full-width U+FF07 (read as ').
 */
static size_t apostrophe(const char *p)
{
    uint32_t cp;
    size_t len = next_cp(p, &cp);

    if (cp == '\'' || cp == '`' || cp == 0xB4 || cp == 0x2018 || cp == 0x2019 || cp == 0x2BC ||
        cp == 0x2B9 || cp == 0x201B || cp == 0xA78C || cp == 0x2032)
        return len;
    return 0;
}

/*
 * Question marks (their small, vertical and full-width forms, the
 * interrobang, ⍰), the emoji ones and 🤔: a label or answer that asks
 * approves nothing.
 */
static bool is_question(uint32_t cp)
{
    return cp == '?' || cp == 0xBF || cp == 0x37E || cp == 0x61F || cp == 0x2047 || cp == 0x2048 ||
           cp == 0x2049 || cp == 0x203D || cp == 0x2370 || cp == 0x2753 || cp == 0x2754 ||
           cp == 0x2E2E || cp == 0xFE16 || cp == 0xFE56 || cp == 0xFF1F || cp == 0x1F914;
}

#define TOKEN_MAX 64

/*
 * The next token of *pp: a word (letters and digits, with apostrophes
 * inside, lower case in `buf`), one symbol code point (UTF-8 in `buf`, its
 * value in *cp), or one space or ASCII punctuation code point (*cp).
 * Modifiers are skipped. A word too long for `buf` comes back as "\x01",
 * which matches nothing.
 */
static enum tok scan(const char **pp, char buf[TOKEN_MAX], uint32_t *cp)
{
    const char *p = *pp;
    size_t n = 0, len;
    bool overflow = false;

    for (;;) {
        if (!*p) {
            *pp = p;
            return TOK_END;
        }
        len = next_cp(p, cp);
        if (!is_modifier(*cp))
            break;
        p += len;
    }
    if (apostrophe(p) > 0) {
        /* One outside a word is a quote. */
        *pp = p + len;
        *cp = '\'';
        return TOK_SPACE;
    }
    if (!is_letter(*cp)) {
        p += len;
        *pp = p;
        if (*cp < 0x80 || is_space(*cp))
            return TOK_SPACE;
        buf[utf8_put(*cp, buf)] = '\0';
        return TOK_SYMBOL;
    }
    for (;;) {
        uint32_t c;
        size_t a;

        if (!*p)
            break;
        if (n > 0 && (a = apostrophe(p)) > 0) {
            uint32_t after;
            next_cp(p + a, &after);
            if (!p[a] || !is_letter(after))
                break;
            if (n + 1 < TOKEN_MAX)
                buf[n++] = '\'';
            else
                overflow = true;
            p += a;
            continue;
        }
        len = next_cp(p, &c);
        if (is_modifier(c)) {
            p += len;
            continue;
        }
        if (!is_letter(c))
            break;
        if (n + 4 < TOKEN_MAX)
            n += utf8_put(lower(c), buf + n);
        else
            overflow = true;
        p += len;
    }
    buf[n] = '\0';
    if (overflow)
        memcpy(buf, "\x01", 2);
    *pp = p;
    return TOK_WORD;
}

static bool listed(const char *const *list, const char *w)
{
    for (int i = 0; list[i]; i++)
        if (!strcmp(w, list[i]))
            return true;
    return false;
}

/*
 * Read `text` once: whether it holds a refusal, another deny word, a
 * question, an approval word or emoji, and a word that is neither an
 * approval nor a filler word. For typed answers (`answer`), also whether
 * anything but spaces, . ! , (and their CJK and Spanish forms) and approval
 * emoji stands between the words, and how many words there are.
 */
struct reading {
    bool refusal, deny, question, approval, other, odd;
    size_t words;
};

/* Punctuation a typed approval may carry: . ! , and their CJK and Spanish forms. */
static bool answer_punct(uint32_t cp)
{
    return cp == '.' || cp == '!' || cp == ',' || cp == 0xA1 || cp == 0x3001 || cp == 0x3002;
}

static void read_text(const char *text, struct reading *r)
{
    const char *p = text ? text : "";
    char buf[TOKEN_MAX];
    uint32_t cp;
    enum tok t;

    memset(r, 0, sizeof(*r));
    while ((t = scan(&p, buf, &cp)) != TOK_END) {
        if (t == TOK_SPACE) {
            if (is_question(cp))
                r->question = true;
            else if (!is_space(cp) && !answer_punct(cp))
                r->odd = true;
            continue;
        }
        if (t == TOK_WORD)
            r->words++;
        if (listed(decide_refusal_words, buf))
            r->refusal = r->deny = true;
        else if (listed(decide_action_words, buf))
            r->deny = true;
        else if (listed(decide_approve_words, buf))
            r->approval = true;
        else if (t == TOK_WORD && !listed(decide_filler_words, buf))
            r->other = true;
        else if (t == TOK_SYMBOL && is_question(cp))
            r->question = true;
        else if (t == TOK_SYMBOL && !answer_punct(cp))
            r->odd = true;
    }
}

static enum decide_meaning meaning_of(const struct reading *r)
{
    if (r->deny)
        return DECIDE_DENIES;
    return r->approval && !r->other && !r->question ? DECIDE_APPROVES : DECIDE_UNCLEAR;
}

enum decide_meaning decide_label_meaning(const char *label)
{
    struct reading r;

    read_text(label, &r);
    return meaning_of(&r);
}

bool decide_label_approves(const char *label)
{
    return decide_label_meaning(label) == DECIDE_APPROVES;
}

bool decide_answer_approves(const char *text)
{
    struct reading r;

    read_text(text, &r);
    return meaning_of(&r) == DECIDE_APPROVES && !r.odd && r.words <= DECIDE_ANSWER_WORDS_MAX;
}

bool decide_option_contradicts(const char *label, bool approve)
{
    struct reading r;

    read_text(label, &r);
    return approve ? r.refusal : meaning_of(&r) == DECIDE_APPROVES;
}

int decide_callback_format(const char *id, int idx, char *out, size_t outlen)
{
    if (uuid_valid(id) && idx == DECIDE_CALLBACK_REASON)
        return lg_snprintf(out, outlen, "%s:r", id) < 0 ? -1 : 0;
    if (!uuid_valid(id) || idx < 0 || idx > 99)
        return -1;
    return lg_snprintf(out, outlen, "%s:%d", id, idx) < 0 ? -1 : 0;
}

int decide_callback_parse(const char *data, char id[37], int *idx)
{
    const char *colon, *d;

    if (!data || strlen(data) > CALLBACK_DATA_MAX)
        return -1;
    colon = strchr(data, ':');
    if (!colon || colon - data != 36)
        return -1;
    memcpy(id, data, 36);
    id[36] = '\0';
    if (!uuid_valid(id))
        return -1;
    d = colon + 1;
    if (!strcmp(d, "r")) {
        *idx = DECIDE_CALLBACK_REASON;
        return 0;
    }
    /* "0" or 1-99 without sign, space or leading zero. */
    if (!isdigit((unsigned char)d[0]) || (d[1] && !isdigit((unsigned char)d[1])) ||
        (d[1] && d[2]) || (d[0] == '0' && d[1]))
        return -1;
    *idx = d[1] ? (d[0] - '0') * 10 + (d[1] - '0') : d[0] - '0';
    return 0;
}

static bool contains(const int64_t *set, size_t n, int64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == v)
            return true;
    return false;
}

bool decide_authorized(const struct approver_policy *p, int64_t user_id)
{
    bool ok;

    if (user_id <= 0)
        return false;
    if (p->napprovers > 0)
        ok = contains(p->approvers, p->napprovers, user_id);
    else if (p->chat_id > 0)
        ok = user_id == p->chat_id;
    else
        ok = p->group_any_member;
    if (ok && p->nallow > 0)
        ok = contains(p->allow, p->nallow, user_id);
    return ok;
}

int decide_parse_int_array(const char *text, int64_t *out, size_t max)
{
    const char *p = text;
    size_t n = 0;

    if (!p || *p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] ? -1 : 0;
    for (;;) {
        char *end;
        long long v;

        /* strtoll alone would also take leading space and a '+', and saturate. */
        if ((*p != '-' && !isdigit((unsigned char)*p)) || n >= max)
            return -1;
        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || errno)
            return -1;
        out[n++] = v;
        p = end;
        if (*p == '}')
            return p[1] ? -1 : (int)n;
        if (*p++ != ',')
            return -1;
    }
}

int decide_parse_bool_array(const char *text, bool *out, size_t max)
{
    const char *p = text;
    size_t n = 0;

    if (!p || *p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] ? -1 : 0;
    for (;;) {
        if ((*p != 't' && *p != 'f') || n >= max)
            return -1;
        out[n++] = *p++ == 't';
        if (*p == '}')
            return p[1] ? -1 : (int)n;
        if (*p++ != ',')
            return -1;
    }
}
