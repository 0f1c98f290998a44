/*
 * log.c - see log.h.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;

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

void log_emit(int level, const char *msg, const char *kvfmt, ...)
{
    char raw[1024], tail[1024] = "", line[1400], ts[32];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level < __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
        return;
    if (kvfmt && *kvfmt) {
        va_start(ap, kvfmt);
        vsnprintf(raw, sizeof(raw), kvfmt, ap);
        va_end(ap);
        /* Values may quote input: no line breaks, controls or broken UTF-8 reach the log. */
        (void)lg_sanitize(tail, sizeof(tail), raw);
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(line, sizeof(line), "%s.%03ldZ level=%s pid=%d msg=\"%s\"%s%s\n", ts,
             now.tv_nsec / 1000000, level_names[level], (int)getpid(), msg, *tail ? " " : "", tail);
    /* One write per line keeps lines whole when several processes share stderr. */
    if (write(STDERR_FILENO, line, strlen(line)) < 0)
        return;
}
