/*
 * log.h - structured log lines on stderr, one event per line, in one of two
 * formats (log_format):
 *
 *   logfmt: 2026-11-25T10:00:00.123Z level=warn pid=123 msg="could not send" chat=42 error="..."
 *   json:   {"ts":"2026-11-25T10:00:00.123Z","level":"warn","pid":123,"msg":"could not send",
 *            "chat":42,"error":"..."}
 *
 * The caller passes the message and a printf-style tail of key=value pairs,
 * "chat=%lld error=\"%s\"". The tail's literal text is the caller's (keys
 * and fixed values); what its conversions produce may come from outside (a
 * path, an address, a name, a database or Telegram error), so each value is
 * rendered by this module, never pasted:
 *   - logfmt: a value is bare when it is printable ASCII without space, '"',
 *     '=' or '\\' (and was not quoted in the tail); otherwise it is quoted,
 *     with '"' and '\\' escaped, \n \r \t, other controls and bytes of
 *     broken UTF-8 as \xNN, and bidi or invisible characters as \u{XXXX};
 *   - json: a JSON string (controls as \uNNNN, broken UTF-8 as U+FFFD, bidi
 *     and invisible characters as \uNNNN), or a number when the value is one
 *     numeric conversion alone;
 *   - each value is cut at LOG_VALUE_MAX bytes on a character boundary
 *     (marked with "..."), each line at LOG_LINE_MAX bytes on a field
 *     boundary (marked truncated=true).
 * So no caller-controlled value can start a field, a line or a quote of its
 * own. A tail key named ts, level, pid or msg is written as x_<key>.
 *
 * Secrets never reach this module: callers log key prefixes, never keys, and
 * never the bot token or URLs that embed it.
 */
#ifndef LG_LOG_H
#define LG_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON };

#define LOG_VALUE_MAX 512
#define LOG_LINE_MAX 4096

extern int log_threshold;
extern int log_format;

/* Parse "debug|info|warn|warning|error"; -1 when unknown. */
int log_level_parse(const char *s);

/* Parse "logfmt|json"; -1 when unknown. */
int log_format_parse(const char *s);

void log_emit(int level, const char *msg, const char *kvfmt, ...) LG_PRINTF(3, 4);

/*
 * Render one line (with its '\n') into out[outlen] as log_emit writes it,
 * with `ts` and `pid` as given; returns its length. Pure: the unit tests
 * call it.
 */
size_t log_render(char *out, size_t outlen, int format, const char *ts, int pid, int level,
                  const char *msg, const char *kvfmt, va_list ap);

/*
 * Escape the value s[0..len) for `format` into out[outlen] (NUL-terminated):
 * logfmt without the surrounding quotes, json without them either. Cut on a
 * character boundary so that the escaped text fits; returns its length.
 */
size_t log_escape(char *out, size_t outlen, int format, const char *s, size_t len);

#define log_debug(msg, ...) log_emit(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_emit(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_emit(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_ERROR, msg, __VA_ARGS__)

#endif
