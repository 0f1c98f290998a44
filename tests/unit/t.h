/*
 * t.h - the unit-test framework: one header, no library.
 *
 * A test file defines its cases with TEST(name) and lists them in main:
 *
 *   TEST(parse) { CHECK_EQ_INT(parse("1"), 1); }
 *
 *   int main(int argc, char **argv)
 *   {
 *       t_begin(argc, argv);
 *       RUN(parse);
 *       return t_end();
 *   }
 *
 * Every check counts as one pass or one failure; a failure prints
 * `file:line: test: what was expected` and the test goes on, so one run shows
 * every broken case. t_end() prints `<binary>: N passed, N failed` (the line
 * tests/unit/run.sh adds up) and returns the exit status: 0 only when nothing
 * failed.
 */
#ifndef LG_T_H
#define LG_T_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int t_passed, t_failed;
static const char *t_binary = "test";
static const char *t_current = "";

/* Record one check; print the failure with its location. Returns `ok`. */
static inline __attribute__((format(printf, 4, 5))) int t_check(int ok, const char *file, int line,
                                                                const char *fmt, ...)
{
    va_list ap;

    if (ok) {
        t_passed++;
        return 1;
    }
    t_failed++;
    fprintf(stdout, "%s:%d: %s: FAIL: ", file, line, t_current);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

static inline int t_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static inline void t_begin(int argc, char **argv)
{
    const char *slash;

    if (argc > 0 && argv[0]) {
        slash = strrchr(argv[0], '/');
        t_binary = slash ? slash + 1 : argv[0];
    }
}

static inline int t_end(void)
{
    printf("%s: %d passed, %d failed\n", t_binary, t_passed, t_failed);
    fflush(stdout);
    return t_failed ? 1 : 0;
}

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                                                  \
    do {                                                                                           \
        t_current = #name;                                                                         \
        test_##name();                                                                             \
    } while (0)

#define CHECK(cond) t_check(!!(cond), __FILE__, __LINE__, "%s", #cond)

/* A check with its own message, for table-driven cases that name the case. */
#define CHECKF(cond, ...) t_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long t_a_ = (long long)(a), t_b_ = (long long)(b);                                    \
        t_check(t_a_ == t_b_, __FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, t_a_, t_b_);  \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *t_a_ = (a), *t_b_ = (b);                                                       \
        t_check(t_streq(t_a_, t_b_), __FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b,    \
                t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)");                                   \
    } while (0)

/* `hay` contains `needle` (both non-NULL). */
#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *t_h_ = (hay), *t_n_ = (needle);                                                \
        t_check(t_h_ &&t_n_ &&strstr(t_h_, t_n_) != NULL, __FILE__, __LINE__,                      \
                "%s contains %s (\"%s\" lacks \"%s\")", #hay, #needle, t_h_ ? t_h_ : "(null)",     \
                t_n_ ? t_n_ : "(null)");                                                           \
    } while (0)

#endif
