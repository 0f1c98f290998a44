/*
 * shape.h - the JSON bodies the API answers, built from plain row structs.
 *
 * The store fills these structs from database rows (strings borrowed from the
 * PGresult); the functions here turn them into the shapes of the Go original
 * plus our extra fields. Every function returns a new reference.
 */
#ifndef LG_SHAPE_H
#define LG_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct lg_request {
    const char *id;
    const char *session_id;
    const char *client_id;
    const char *message;
    const char *request_type;
    const char *options_json;  /* JSON text or NULL */
    const char *metadata_json; /* JSON text or NULL */
    int timeout_seconds;
    const char *on_timeout;
    const char *callback_url; /* or NULL */
    const char *status;
    const char *response; /* or NULL */
    bool approved;
    const char *created_at;
    const char *expires_at;
    const char *responded_at; /* or NULL */
    int64_t responder_id;     /* 0: none */
    const char *responder_name;
    const char *option_approve; /* PostgreSQL boolean[] text "{t,f}", or NULL */
    int64_t tg_chat_id;         /* the chat the message goes to */
    int64_t tg_message_id;      /* 0 until sent */
    const char *tg_state;       /* queued | sent | failed | skipped, or NULL */
    int tg_attempts;
    const char *tg_error;   /* or NULL */
    const char *tg_sent_at; /* or NULL */
    const char *cb_state;   /* none | queued | delivered | failed, or NULL */
    int cb_attempts;
    const char *cb_error;        /* or NULL */
    const char *cb_delivered_at; /* or NULL */
    int approvals_required;      /* the quorum: distinct approvals that approve (1-10) */
    bool deny_vetoes;            /* one denial denies; else as many denials as approvals */
    const char *votes_json;      /* JSON array text of the votes (VOTES_JSON), or NULL: none */
    const char *params_json;     /* the final params (PARAMS_COLS): JSON object text, or NULL */
    bool edited;                 /* approved with edits: params_json is what the person approved */
    const char *params_schema_json; /* JSON text of the schema edits must meet, or NULL */
    /* Reminders and escalation (021). */
    int reminders;          /* reminders sent */
    bool escalated;         /* delivered to the escalate_to session too */
    int64_t esc_chat_id;    /* the chat it was escalated to; 0: none */
    int64_t esc_message_id; /* its message there; 0 until sent */
    int64_t esc_bot_id;     /* the bot that sent that message */
};

struct lg_session {
    const char *session_id;
    const char *client_id;
    int64_t telegram_id;
    const char *approvers_json; /* JSON array text */
    bool active;
    const char *created_at;
    const char *updated_at;
    int64_t pending;
};

/* True for the final states: completed, timeout, canceled. */
bool shape_is_final(const char *status);

/* {"success":true,"request_id",...} answered to a submit. */
json_t *shape_submitted(const struct lg_request *r);

/* The poll body: request_id, status, response, approved, completed, ... */
json_t *shape_poll(const struct lg_request *r);

/* A full request, as listed by /hitl/pending (the Go original's HITLRequest). */
json_t *shape_request(const struct lg_request *r);

/* A session, as answered by /hitl/status. */
json_t *shape_session(const struct lg_session *s);

/* {"error":{"code":code,"message":message}} */
json_t *shape_error(const char *code, const char *message);

#endif
