/*
 * log.c - see log.h.
 *
 * The tail is read as a sequence of tokens separated by spaces: `key=value`
 * where the value is bare (up to the next space) or quoted ("..."), and made
 * of literal text and printf conversions. A token without '=' is a value of
 * the key "detail". Each conversion is done here, one at a time, so that
 * what it produced is known to be a value and is escaped as one.
 */
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;
int log_format = LOG_FORMAT_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    if (!strcasecmp(s, "warning"))
        return LOG_WARN;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, level_names[i]))
            return i;
    return -1;
}

int log_format_parse(const char *s)
{
    if (!strcasecmp(s, "logfmt"))
        return LOG_FORMAT_LOGFMT;
    if (!strcasecmp(s, "json"))
        return LOG_FORMAT_JSON;
    return -1;
}

/* ---------------------------------------------------------------- escaping */

/* The escape of the character s[i] (k bytes, code point cp; k == 0: a broken byte) or NULL. */
static const char *escape_of(int format, const unsigned char *s, size_t i, size_t k, uint32_t cp,
                             char tmp[16])
{
    if (k == 0)
        return format == LOG_FORMAT_JSON ? "\\ufffd" : (snprintf(tmp, 16, "\\x%02x", s[i]), tmp);
    switch (cp) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        break;
    }
    if (cp < 0x20 || cp == 0x7F) {
        snprintf(tmp, 16, format == LOG_FORMAT_JSON ? "\\u%04x" : "\\x%02x", (unsigned)cp);
        return tmp;
    }
    if (cp < 0x80 || !utf8_has_unsafe((const char *)s + i, k))
        return NULL;
    if (format != LOG_FORMAT_JSON)
        snprintf(tmp, 16, "\\u{%04X}", (unsigned)cp);
    else if (cp > 0xFFFF)
        snprintf(tmp, 16, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
                 0xDC00 + ((cp - 0x10000) & 0x3FF));
    else
        snprintf(tmp, 16, "\\u%04x", (unsigned)cp);
    return tmp;
}

size_t log_escape(char *out, size_t outlen, int format, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    char tmp[16];

    if (outlen == 0)
        return 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t k = utf8_char(u, len, i, &cp);
        const char *esc = escape_of(format, u, i, k, cp, tmp);
        const char *piece = esc ? esc : s + i;
        size_t plen = esc ? strlen(esc) : k;

        if (o + plen + 1 > outlen)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += k ? k : 1;
    }
    out[o] = '\0';
    return o;
}

/* ---------------------------------------------------------------- the tail */

/* A bounded output buffer; `full` once something did not fit. */
struct out {
    char *p;
    size_t len, cap;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || o->len + n + 1 > o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* One field of the tail as it is read. */
struct field {
    char key[52];
    char val[LOG_VALUE_MAX + 1];
    size_t vlen;
    bool cut;      /* the value was longer than LOG_VALUE_MAX */
    bool quoted;   /* the tail quoted it: logfmt keeps it quoted */
    bool implicit; /* no key= in the tail */
    bool literal;  /* the value holds literal text of the tail */
    int convs;     /* conversions in the value */
    bool numconv;  /* its last conversion was a number's */
    bool numeric;  /* exactly one numeric conversion and nothing else */
};

static void val_add(struct field *f, const char *s, size_t n)
{
    size_t room = LOG_VALUE_MAX - f->vlen;

    if (n > room) {
        n = room;
        f->cut = true;
    }
    memcpy(f->val + f->vlen, s, n);
    f->vlen += n;
    f->val[f->vlen] = '\0';
}

/* Append 0..999 in decimal at out; how many characters. */
static size_t put_small(char *out, int v)
{
    size_t n = 0;

    if (v >= 100)
        out[n++] = (char)('0' + v / 100);
    if (v >= 10)
        out[n++] = (char)('0' + v / 10 % 10);
    out[n++] = (char)('0' + v % 10);
    return n;
}

/*
 * spec = "%" flags [width] ["." prec] length conversion, NUL-terminated, for
 * snprintf. It always fits its 48 bytes: flags are at most 7, width and prec
 * at most 100 (-1: none), the length modifier at most 2 characters. Built by
 * hand: one snprintf per logged number rather than three.
 */
static void spec_build(char spec[48], const char *flags, int width, int prec, const char *lstart,
                       const char *conv)
{
    size_t n = 0, fl = strlen(flags), ll = (size_t)(conv - lstart);

    spec[n++] = '%';
    memcpy(spec + n, flags, fl);
    n += fl;
    if (width >= 0)
        n += put_small(spec + n, width);
    if (prec >= 0) {
        spec[n++] = '.';
        n += put_small(spec + n, prec);
    }
    memcpy(spec + n, lstart, ll);
    n += ll;
    spec[n++] = *conv;
    spec[n] = '\0';
}

/*
 * Do the conversion at *fmt (just past '%') into f, advancing *fmt; false
 * when it is one this module does not know (then nothing more of the
 * argument list can be read safely).
 */
static bool convert(const char **fmt, va_list *ap, struct field *f)
{
    const char *p = *fmt, *lstart;
    char spec[48], tmp[128], flags[8];
    size_t nf = 0;
    int prec = -1, width = -1;
    enum { L_NONE, L_HH, L_H, L_L, L_LL, L_Z, L_J, L_T, L_BIGL } lm = L_NONE;
    int n = 0;

    if (*p == '%') {
        val_add(f, "%", 1);
        *fmt = p + 1;
        return true;
    }
    while (*p && strchr("-+ #0", *p)) {
        if (nf < sizeof(flags) - 1)
            flags[nf++] = *p;
        p++;
    }
    flags[nf] = '\0';
    if (*p == '*') {
        width = va_arg(*ap, int);
        p++;
    } else {
        while (*p >= '0' && *p <= '9')
            width = width < 10000 ? (width < 0 ? 0 : width) * 10 + (*p++ - '0') : (p++, width);
    }
    if (width > 100 || width < -1)
        width = -1;
    if (*p == '.') {
        p++;
        prec = 0;
        if (*p == '*') {
            prec = va_arg(*ap, int);
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                prec = prec < 100000 ? prec * 10 + (*p++ - '0') : (p++, prec);
        }
        if (prec < 0)
            prec = -1;
    }
    lstart = p;
    if (p[0] == 'h' && p[1] == 'h')
        lm = L_HH, p += 2;
    else if (p[0] == 'l' && p[1] == 'l')
        lm = L_LL, p += 2;
    else if (*p == 'h')
        lm = L_H, p++;
    else if (*p == 'l')
        lm = L_L, p++;
    else if (*p == 'z')
        lm = L_Z, p++;
    else if (*p == 'j')
        lm = L_J, p++;
    else if (*p == 't')
        lm = L_T, p++;
    else if (*p == 'L')
        lm = L_BIGL, p++;
    if (!*p)
        return false;
    /* The conversion again, with any '*' replaced by its number (%s copies instead). */
    if (*p != 's')
        spec_build(spec, flags, width, prec > 100 ? 100 : prec, lstart, p);
    f->convs++;
    switch (*p) {
    case 's': {
        const char *s = va_arg(*ap, const char *);
        size_t len;

        if (!s)
            s = "";
        len = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
        if (!strchr(flags, '-'))
            for (size_t i = len; (int)i < width; i++)
                val_add(f, " ", 1);
        val_add(f, s, len);
        if (strchr(flags, '-'))
            for (size_t i = len; (int)i < width; i++)
                val_add(f, " ", 1);
        *fmt = p + 1;
        return true;
    }
    case 'd':
    case 'i':
        f->numconv = true;
        if (lm == L_LL)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, long long));
        else if (lm == L_L)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, long));
        else if (lm == L_Z)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, ssize_t));
        else if (lm == L_J)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, intmax_t));
        else if (lm == L_T)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, ptrdiff_t));
        else
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, int));
        break;
    case 'u':
    case 'x':
    case 'X':
    case 'o':
        f->numconv = *p == 'u';
        if (lm == L_LL)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, unsigned long long));
        else if (lm == L_L)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, unsigned long));
        else if (lm == L_Z)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, size_t));
        else if (lm == L_J)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, uintmax_t));
        else if (lm == L_T)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, ptrdiff_t));
        else
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, unsigned));
        break;
    case 'f':
    case 'F':
    case 'g':
    case 'G':
    case 'e':
    case 'E':
        f->numconv = true;
        if (lm == L_BIGL)
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, long double));
        else
            n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, double));
        break;
    case 'c':
        n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, int));
        break;
    case 'p':
        n = snprintf(tmp, sizeof(tmp), spec, va_arg(*ap, void *));
        break;
    default:
        return false;
    }
    if (n > 0)
        val_add(f, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    *fmt = p + 1;
    return true;
}

/* True when s is a JSON number (what a numeric conversion made, not nan or +1). */
static bool json_number(const char *s)
{
    if (*s == '-')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    if (*s == '0' && s[1] >= '0' && s[1] <= '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (*s == '.') {
        if (*++s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return *s == '\0';
}

static bool bare_ok(const struct field *f)
{
    if (f->quoted || f->vlen == 0)
        return false;
    for (size_t i = 0; i < f->vlen; i++) {
        unsigned char c = (unsigned char)f->val[i];
        if (c <= 0x20 || c >= 0x7F || c == '"' || c == '=' || c == '\\')
            return false;
    }
    return true;
}

/* Append ` key=value` (logfmt) or `,"key":value` (json) to o. */
static void field_render(struct out *o, int format, struct field *f)
{
    char esc[LOG_VALUE_MAX * 9 + 8];
    size_t vlen = f->vlen, elen;

    if (f->cut)
        vlen = utf8_cut(f->val, f->vlen, f->vlen > 3 ? f->vlen - 3 : f->vlen);
    f->val[vlen] = '\0';
    f->vlen = vlen;
    elen = log_escape(esc, sizeof(esc) - 3, format, f->val, vlen);
    if (f->cut)
        memcpy(esc + elen, "...", 4);
    if (format == LOG_FORMAT_JSON) {
        puts_(o, ",\"");
        puts_(o, f->key);
        puts_(o, "\":");
        if (f->numeric && !f->cut && json_number(f->val)) {
            puts_(o, f->val);
        } else {
            puts_(o, "\"");
            puts_(o, esc);
            puts_(o, "\"");
        }
        return;
    }
    puts_(o, " ");
    puts_(o, f->key);
    puts_(o, "=");
    if (bare_ok(f)) {
        puts_(o, esc);
    } else {
        puts_(o, "\"");
        puts_(o, esc);
        puts_(o, "\"");
    }
}

/* Copy a key from the tail: [A-Za-z0-9_.-] kept, others '_'; the header keys renamed. */
static void key_set(struct field *f, const char *k, size_t n)
{
    static const char *const reserved[] = {"ts", "level", "pid", "msg"};
    size_t o = 0;

    for (size_t i = 0; i < 4; i++)
        if (n == strlen(reserved[i]) && !memcmp(k, reserved[i], n)) {
            memcpy(f->key, "x_", 2);
            o = 2;
        }
    for (size_t i = 0; i < n && o < sizeof(f->key) - 1; i++) {
        char c = k[i];
        bool okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == '-';
        f->key[o++] = okc ? c : '_';
    }
    if (o == 0)
        memcpy(f->key, "detail", 7), o = 6;
    f->key[o] = '\0';
}

/*
 * Read the next field of the tail at *fmt into f. 1: a field; 0: the end;
 * -1: a conversion this module does not know (the rest is dropped).
 */
static int field_next(const char **fmt, va_list *ap, struct field *f)
{
    const char *p = *fmt, *eq;

    memset(f, 0, sizeof(*f));
    while (*p == ' ')
        p++;
    if (!*p) {
        *fmt = p;
        return 0;
    }
    for (eq = p; *eq && *eq != '=' && *eq != ' ' && *eq != '%' && *eq != '"'; eq++)
        ;
    if (*eq == '=' && eq > p) {
        key_set(f, p, (size_t)(eq - p));
        p = eq + 1;
    } else {
        key_set(f, "detail", 6);
        f->implicit = true;
    }
    if (*p == '"') {
        f->quoted = true;
        p++;
    }
    while (*p && (f->quoted ? *p != '"' : *p != ' ')) {
        if (*p == '\\' && f->quoted && p[1] == '"') {
            val_add(f, "\"", 1);
            f->literal = true;
            p += 2;
        } else if (*p == '%') {
            p++;
            if (!convert(&p, ap, f)) {
                *fmt = p;
                return -1;
            }
        } else {
            val_add(f, p, 1);
            f->literal = true;
            p++;
        }
    }
    if (f->quoted && *p == '"')
        p++;
    f->numeric = f->convs == 1 && f->numconv && !f->literal && !f->quoted;
    *fmt = p;
    return 1;
}

size_t log_render(char *out, size_t outlen, int format, const char *ts, int pid, int level,
                  const char *msg, const char *kvfmt, va_list ap)
{
    char esc[1024], num[24];
    struct out o = {out, 0, outlen > 40 ? outlen - 40 : 0, false};
    struct field f;
    const char *p = kvfmt ? kvfmt : "";
    va_list aq;
    int rc;

    if (outlen == 0)
        return 0;
    out[0] = '\0';
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;
    (void)log_escape(esc, sizeof(esc), format, msg ? msg : "", msg ? strlen(msg) : 0);
    snprintf(num, sizeof(num), "%d", pid);
    if (format == LOG_FORMAT_JSON) {
        puts_(&o, "{\"ts\":\"");
        puts_(&o, ts);
        puts_(&o, "\",\"level\":\"");
        puts_(&o, level_names[level]);
        puts_(&o, "\",\"pid\":");
        puts_(&o, num);
        puts_(&o, ",\"msg\":\"");
        puts_(&o, esc);
        puts_(&o, "\"");
    } else {
        puts_(&o, ts);
        puts_(&o, " level=");
        puts_(&o, level_names[level]);
        puts_(&o, " pid=");
        puts_(&o, num);
        puts_(&o, " msg=\"");
        puts_(&o, esc);
        puts_(&o, "\"");
    }
    va_copy(aq, ap);
    while ((rc = field_next(&p, &aq, &f)) != 0) {
        size_t before = o.len;

        if (rc < 0) {
            f.vlen = 0;
            f.val[0] = '\0';
            f.quoted = false;
            key_set(&f, "log_error", 9);
            val_add(&f, "unknown_conversion", 18);
        }
        if (!(f.implicit && f.vlen == 0))
            field_render(&o, format, &f);
        if (o.full) {
            /* Cut on a field boundary, in the room kept back: the line stays well-formed. */
            o.len = before;
            o.p[before] = '\0';
            o.full = false;
            o.cap = outlen;
            puts_(&o, format == LOG_FORMAT_JSON ? ",\"truncated\":true" : " truncated=true");
            break;
        }
        if (rc < 0)
            break;
    }
    va_end(aq);
    /* 40 bytes were kept back for the marker and the end of the line. */
    o.cap = outlen;
    o.full = false;
    puts_(&o, format == LOG_FORMAT_JSON ? "}\n" : "\n");
    return o.len;
}

/* This process's id, read once per process (a forked child reads its own). */
static int log_pid_cached;
static pthread_once_t log_pid_once = PTHREAD_ONCE_INIT;

static void log_pid_forked(void)
{
    __atomic_store_n(&log_pid_cached, 0, __ATOMIC_RELAXED);
}

static void log_pid_watch_forks(void)
{
    (void)pthread_atfork(NULL, NULL, log_pid_forked);
}

static int log_pid(void)
{
    int pid = __atomic_load_n(&log_pid_cached, __ATOMIC_RELAXED);

    if (pid == 0) {
        pthread_once(&log_pid_once, log_pid_watch_forks);
        pid = (int)getpid();
        __atomic_store_n(&log_pid_cached, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

void log_emit(int level, const char *msg, const char *kvfmt, ...)
{
    char line[LOG_LINE_MAX], ts[64], day[32];
    struct timespec now;
    struct tm tm;
    va_list ap;
    size_t n;

    if (level < __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof(ts), "%s.%03dZ", day, (int)(now.tv_nsec / 1000000) % 1000);
    va_start(ap, kvfmt);
    n = log_render(line, sizeof(line), __atomic_load_n(&log_format, __ATOMIC_RELAXED), ts,
                   log_pid(), level, msg, kvfmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when several processes share stderr. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
