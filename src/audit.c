/*
 * audit.c - `loopgate audit export|verify`: the tamper-evident audit trail.
 *
 * 1. The chain (docs/AUDIT.md): every audit row of a tenant has a place
 *    `seq` (1, 2, ...), the hash of the tenant's previous row `prev_sha256`
 *    and its own `row_sha256`, SHA-256 of its canonical text. The database
 *    writes them before each insert (sql/functions/audit_log_chain.sql) and
 *    keeps each tenant's last seq and hash in audit_heads.
 * 2. The canonical text is rebuilt here, in C, from the raw columns
 *    (audit_row_sha256 below), never asked of the database: a verify that
 *    called the database's own audit_row_sha256() would agree with whatever
 *    body someone put there.
 * 3. export writes the rows in chain order (per tenant, by seq) as JSON lines
 *    or CSV, each with the fields the hash covers, so that anyone can
 *    recompute it from the file.
 * 4. verify walks each tenant's chain and reports the first row that breaks
 *    it: changed (its content does not hash to its row_sha256, or the next
 *    row's prev_sha256 no longer matches), removed (a seq missing, or the
 *    head records more rows than there are) or inserted (a seq twice, a row
 *    outside the chain, rows beyond the recorded head). Exit 0 intact, 1
 *    broken, 2 when it could not be read.
 */
#include "audit.h"

#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"
#include "db.h"
#include "store_audit.h"
#include "util.h"
#include "validate.h"

/* The first field of every canonical text: the form's name and version. */
#define AUDIT_CANON_TAG "loopgate-audit-v1"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: loopgate audit export [--tenant T] [--since TS] [--format jsonl|csv] [--mark]\n"
            "       loopgate audit verify [--tenant T]\n"
            "\n"
            "Every audit row of a tenant carries its place in the tenant's chain (seq),\n"
            "the SHA-256 of the tenant's previous row (prev_sha256) and its own\n"
            "(row_sha256), over a canonical text of its content (docs/AUDIT.md).\n"
            "\n"
            "export  writes the trail to stdout in chain order (by tenant, then seq):\n"
            "        one JSON object per line (jsonl, the default), or CSV with a header\n"
            "        row (RFC 4180 quoting, CRLF line ends; an empty field is NULL).\n"
            "        --tenant T  only tenant T\n"
            "        --since TS  only rows written at or after TS (2026-12-01, 2026-12-01T10:00Z,\n"
            "                    2026-12-01 10:00:00.5+02:00; without a zone, the database's)\n"
            "        --mark      once every row reached stdout, record per tenant the last seq\n"
            "                    written (when the rows join on to the last mark): with\n"
            "                    audit_retention_days set, the janitor may then delete rows\n"
            "                    below it that are old enough; never rows not marked\n"
            "verify  recomputes every hash from the stored columns and follows each\n"
            "        tenant's chain to its recorded head (audit_heads); where the janitor\n"
            "        removed exported rows, from the first row left, which must chain onto\n"
            "        the last removed row's hash (audit_retention). Prints one line\n"
            "        per tenant: `ok tenant=T rows=N head_seq=N head_sha256=H`, or\n"
            "        `broken tenant=T seq=N kind=changed|removed|inserted: why` for the\n"
            "        first row that breaks it.\n"
            "        --tenant T  only tenant T\n"
            "\n"
            "Exit status: 0 when done (verify: every chain intact), 1 when verify found\n"
            "a chain broken, 2 for a usage error or when the database could not be read.\n");
}

/* ------------------------------------------------------------ canonical form */

static void hash_field(EVP_MD_CTX *md, const char *v, bool first)
{
    char len[24];

    if (!first)
        EVP_DigestUpdate(md, "\n", 1);
    if (!v) {
        EVP_DigestUpdate(md, "-", 1);
        return;
    }
    (void)lg_snprintf(len, sizeof(len), "%zu:", strlen(v));
    EVP_DigestUpdate(md, len, strlen(len));
    EVP_DigestUpdate(md, v, strlen(v));
}

/*
 * The row's hash as audit_row_sha256() defines it (docs/AUDIT.md): ten
 * fields joined by "\n", each `-` for NULL or `<bytes>:<value>`. `at` comes
 * as PostgreSQL prints it (ISO, UTC) and is hashed in its canonical form
 * (pg_ts_iso). -1 when `at` is in no form it knows.
 */
static int audit_row_sha256(const struct audit_row *r, char out[65])
{
    const char *fields[10];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    char at[28];
    EVP_MD_CTX *md;

    if (!r->at || pg_ts_iso(r->at, at) < 0)
        return -1;
    fields[0] = AUDIT_CANON_TAG;
    fields[1] = r->tenant;
    fields[2] = r->seq;
    fields[3] = at;
    fields[4] = r->request_id;
    fields[5] = r->session_id;
    fields[6] = r->actor;
    fields[7] = r->action;
    fields[8] = r->detail;
    fields[9] = r->prev_sha256;
    md = EVP_MD_CTX_new();
    if (!md)
        abort();
    if (!EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        abort();
    for (int i = 0; i < 10; i++)
        hash_field(md, fields[i], i == 0);
    if (!EVP_DigestFinal_ex(md, digest, &dlen) || dlen != 32)
        abort();
    EVP_MD_CTX_free(md);
    hex_encode(digest, 32, out);
    return 0;
}

/*
 * `tenant` as the value of a tenant= field in out[len]: as it is when it is
 * only letters, digits, '.', '_' and '-' (every name the CLI can create),
 * else in double quotes with '"', '\\' and control bytes escaped, so a
 * name from before the rule (a space in it) reads as one field.
 */
#define TENANT_FIELD_MAX 512
static const char *tenant_field(const char *tenant, char *out, size_t len)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    size_t o = 0;

    if (*tenant && strspn(tenant, plain) == strlen(tenant)) {
        lg_strlcpy(out, tenant, len);
        return out;
    }
    out[o++] = '"';
    for (const unsigned char *c = (const unsigned char *)tenant; *c && o + 6 < len; c++) {
        if (*c == '"' || *c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*c;
        } else if (*c < 0x20 || *c >= 0x7f) {
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", *c);
        } else {
            out[o++] = (char)*c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static bool same(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* ------------------------------------------------------------ export */

enum format { FORMAT_JSONL, FORMAT_CSV };

/* An unbroken run of one tenant's chain that an export wrote (--mark). */
struct mark_run {
    char *tenant;
    int64_t first, last;
    char last_sha256[65];
    bool gap; /* a seq was missing after `last`: the run ends there */
};

struct marks {
    struct mark_run *runs;
    size_t n, cap;
};

struct export_state {
    enum format format;
    bool guard; /* CSV: quote cells a spreadsheet would run as a formula */
    FILE *out;
    long rows;
    int error;           /* a row could not be written */
    struct marks *marks; /* --mark: the runs written, per tenant; NULL: not recorded */
};

/* Note row `r` in the export's runs (only rows with a place in the chain count). */
static void mark_note(struct marks *m, const struct audit_row *r)
{
    struct mark_run *run = m->n ? &m->runs[m->n - 1] : NULL;
    int64_t seq;

    if (!r->seq || parse_int64(r->seq, &seq) < 0 || !r->row_sha256 || strlen(r->row_sha256) != 64) {
        if (run && !strcmp(run->tenant, r->tenant))
            run->gap = true;
        return;
    }
    if (run && !strcmp(run->tenant, r->tenant)) {
        if (!run->gap && seq == run->last + 1) {
            run->last = seq;
            memcpy(run->last_sha256, r->row_sha256, 65);
        } else {
            run->gap = true;
        }
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->runs = realloc(m->runs, m->cap * sizeof(*m->runs));
        if (!m->runs)
            abort();
    }
    run = &m->runs[m->n++];
    run->tenant = xstrdup(r->tenant);
    run->first = run->last = seq;
    memcpy(run->last_sha256, r->row_sha256, 65);
    run->gap = false;
}

/* Record every run as exported (store_audit_mark); -1 at the first failure. */
static int mark_record(const struct marks *m)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct mark_run *run = &m->runs[i];
        struct lg_error err;
        int64_t marked = 0;
        char tf[TENANT_FIELD_MAX];

        if (store_audit_mark(run->tenant, run->first, run->last, run->last_sha256, &marked, &err) <
            0) {
            fprintf(stderr, "loopgate audit export: could not record the export of tenant %s: %s\n",
                    tenant_field(run->tenant, tf, sizeof(tf)), err.message);
            return -1;
        }
        if (marked >= run->last)
            fprintf(stderr, "marked tenant=%s exported_seq=%" PRId64 "\n",
                    tenant_field(run->tenant, tf, sizeof(tf)), marked);
        else
            fprintf(stderr,
                    "not marked tenant=%s: the rows written (seq %" PRId64 "-%" PRId64
                    ") do not join on to the last mark (exported_seq=%" PRId64
                    "); export from there first\n",
                    tenant_field(run->tenant, tf, sizeof(tf)), run->first, run->last, marked);
    }
    return 0;
}

static void marks_free(struct marks *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->runs[i].tenant);
    free(m->runs);
}

static json_t *str_or_null(const char *v)
{
    return v ? json_string(v) : json_null();
}

static int export_jsonl(FILE *out, const struct audit_row *r)
{
    json_t *o = json_object(), *detail = json_null();
    char at[28];
    int64_t seq = 0;
    char *line;
    int rc = 0;

    if (r->detail) {
        /* jsonb's text is JSON; a number beyond jansson's range stays text */
        detail = json_loads(r->detail, JSON_DECODE_ANY, NULL);
        if (!detail)
            detail = json_string(r->detail);
    }
    json_object_set_new(o, "tenant", str_or_null(r->tenant));
    json_object_set_new(o, "seq",
                        r->seq && parse_int64(r->seq, &seq) == 0 ? json_integer(seq) : json_null());
    json_object_set_new(o, "at", str_or_null(r->at && pg_ts_iso(r->at, at) == 0 ? at : r->at));
    json_object_set_new(o, "request_id", str_or_null(r->request_id));
    json_object_set_new(o, "session_id", str_or_null(r->session_id));
    json_object_set_new(o, "actor", str_or_null(r->actor));
    json_object_set_new(o, "action", str_or_null(r->action));
    json_object_set_new(o, "detail", detail);
    json_object_set_new(o, "prev_sha256", str_or_null(r->prev_sha256));
    json_object_set_new(o, "row_sha256", str_or_null(r->row_sha256));
    line = json_dumps(o, JSON_COMPACT);
    if (!line) { /* a column that is not UTF-8: jansson refused it */
        fprintf(stderr, "loopgate audit export: row id %s could not be written as JSON\n", r->id);
        rc = -1;
    } else {
        fputs(line, out);
        fputc('\n', out);
        free(line);
    }
    json_decref(o);
    return rc;
}

/*
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF.
 * With `guard`, a field that starts with = + - @ TAB or CR (a formula to a
 * spreadsheet) is written with a single quote before it, so that it opens
 * as text.
 */
static void csv_field(FILE *out, const char *v, bool last, bool guard)
{
    bool formula = guard && v && *v && strchr("=+-@\t\r", *v);

    if (v && (formula || v[strcspn(v, ",\"\r\n")])) {
        fputc('"', out);
        if (formula)
            fputc('\'', out);
        for (const char *p = v; *p; p++) {
            if (*p == '"')
                fputc('"', out);
            fputc(*p, out);
        }
        fputc('"', out);
    } else if (v) {
        fputs(v, out);
    }
    fputs(last ? "\r\n" : ",", out);
}

static void export_csv(FILE *out, const struct audit_row *r, bool guard)
{
    char at[28];
    const char *f[] = {
        r->tenant,     r->seq,        r->at && pg_ts_iso(r->at, at) == 0 ? at : r->at,
        r->request_id, r->session_id, r->actor,
        r->action,     r->detail,     r->prev_sha256,
        r->row_sha256};
    size_t n = sizeof(f) / sizeof(f[0]);

    for (size_t i = 0; i < n; i++)
        csv_field(out, f[i], i + 1 == n, guard);
}

static int export_row(const struct audit_row *r, void *arg)
{
    struct export_state *x = arg;

    if (x->format == FORMAT_CSV)
        export_csv(x->out, r, x->guard);
    else if (export_jsonl(x->out, r) < 0)
        x->error = 1;
    if (x->marks)
        mark_note(x->marks, r);
    x->rows++;
    return x->error || ferror(x->out);
}

/*
 * Whether `ts` is a date or time that --since takes: 2026-12-01,
 * 2026-12-01T10:00, 2026-12-01 10:00:00.5Z, ...+02:00. PostgreSQL reads
 * more (words such as "epoch" or "infinity"), but a trail's start is a
 * point in time, and a typo should get this message, not the parser's.
 */
static bool since_ok(const char *ts)
{
    static const char *const shape =
        "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
        "([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?"
        "(Z|[+-](0[0-9]|1[0-4])(:?[0-5][0-9])?)?)?$";
    regex_t re;
    bool ok;

    if (regcomp(&re, shape, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    ok = regexec(&re, ts, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int export_run(const char *tenant, const char *since, bool csv, bool guard, FILE *out,
                      struct marks *marks, long *rows, struct lg_error *err);

static int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'}, {"since", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'}, {"mark", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    struct marks marks = {NULL, 0, 0};
    bool mark = false;
    struct export_state x = {.format = FORMAT_JSONL, .out = stdout};
    struct audit_scan q = {NULL, NULL, NULL, export_row, &x};
    struct lg_error err;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:s:f:mh", opts, NULL)) != -1) {
        if (c == 'm') {
            mark = true;
        } else if (c == 't') {
            q.tenant = optarg;
        } else if (c == 's') {
            q.since = optarg;
        } else if (c == 'f' && (!strcmp(optarg, "jsonl") || !strcmp(optarg, "csv"))) {
            x.format = strcmp(optarg, "csv") ? FORMAT_JSONL : FORMAT_CSV;
        } else if (c == 'f') {
            fprintf(stderr, "loopgate audit export: --format is jsonl or csv, not '%s'\n", optarg);
            return 2;
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate audit export: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (q.tenant && (!*q.tenant || strlen(q.tenant) > ID_MAX_BYTES)) {
        fprintf(stderr, "loopgate audit export: --tenant takes 1-%d bytes\n", ID_MAX_BYTES);
        return 2;
    }
    if (q.since && !since_ok(q.since)) {
        fprintf(stderr, "loopgate audit export: --since takes a timestamp such as 2026-12-01, "
                        "2026-12-01T10:00:00Z or 2026-12-01 10:00+02:00\n");
        return 2;
    }
    rc = export_run(q.tenant, q.since, x.format == FORMAT_CSV, false, stdout, mark ? &marks : NULL,
                    &x.rows, &err);
    if (rc < 0 && err.status == 0) {
        x.error = 1;
        rc = 0;
    }
    if (rc < 0) {
        fprintf(stderr, "loopgate audit export: %s\n", err.message);
        rc = 2;
        goto out;
    }
    if (fflush(stdout) != 0 || ferror(stdout) || x.error) {
        if (!x.error)
            fprintf(stderr, "loopgate audit export: could not write to stdout\n");
        rc = 2;
        goto out;
    }
    fprintf(stderr, "exported %ld audit rows\n", x.rows);
    /* Only what reached stdout whole counts as exported. */
    rc = mark && mark_record(&marks) < 0 ? 2 : 0;
out:
    marks_free(&marks);
    return rc;
}

static int export_run(const char *tenant, const char *since, bool csv, bool guard, FILE *out,
                      struct marks *marks, long *rows, struct lg_error *err)
{
    struct export_state x = {csv ? FORMAT_CSV : FORMAT_JSONL, guard, out, 0, 0, marks};
    struct audit_scan q = {tenant, since, NULL, export_row, &x};
    int rc;

    if (csv)
        fputs("tenant,seq,at,request_id,session_id,actor,action,detail,prev_sha256,row_sha256\r\n",
              out);
    rc = store_audit_scan(&q, err);
    *rows = x.rows;
    if (rc < 0)
        return -1;
    if (x.error || rc > 0) {
        err->status = 0; /* a row could not be written; said on stderr */
        return -1;
    }
    return 0;
}

int audit_export(const char *tenant, const char *since, bool csv, bool guard, FILE *out, long *rows,
                 struct lg_error *err)
{
    return export_run(tenant, since, csv, guard, out, NULL, rows, err);
}

/* ------------------------------------------------------------ verify */

struct head {
    char *tenant;
    int64_t seq;
    char *row_sha256;
    int64_t pruned_seq;  /* the chain now starts after this seq (0: at 1) */
    char *pruned_sha256; /* ... chained onto this hash (the last removed row's) */
    bool seen;           /* the tenant had rows */
};

struct verify_state {
    FILE *out;                       /* the report's lines, or NULL */
    struct audit_verify_result *res; /* the first break */
    struct head *heads;              /* sorted by tenant (strcmp) once the rows begin */
    size_t nheads, cap;
    bool sorted;
    /* the tenant being walked */
    char *tenant;
    int64_t next;     /* the seq its next row must have */
    int64_t last_seq; /* of its last row in the chain, 0 before the first */
    char last_hash[65];
    bool broken;
    long rows, tenant_rows;
    long tenants, broken_tenants;
    int error;
};

static int head_cmp(const void *a, const void *b)
{
    return strcmp(((const struct head *)a)->tenant, ((const struct head *)b)->tenant);
}

static int on_head(const struct audit_head *h, void *arg)
{
    struct verify_state *v = arg;
    struct head *e;

    if (v->nheads == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->heads = realloc(v->heads, v->cap * sizeof(*v->heads));
        if (!v->heads)
            abort();
    }
    e = &v->heads[v->nheads++];
    e->tenant = xstrdup(h->tenant);
    e->seq = 0;
    if (h->seq && parse_int64(h->seq, &e->seq) < 0)
        e->seq = -1;
    e->row_sha256 = h->row_sha256 ? xstrdup(h->row_sha256) : NULL;
    e->pruned_seq = 0;
    if (h->pruned_seq && (parse_int64(h->pruned_seq, &e->pruned_seq) < 0 || e->pruned_seq < 0))
        e->pruned_seq = 0;
    e->pruned_sha256 = h->pruned_sha256 ? xstrdup(h->pruned_sha256) : NULL;
    e->seen = false;
    return 0;
}

static struct head *find_head(struct verify_state *v, const char *tenant)
{
    struct head key = {(char *)tenant, 0, NULL, 0, NULL, false};

    if (!v->sorted && v->nheads)
        qsort(v->heads, v->nheads, sizeof(*v->heads), head_cmp);
    v->sorted = true;
    return v->nheads ? bsearch(&key, v->heads, v->nheads, sizeof(*v->heads), head_cmp) : NULL;
}

static void broken(struct verify_state *v, const char *tenant, int64_t seq, const char *kind,
                   const char *fmt, ...) LG_PRINTF(5, 6);

static void broken(struct verify_state *v, const char *tenant, int64_t seq, const char *kind,
                   const char *fmt, ...)
{
    char why[512], tf[TENANT_FIELD_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (v->out)
        fprintf(v->out, "broken tenant=%s seq=%" PRId64 " kind=%s: %s\n",
                tenant_field(tenant, tf, sizeof(tf)), seq, kind, why);
    if (v->res->ok) {
        v->res->ok = false;
        lg_strlcpy(v->res->tenant, tenant, sizeof(v->res->tenant));
        v->res->seq = seq;
        lg_strlcpy(v->res->kind, kind, sizeof(v->res->kind));
        lg_strlcpy(v->res->why, why, sizeof(v->res->why));
    }
    v->broken = true;
    v->broken_tenants++;
}

/* The end of a tenant's rows: compare where the chain ended with its head. */
static void finish_tenant(struct verify_state *v)
{
    char tf[TENANT_FIELD_MAX];
    struct head *h;

    if (!v->tenant)
        return;
    h = find_head(v, v->tenant);
    if (h)
        h->seen = true;
    if (!v->broken) {
        if (!h)
            broken(v, v->tenant, v->last_seq, "removed",
                   "the tenant's chain head (audit_heads) is missing: it was deleted, or the "
                   "rows were written past the chain trigger");
        else if (h->seq > v->last_seq)
            broken(v, v->tenant, v->last_seq + 1, "removed",
                   "the chain ends at seq %" PRId64 " but its head records seq %" PRId64
                   ": the last rows were deleted",
                   v->last_seq, h->seq);
        else if (h->seq < v->last_seq)
            broken(v, v->tenant, h->seq + 1, "inserted",
                   "the chain runs past its head (seq %" PRId64 "): rows were added past the "
                   "chain trigger",
                   h->seq);
        else if (!same(h->row_sha256, v->last_hash))
            broken(v, v->tenant, v->last_seq, "changed",
                   "the last row's hash differs from the one its head records");
        else if (v->out && h->pruned_seq > 0)
            fprintf(v->out,
                    "ok tenant=%s rows=%ld head_seq=%" PRId64 " head_sha256=%s from_seq=%" PRId64
                    "\n",
                    tenant_field(v->tenant, tf, sizeof(tf)), v->tenant_rows, v->last_seq,
                    v->last_hash, h->pruned_seq + 1);
        else if (v->out)
            fprintf(v->out, "ok tenant=%s rows=%ld head_seq=%" PRId64 " head_sha256=%s\n",
                    tenant_field(v->tenant, tf, sizeof(tf)), v->tenant_rows, v->last_seq,
                    v->last_hash);
    }
    free(v->tenant);
    v->tenant = NULL;
}

static int verify_row(const struct audit_row *r, void *arg)
{
    struct verify_state *v = arg;
    char hash[65];
    int64_t seq;

    if (!v->tenant || strcmp(v->tenant, r->tenant) != 0) {
        const struct head *h;

        finish_tenant(v);
        v->tenant = xstrdup(r->tenant);
        v->next = 1;
        v->last_seq = 0;
        v->last_hash[0] = '\0';
        h = find_head(v, r->tenant);
        if (h && h->pruned_seq > 0) {
            /* Exported rows before it were removed (audit_retention): start after them. */
            v->next = h->pruned_seq + 1;
            v->last_seq = h->pruned_seq;
            lg_strlcpy(v->last_hash, h->pruned_sha256 ? h->pruned_sha256 : "",
                       sizeof(v->last_hash));
        }
        v->broken = false;
        v->tenant_rows = 0;
        v->tenants++;
    }
    v->rows++;
    v->tenant_rows++;
    if (v->broken)
        return v->out && ferror(v->out);
    if (!r->seq) {
        broken(v, r->tenant, v->next, "inserted",
               "row id %s has no place in the chain (no seq): it was written past the chain "
               "trigger",
               r->id);
        return v->out && ferror(v->out);
    }
    if (parse_int64(r->seq, &seq) < 0)
        seq = v->next - 1; /* a bigint always parses; never trust it does */
    if (seq < v->next) {
        broken(v, r->tenant, seq, "inserted",
               "seq %s appears again (row id %s): a row was added to the chain", r->seq, r->id);
        return v->out && ferror(v->out);
    }
    if (seq > v->next) {
        broken(v, r->tenant, v->next, "removed",
               "the chain goes from seq %" PRId64 " to seq %" PRId64 ": %s missing", v->next - 1,
               seq, seq - v->next > 1 ? "rows are" : "a row is");
        return v->out && ferror(v->out);
    }
    if (audit_row_sha256(r, hash) < 0) {
        broken(v, r->tenant, seq, "changed", "its time '%s' is in no form a row is written with",
               r->at ? r->at : "");
        return v->out && ferror(v->out);
    }
    if (!same(r->row_sha256, hash)) {
        broken(v, r->tenant, seq, "changed", "its content does not hash to its row_sha256");
        return v->out && ferror(v->out);
    }
    if (!same(r->prev_sha256, seq == 1 ? NULL : v->last_hash)) {
        if (seq == 1)
            broken(v, r->tenant, 1, "removed",
                   "the first row chains onto an earlier one: the rows before it were "
                   "removed and the rest renumbered");
        else
            broken(v, r->tenant, seq - 1, "changed",
                   "seq %" PRId64 " no longer chains onto it (prev_sha256 differs): seq %" PRId64
                   " or seq %" PRId64 " was changed and its hash rewritten",
                   seq, seq - 1, seq);
        return v->out && ferror(v->out);
    }
    v->next = seq + 1;
    v->last_seq = seq;
    memcpy(v->last_hash, hash, sizeof(hash));
    return v->out && ferror(v->out);
}

int audit_verify(const char *tenant, FILE *out, struct audit_verify_result *res,
                 struct lg_error *err)
{
    struct verify_state v;
    struct audit_scan q = {tenant, NULL, on_head, verify_row, &v};
    int rc;

    memset(&v, 0, sizeof(v));
    memset(res, 0, sizeof(*res));
    res->ok = true;
    v.out = out;
    v.res = res;
    rc = store_audit_scan(&q, err);
    if (rc == 0)
        finish_tenant(&v);
    if (rc > 0)
        rc = lg_fail(err, 500, "write_failed", "could not write the report");
    if (rc == 0) {
        /* Heads of tenants without a single row left. */
        for (size_t i = 0; i < v.nheads; i++)
            if (!v.heads[i].seen && v.heads[i].seq > 0) {
                v.tenants++;
                broken(&v, v.heads[i].tenant, 1, "removed",
                       "every row is missing; the chain head records seq %" PRId64, v.heads[i].seq);
            }
        res->rows = v.rows;
        res->tenants = v.tenants;
        res->broken_tenants = v.broken_tenants;
    }
    for (size_t i = 0; i < v.nheads; i++) {
        free(v.heads[i].tenant);
        free(v.heads[i].row_sha256);
        free(v.heads[i].pruned_sha256);
    }
    free(v.heads);
    free(v.tenant);
    return rc < 0 ? -1 : 0;
}

static int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"tenant", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct audit_verify_result res;
    const char *tenant = NULL;
    struct lg_error err;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        if (c == 't') {
            tenant = optarg;
        } else {
            usage(c == 'h' ? stdout : stderr);
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loopgate audit verify: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (tenant && (!*tenant || strlen(tenant) > ID_MAX_BYTES)) {
        fprintf(stderr, "loopgate audit verify: --tenant takes 1-%d bytes\n", ID_MAX_BYTES);
        return 2;
    }
    if (audit_verify(tenant, stdout, &res, &err) < 0) {
        if (err.status == 500 && !strcmp(err.code, "write_failed"))
            fprintf(stderr, "loopgate audit verify: could not write to stdout\n");
        else
            fprintf(stderr, "loopgate audit verify: %s\n", err.message);
        return 2;
    }
    if (res.tenants == 0 && tenant) {
        fprintf(stderr, "loopgate audit verify: tenant '%s' has no audit rows\n", tenant);
        rc = 2;
    } else {
        fprintf(stderr, "audit verify: %ld tenants, %ld rows: %s\n", res.tenants, res.rows,
                res.broken_tenants ? "BROKEN" : "intact");
        rc = res.broken_tenants ? 1 : 0;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "loopgate audit verify: could not write to stdout\n");
        rc = 2;
    }
    return rc;
}

int audit_main(struct config *cfg, int argc, char **argv)
{
    static const struct cli_verb verbs[] = {
        {"export", cmd_export},
        {"verify", cmd_verify},
    };

    return cli_dispatch("loopgate audit", verbs, sizeof(verbs) / sizeof(verbs[0]), usage,
                        cfg->db_uri, argc, argv);
}
