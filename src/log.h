/*
 * log.h - structured log lines on stderr:
 *
 *   2026-11-25T10:00:00Z level=warn pid=123 msg="could not send message" chat=42 error="..."
 *
 * The caller passes the message and an optional printf-style tail of
 * key=value pairs. Newlines in the tail are folded to spaces so one event is
 * one line. Secrets never reach this module: callers log key prefixes, never
 * keys, and never the bot token or URLs that embed it.
 */
#ifndef LG_LOG_H
#define LG_LOG_H

#include "util.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern int log_threshold;

/* Parse "debug|info|warn|warning|error"; -1 when unknown. */
int log_level_parse(const char *s);

void log_emit(int level, const char *msg, const char *kvfmt, ...) LG_PRINTF(3, 4);

#define log_debug(msg, ...) log_emit(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_emit(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_emit(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_emit(LOG_ERROR, msg, __VA_ARGS__)

#endif
