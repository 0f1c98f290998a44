/*
 * telegram.c - the updates Telegram sends: each is planned here from what
 * its transaction read (store_tg_update) and written by the store; see
 * telegram.h. The `loopgate telegram` command is telegram_cli.c.
 */
#include "telegram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "log.h"
#include "notify.h"
#include "params.h"
#include "store_tg.h"
#include "tg.h"
#include "tgmsg.h"

#define PRIO_ANSWER 1
#define PRIO_TEXT 4

/*
 * The human behind an update, as we log and show them: first and last name
 * (64 characters each at most in Telegram, up to 4 bytes each) and username,
 * kept whole; anything longer is cut on a character boundary.
 */
struct person {
    int64_t id;
    char name[640];
};

/*
 * The last line of the "Why deny?" prompt, which names its request and the
 * person it asks, and how it is read back.
 */
#define REASON_PROMPT_LAST "Request %s, voter %lld"
#define REASON_PROMPT_SCAN "Request %36[0-9a-f-], voter %lld%n"

/* What a person is told when the message they answer is not the configured bot's. */
#define OTHER_BOT_TEXT                                                                             \
    "This request has expired: its message is from a bot Loopgate no longer uses."

/* The configured bot. */
static int64_t self_bot(const struct config *cfg)
{
    return tg_token_bot_id(cfg->telegram_bot_token);
}

/*
 * The bot that sent message `msg` (its `from`, a bot), else `self`: a press
 * or reply names the message it answers, and that message's sender.
 */
static int64_t message_bot(json_t *msg, int64_t self)
{
    json_t *from = json_object_get(msg, "from");
    json_int_t id = json_integer_value(json_object_get(from, "id"));

    return json_is_true(json_object_get(from, "is_bot")) && id > 0 ? (int64_t)id : self;
}

/*
 * The bot an update came from: the sender of the message a press or a reply
 * answers, when that sender is a bot; else `self` (a command names no bot).
 * Its update_id is that bot's, and is recorded under it.
 */
static int64_t update_bot(json_t *update, int64_t self)
{
    json_t *cq = json_object_get(update, "callback_query");
    json_t *msg = json_object_get(update, "message");

    if (json_is_object(cq))
        return message_bot(json_object_get(cq, "message"), self);
    if (json_is_object(msg))
        return message_bot(json_object_get(msg, "reply_to_message"), self);
    return self;
}

static void person_from(json_t *from, struct person *p)
{
    const char *first = json_string_value(json_object_get(from, "first_name"));
    const char *last = json_string_value(json_object_get(from, "last_name"));
    const char *user = json_string_value(json_object_get(from, "username"));
    struct sbuf b = {0};

    p->id = (int64_t)json_integer_value(json_object_get(from, "id"));
    sb_puts(&b, first ? first : "");
    if (last && *last)
        sb_printf(&b, "%s%s", b.len ? " " : "", last);
    if (user && *user)
        sb_printf(&b, "%s@%s", b.len ? " " : "", user);
    if (!b.len)
        sb_printf(&b, "user %lld", (long long)p->id);
    utf8_strlcpy(p->name, b.p, sizeof(p->name));
    sb_free(&b);
}

/* The approver policy of a locked request: session approvers plus config. */
static void policy_for(const struct config *cfg, const struct tg_request *t, int64_t *buf,
                       size_t max, struct approver_policy *p)
{
    int n = decide_parse_int_array(t->approvers, buf, max);

    memset(p, 0, sizeof(*p));
    p->chat_id = t->r.tg_chat_id;
    p->approvers = buf;
    p->napprovers = n > 0 ? (size_t)n : 0;
    p->group_any_member = cfg->telegram_group_any_member;
    p->allow = (const int64_t *)cfg->telegram_allowed_users.ids;
    p->nallow = (size_t)cfg->telegram_allowed_users.n;
}

/* Audit `action` by `who` on request `t` (takes `detail`). */
static int audit(struct tg_effects *fx, const struct tg_request *t, const struct person *who,
                 const char *action, json_t *detail, struct lg_error *err)
{
    if (!detail)
        detail = json_object();
    json_object_set_new(detail, "user_id", json_integer((json_int_t)who->id));
    json_object_set_new(detail, "user_name", json_string(who->name));
    return tg_effects_audit(fx, t->tenant, t->r.id, t->r.session_id, who->id, action, detail, err);
}

/*
 * May `who`, acting in chat `chat`, decide request `t`? The rule of its
 * session (policy_for; "any member of a group" holds in that group only);
 * once escalated (021), also the rule of the escalate_to session, with its
 * chat. Fail closed: an escalation session's approver list that cannot be
 * read allows nobody by the escalation's rule.
 */
static bool may_decide(const struct config *cfg, const struct tg_request *t,
                       const struct person *who, int64_t chat)
{
    int64_t ids[64];
    struct approver_policy pol;
    int n;

    policy_for(cfg, t, ids, 64, &pol);
    if (chat != t->r.tg_chat_id)
        pol.group_any_member = false;
    if (decide_authorized(&pol, who->id))
        return true;
    if (!t->r.escalated || !t->r.esc_chat_id)
        return false;
    n = decide_parse_int_array(t->esc_approvers, ids, 64);
    if (n < 0)
        return false;
    pol.chat_id = t->r.esc_chat_id;
    pol.napprovers = (size_t)n;
    pol.group_any_member = cfg->telegram_group_any_member && chat == t->r.esc_chat_id;
    return decide_authorized(&pol, who->id);
}

/*
 * Why a person acting in chat `chat` cannot decide this request now, as the
 * text they are shown, with the audit action; NULL when they can.
 */
static const char *refusal(const struct config *cfg, const struct tg_request *t,
                           const struct person *who, int64_t chat, const char **action)
{
    if (!may_decide(cfg, t, who, chat)) {
        *action = "unauthorized_attempt";
        return "You are not authorized to decide this request.";
    }
    if (!strcmp(t->r.status, "timeout")) {
        *action = "expired_attempt";
        return "This request timed out.";
    }
    if (!strcmp(t->r.status, "canceled")) {
        *action = "late_attempt";
        return "This request was canceled.";
    }
    if (strcmp(t->r.status, "pending") != 0) {
        *action = "late_attempt";
        return "This request was already answered.";
    }
    if (t->expired) {
        *action = "expired_attempt";
        return "This request has expired.";
    }
    return NULL;
}

/*
 * refusal(), with who answered a request that was already answered
 * ("This request was already answered by Ann."): a new string in *text.
 */
static const char *refusal_text(const struct config *cfg, const struct tg_request *t,
                                const struct person *who, int64_t chat, const char **action,
                                char **text)
{
    const char *why = refusal(cfg, t, who, chat, action);
    struct sbuf b = {0};

    *text = NULL;
    if (why && !strcmp(*action, "late_attempt") && !strcmp(t->r.status, "completed") &&
        t->r.responder_name && *t->r.responder_name) {
        sb_printf(&b, "This request was already answered by %s.", t->r.responder_name);
        /* answerCallbackQuery takes 200 characters */
        if (utf8_length(b.p) > 200) {
            b.len = utf8_prefix(b.p, 190);
            b.p[b.len] = '\0';
            sb_puts(&b, "\xE2\x80\xA6");
        }
        *text = b.p;
        return *text;
    }
    return why;
}

/* The parameters of answerCallbackQuery (new reference). */
static json_t *answer_params(const char *cq_id, const char *text)
{
    return json_pack("{s:s, s:s}", "callback_query_id", cq_id, "text", text);
}

static int answer_callback(struct tg_effects *fx, const char *cq_id, const char *text,
                           struct lg_error *err)
{
    return tg_effects_outbox(fx, "tg_answer", 0, answer_params(cq_id, text), PRIO_ANSWER, err);
}

/*
 * A decision taken while handling an update. It is written with the commit,
 * in the same round trip (store_tg_update), and owns copies of what it names.
 */
struct decision {
    bool set;
    struct tg_decision d;
    char id[37];
    char actor[200];
    char *response;
    char *reason;   /* deny with a reason: the person's reason, or NULL */
    json_t *params; /* approve with edits: the params approved instead, or NULL */
    struct person who;
};

/*
 * Vote on the locked request `t` as `who` chose (it decides when the quorum
 * is met); a button press (`cq_id`) is answered with it, and a typed answer
 * (message `reply_to` of chat `chat`, when not 0) is replied to when the
 * vote does not decide.
 */
static void decide(struct decision *out, const struct tg_request *t, const struct person *who,
                   const char *response, bool approve, const char *via, const char *cq_id,
                   int64_t chat, int64_t reply_to)
{
    out->set = true;
    out->who = *who;
    lg_strlcpy(out->id, t->r.id, sizeof(out->id));
    snprintf(out->actor, sizeof(out->actor), "telegram:%lld", (long long)who->id);
    out->response = xstrdup(response);
    out->d = (struct tg_decision){.id = out->id,
                                  .response = out->response,
                                  .approved = approve,
                                  .user_id = who->id,
                                  .name = out->who.name,
                                  .actor = out->actor};
    out->d.audit_detail =
        json_pack("{s:s, s:b, s:s, s:I, s:s}", "response", response, "approved", approve, "via",
                  via, "user_id", (json_int_t)who->id, "user_name", who->name);
    if (chat && reply_to)
        out->d.reply =
            json_pack("{s:I, s:{s:I, s:b}}", "chat_id", (json_int_t)chat, "reply_parameters",
                      "message_id", (json_int_t)reply_to, "allow_sending_without_reply", 1);
    if (cq_id) {
        char *text = tgmsg_recorded(response);

        out->d.answer = answer_params(cq_id, text);
        free(text);
    }
}

static void decision_free(struct decision *dn)
{
    free(dn->response);
    free(dn->reason);
    json_decref(dn->params);
    json_decref(dn->d.audit_detail);
    json_decref(dn->d.answer);
    json_decref(dn->d.reply);
}

static int send_text(struct tg_effects *fx, int64_t chat, int64_t reply_to, const char *html,
                     struct lg_error *err)
{
    json_t *p = json_pack("{s:s, s:s, s:b}", "text", html, "parse_mode", "HTML",
                          "disable_web_page_preview", 1);

    if (reply_to)
        json_object_set_new(p, "reply_parameters",
                            json_pack("{s:I, s:b}", "message_id", (json_int_t)reply_to,
                                      "allow_sending_without_reply", 1));
    return tg_effects_outbox(fx, "tg_text", chat, p, PRIO_TEXT, err);
}

/* Whether Telegram user `user` has a vote on `r` (in any channel). */
static bool has_voted(const struct lg_request *r, int64_t user)
{
    json_t *votes = r->votes_json ? json_loads(r->votes_json, 0, NULL) : NULL, *v;
    bool found = false;
    size_t i;

    json_array_foreach(votes, i, v)
    {
        json_t *id = json_object_get(json_object_get(v, "responder"), "id");
        if (json_is_integer(id) && json_integer_value(id) == (json_int_t)user)
            found = true;
    }
    json_decref(votes);
    return found;
}

/*
 * A person's reason as recorded: their text cleaned as every shown text is,
 * without surrounding white space; NULL (no reason) when nothing visible is
 * left. A new string.
 */
static char *clean_reason(const char *text)
{
    char *clean = tgmsg_clean(text ? text : "", true), *out = NULL;
    size_t start = strspn(clean, " \t\n"), end = strlen(clean);

    while (end > start && strchr(" \t\n", clean[end - 1]))
        end--;
    if (end > start) {
        out = xmalloc(end - start + 1);
        memcpy(out, clean + start, end - start);
        out[end - start] = '\0';
    }
    free(clean);
    return out;
}

/* send_text() of plain text (a refusal, which may quote a person's name). */
static int send_plain(struct tg_effects *fx, int64_t chat, int64_t reply_to, const char *text,
                      struct lg_error *err)
{
    struct sbuf b = {0};
    int rc;

    tgmsg_escape(&b, text);
    rc = send_text(fx, chat, reply_to, b.p ? b.p : "", err);
    sb_free(&b);
    return rc;
}

/*
 * The "Why deny?" prompt: a ForceReply message, a reply to the request's
 * message, that asks `who` for a reason. Its last line names the request
 * and the person in plain text ("Request <uuid>, voter <id>"): a reply to
 * it is read back from there (reason_prompt), and only that person's
 * reply is taken as their reason.
 */
static int ask_reason(struct tg_effects *fx, const struct tg_request *t, const struct person *who,
                      int64_t chat, int64_t mid, struct lg_error *err)
{
    struct sbuf b = {0};
    json_t *p;

    /* The person is mentioned: in a group, a selective ForceReply opens the
     * reply field only for the people the message mentions. */
    sb_printf(&b, "Why deny? <a href=\"tg://user?id=%lld\">", (long long)who->id);
    tgmsg_escape(&b, who->name);
    sb_printf(&b, "</a>, reply to this message with your reason.\n\n" REASON_PROMPT_LAST, t->r.id,
              (long long)who->id);
    p = json_pack("{s:s, s:s, s:b, s:{s:I, s:b}, s:{s:b, s:b, s:s}}", "text", b.p, "parse_mode",
                  "HTML", "disable_web_page_preview", 1, "reply_parameters", "message_id",
                  (json_int_t)mid, "allow_sending_without_reply", 1, "reply_markup", "force_reply",
                  1, "selective", 1, "input_field_placeholder", "Your reason");
    sb_free(&b);
    return tg_effects_outbox(fx, "tg_text", chat, p, PRIO_TEXT, err);
}

/*
 * Whether `msg` (a message replied to) is this bot's "Why deny?" prompt:
 * then `id` is its request and *voter the person it asks.
 */
static bool reason_prompt(json_t *msg, int64_t self, char id[37], int64_t *voter)
{
    json_t *from = json_object_get(msg, "from");
    const char *text = json_string_value(json_object_get(msg, "text")), *last;
    long long v;
    int end = 0;

    if (!text || strncmp(text, "Why deny? ", 10) != 0 ||
        !json_is_true(json_object_get(from, "is_bot")) ||
        (int64_t)json_integer_value(json_object_get(from, "id")) != self)
        return false;
    last = strrchr(text, '\n');
    last = last ? last + 1 : text;
    if (sscanf(last, REASON_PROMPT_SCAN, id, &v, &end) != 2 || last[end] || !uuid_valid(id) ||
        v <= 0)
        return false;
    *voter = (int64_t)v;
    return true;
}

/*
 * A reply to the "Why deny?" prompt that asked `voter` about request
 * `locked` (NULL: gone): the person's deny vote with the text as reason.
 * Anyone else's reply, or one after the decision, adds nothing and is
 * answered so.
 */
static int handle_reason(const struct config *cfg, const struct tg_request *locked,
                         struct tg_effects *fx, json_t *msg, int64_t voter, struct decision *dn,
                         struct lg_error *err)
{
    int64_t chat = (int64_t)json_integer_value(json_object_get(json_object_get(msg, "chat"), "id"));
    int64_t mid = (int64_t)json_integer_value(json_object_get(msg, "message_id"));
    const char *text = json_string_value(json_object_get(msg, "text"));
    struct tg_choice choices[TG_MAX_CHOICES];
    const char *why = NULL, *action = NULL, *label = "Deny";
    const struct tg_request *t = locked;
    char *text_why = NULL;
    struct person who;
    json_t *hold = NULL;
    int n, rc = 0;

    person_from(json_object_get(msg, "from"), &who);
    if (!t)
        return send_text(fx, chat, mid, "This request no longer exists.", err);
    if (who.id != voter) {
        rc = audit(fx, t, &who, "mismatched_attempt",
                   json_pack("{s:s, s:I}", "via", "reason", "asked", (json_int_t)voter), err);
        return rc ? rc
                  : send_text(fx, chat, mid,
                              "This question asks someone else for a reason; press "
                              "\xE2\x80\x9C" TGMSG_DENY_WITH_REASON "\xE2\x80\x9D on the "
                              "request to give yours.",
                              err);
    }
    if (strcmp(t->r.status, "pending") != 0) {
        why = "This request is already decided; your reason was not recorded.";
        action = "late_attempt";
    } else if (t->bot_id != self_bot(cfg) &&
               !(t->r.esc_message_id && t->r.esc_bot_id == self_bot(cfg))) {
        /* neither the request's message nor its escalation message (021) is this bot's */
        why = OTHER_BOT_TEXT;
        action = "expired_attempt";
    } else {
        why = refusal_text(cfg, t, &who, chat, &action, &text_why);
    }
    if (why) {
        rc = action ? audit(fx, t, &who, action, json_pack("{s:s}", "via", "reason"), err) : 0;
        if (rc == 0)
            rc = send_plain(fx, chat, mid, why, err);
        free(text_why);
        return rc;
    }
    n = tgmsg_choices(&t->r, choices, &hold);
    for (int i = 0; i < n; i++)
        if (!choices[i].approve) {
            label = choices[i].label;
            break;
        }
    decide(dn, t, &who, label, false, "reason", NULL, chat, mid);
    json_decref(hold);
    dn->reason = clean_reason(text);
    dn->d.reason = dn->reason;
    if (dn->reason)
        json_object_set_new(dn->d.audit_detail, "reason", json_string(dn->reason));
    return 0;
}

/*
 * A button press for option `idx` (-1: its data names no request of ours);
 * `locked` is the request its data names, locked (NULL: none).
 */
static int handle_callback(const struct config *cfg, struct tg_effects *fx, json_t *cq, int idx,
                           const struct tg_request *locked, struct decision *dn,
                           struct lg_error *err)
{
    const char *cq_id = json_string_value(json_object_get(cq, "id"));
    json_t *msg = json_object_get(cq, "message");
    int64_t chat = (int64_t)json_integer_value(json_object_get(json_object_get(msg, "chat"), "id"));
    int64_t mid = (int64_t)json_integer_value(json_object_get(msg, "message_id"));
    struct tg_choice choices[TG_MAX_CHOICES + 1];
    const char *why = NULL, *action = NULL;
    const struct tg_request *t = locked;
    bool truncated;
    json_t *shown;
    int64_t self = self_bot(cfg), bot = message_bot(msg, self);
    struct person who;
    json_t *hold = NULL;
    char *text = NULL;
    bool asks = idx == DECIDE_CALLBACK_REASON, on_esc;
    int n, rc = 0;

    if (!cq_id)
        return lg_fail(err, 400, "invalid_update", "callback_query.id is missing");
    person_from(json_object_get(cq, "from"), &who);
    if (idx < 0)
        return answer_callback(fx, cq_id, "This button does not belong to a Loopgate request.",
                               err);
    if (bot != self)
        return answer_callback(fx, cq_id, OTHER_BOT_TEXT, err);
    if (!t)
        return answer_callback(fx, cq_id, "This request no longer exists.", err);
    /* The buttons as sent: a message cut to fit has an added Deny (tgmsg_offered). */
    shown = tgmsg_request(&t->r, &truncated);
    json_decref(shown);
    n = tgmsg_offered(&t->r, truncated, choices, &hold);
    /* the request's message, or its escalation message (021) */
    on_esc = t->r.esc_message_id && t->r.esc_chat_id == chat && t->r.esc_message_id == mid &&
             !(t->r.tg_chat_id == chat && t->r.tg_message_id == mid);
    if ((!on_esc && (t->r.tg_chat_id != chat || t->r.tg_message_id != mid)) ||
        (idx >= n && idx != DECIDE_CALLBACK_REASON) || (asks && n == 0)) {
        why = "This button does not match its request.";
        action = "mismatched_attempt";
    } else if ((on_esc ? t->r.esc_bot_id : t->bot_id) != self) {
        /* another bot's message, or one of bot 0 that this bot did not adopt */
        why = OTHER_BOT_TEXT;
        action = "expired_attempt";
    } else {
        why = refusal_text(cfg, t, &who, chat, &action, &text);
    }
    if (!why && !asks && tgmsg_refused(&t->r, &choices[idx], truncated)) {
        /* A message cut to fit Telegram offers its deny buttons only: refuse a forged approve. */
        why = "This request is too long to approve in Telegram.";
        action = "mismatched_attempt";
    }
    if (why) {
        rc = audit(fx, t, &who, action, json_pack("{s:i}", "option", idx), err);
        if (rc == 0)
            rc = answer_callback(fx, cq_id, why, err);
        log_info("decision refused", "request=%s user=%lld reason=%s", t->r.id, (long long)who.id,
                 action);
    } else if (asks && has_voted(&t->r, who.id)) {
        rc = audit(fx, t, &who, "already_voted", json_pack("{s:s}", "via", "reason"), err);
        if (rc == 0)
            rc = answer_callback(fx, cq_id, "You already voted on this request.", err);
    } else if (asks) {
        /* Recorded: a timeout that would approve denies while a reason is asked for
         * (sql/functions/requests_expire.sql). */
        rc = audit(fx, t, &who, "reason_asked", json_pack("{s:s}", "via", "button"), err);
        if (rc == 0)
            rc = ask_reason(fx, t, &who, chat, mid, err);
        if (rc == 0)
            rc = answer_callback(fx, cq_id, "Reply to the question with your reason.", err);
    } else {
        decide(dn, t, &who, choices[idx].label, choices[idx].approve, "button", cq_id, 0, 0);
    }
    free(text);
    json_decref(hold);
    return rc;
}

/*
 * The command a message's text starts with ("/pending" of "/pending@bot"),
 * in lower case (a phone capitalises "/Approve"), cut to 32 bytes.
 */
static void command_name(const char *text, char cmd[33])
{
    size_t n = strcspn(text, " @\n\t");

    if (n > 32)
        n = 32;
    for (size_t i = 0; i < n; i++)
        cmd[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    cmd[n] = '\0';
}

/* Whether `cmd` (command_name) answers a request in a reply. */
static bool reply_command(const char *cmd)
{
    return !strcmp(cmd, "/edit") || !strcmp(cmd, "/approve") || !strcmp(cmd, "/deny");
}

/* A command of chat `chat`; `v` holds what /pending and /status read. */
static int command(const struct tg_view *v, struct tg_effects *fx, int64_t chat, const char *text,
                   struct lg_error *err)
{
    char cmd[33];
    struct sbuf b = {0};
    int rc;

    command_name(text, cmd);
    if (!strcmp(cmd, "/start")) {
        sb_printf(&b,
                  "<b>Loopgate</b> asks you before AI agents act.\n\n"
                  "This chat's id is <code>%lld</code>. Register an agent session for it:\n"
                  "<pre>curl -X POST https://YOUR-LOOPGATE/hitl/register \\\n"
                  "  -H 'Content-Type: application/json' \\\n"
                  "  -d '{\"session_id\": \"my-agent\", \"client_id\": \"my-ai\", "
                  "\"telegram_id\": %lld}'</pre>\n"
                  "Then answer requests here with the buttons, or by replying to a message.",
                  (long long)chat, (long long)chat);
    } else if (!strcmp(cmd, "/help")) {
        sb_puts(&b, "<b>Loopgate commands</b>\n"
                    "/pending - requests waiting for an answer in this chat\n"
                    "/status - agent sessions that ask this chat\n"
                    "/start - this chat's id and how to register a session\n\n"
                    "Press a button to answer a request; reply to an input request's message "
                    "with your answer.\n\n"
                    "Or reply to a request's message with:\n"
                    "/approve [comment] - approve, with a comment the agent reads\n"
                    "/deny [reason] - deny, with a reason the agent reads\n"
                    "/edit key=value ... - approve with its parameters changed");
    } else if (!strcmp(cmd, "/pending")) {
        if (v->npending == 0)
            sb_puts(&b, "Nothing is waiting for an answer in this chat.");
        else
            sb_printf(&b, "<b>%d pending</b>\n", v->npending);
        for (int i = 0; i < v->npending; i++) {
            char *msg = tgmsg_clean(v->pending[i].message, false);
            if (tgmsg_utf16_len(msg) > 80)
                msg[80] = '\0';
            while (msg[0] && !utf8_valid(msg, strlen(msg)))
                msg[strlen(msg) - 1] = '\0';
            sb_puts(&b, "\n\xE2\x80\xA2 ");
            tgmsg_escape(&b, msg);
            sb_printf(&b, "\n  <code>%s</code>, expires %.16s UTC", v->pending[i].id,
                      v->pending[i].expires_at);
            free(msg);
        }
    } else if (!strcmp(cmd, "/status")) {
        if (v->nsessions == 0)
            sb_printf(&b, "No agent session asks this chat yet. Send /start to see how to "
                          "register one.");
        else
            sb_printf(&b, "<b>%d session%s</b>\n", v->nsessions, v->nsessions > 1 ? "s" : "");
        for (int i = 0; i < v->nsessions; i++) {
            sb_puts(&b, "\n\xE2\x80\xA2 <code>");
            tgmsg_escape(&b, v->sessions[i].session_id);
            sb_puts(&b, "</code> (client ");
            tgmsg_escape(&b, v->sessions[i].client_id);
            sb_printf(&b, "): %s, %lld pending", v->sessions[i].active ? "active" : "inactive",
                      (long long)v->sessions[i].pending);
        }
    } else {
        sb_puts(&b, "Unknown command. Send /help for the list.");
    }
    rc = send_text(fx, chat, 0, b.p, err);
    sb_free(&b);
    return rc;
}

/*
 * A reply to the request's message `t` that starts with /edit, /approve or
 * /deny (`cmd`, an @bot suffix dropped; `body` is what follows it):
 *
 * - `/deny <reason>`: the person's deny vote, with the reason when given
 *   (as "Deny with reason…" records it);
 * - `/approve <comment>`: their approve vote, with the comment as its
 *   reason ("Approved by Ann: <comment>" on the wire);
 * - `/edit` with key=value lines or a JSON object: their approve vote with
 *   the params changed (params_edit), checked against the request's schema.
 *
 * An approval takes the request's one approving option (Approve for a
 * confirmation or an input request); a request with none or several, or
 * whose message was cut to fit Telegram, cannot be approved this way. An
 * edit needs a request with params and a single approval: with a quorum,
 * the other approvers would approve params they did not see. Whatever is
 * refused for those reasons, or fails the schema, is answered in the chat
 * and records nothing; a refusal of who or when (refusal) is audited as a
 * press's is.
 */
static int handle_reply_command(const struct config *cfg, const struct tg_request *t,
                                struct tg_effects *fx, json_t *msg, int64_t chat, const char *cmd,
                                const char *body, struct decision *dn, struct lg_error *err)
{
    int64_t mid = (int64_t)json_integer_value(json_object_get(msg, "message_id"));
    int64_t self = self_bot(cfg), bot = message_bot(json_object_get(msg, "reply_to_message"), self);
    bool deny = !strcmp(cmd, "/deny"), edit = !strcmp(cmd, "/edit");
    struct tg_choice choices[TG_MAX_CHOICES];
    const char *why, *action = NULL, *label = NULL;
    char *text_why = NULL, *note = NULL;
    json_t *hold = NULL, *params = NULL, *schema = NULL, *edited = NULL;
    struct sbuf b = {0};
    struct person who;
    struct lg_error perr;
    bool truncated;
    int n, approving = 0, rc = 0;

    person_from(json_object_get(msg, "from"), &who);
    why = refusal_text(cfg, t, &who, chat, &action, &text_why);
    if (!why && bot != self) {
        why = OTHER_BOT_TEXT;
        action = "expired_attempt";
    }
    if (why) {
        rc = action ? audit(fx, t, &who, action, json_pack("{s:s}", "via", cmd + 1), err) : 0;
        if (rc == 0)
            rc = send_plain(fx, chat, mid, why, err);
        free(text_why);
        return rc;
    }
    n = tgmsg_choices(&t->r, choices, &hold);
    for (int i = 0; i < n; i++) {
        if (deny && !choices[i].approve && !label)
            label = choices[i].label;
        if (!deny && choices[i].approve) {
            approving++;
            label = choices[i].label;
        }
    }
    if (deny && !label)
        label = CONFIRM_DENY_LABEL;
    if (!deny && n == 0)
        label = CONFIRM_APPROVE_LABEL;
    if (!deny) {
        json_decref(tgmsg_request(&t->r, &truncated));
        if (truncated) {
            sb_printf(&b,
                      "This request was shortened to fit Telegram, so it cannot be approved "
                      "here. Read request <code>%s</code> whole through the API (GET "
                      "/hitl/pending, GET /hitl/poll?request_id=%s).",
                      t->r.id, t->r.id);
            rc = audit(fx, t, &who, "mismatched_attempt", json_pack("{s:s}", "via", cmd + 1), err);
            goto answer;
        }
        if (n > 0 && approving != 1) {
            sb_puts(&b, approving ? "This request has several options that approve: press the "
                                    "one you mean. Nothing was recorded."
                                  : "This request has no option that approves. Nothing was "
                                    "recorded.");
            goto answer;
        }
    }
    if (edit) {
        params = t->r.params_json ? json_loads(t->r.params_json, 0, NULL) : NULL;
        schema = t->r.params_schema_json ? json_loads(t->r.params_schema_json, 0, NULL) : NULL;
        if (!json_is_object(params)) {
            sb_puts(&b, "This request has no parameters to edit. Nothing was recorded.");
            goto answer;
        }
        if (t->r.approvals_required > 1) {
            sb_printf(&b,
                      "This request needs %d approvals, and edits need a request with a single "
                      "approver (nobody may approve parameters they did not see). Approve it as "
                      "sent, or deny it with a reason. Nothing was recorded.",
                      t->r.approvals_required);
            goto answer;
        }
        if (params_edit(params, json_is_object(schema) ? schema : NULL, body, &edited, &perr) < 0) {
            sb_puts(&b, "Not recorded: ");
            tgmsg_escape(&b, perr.message);
            sb_puts(&b, ".\nReply to the request with /edit and key=value lines (or a JSON "
                        "object) to try again.");
            goto answer;
        }
        if (json_equal(edited, params)) {
            /* The same values: an approval as sent, not an edit. */
            json_decref(edited);
            edited = NULL;
        }
    }
    decide(dn, t, &who, label, !deny, cmd + 1, NULL, chat, mid);
    note = edit ? NULL : clean_reason(body);
    if (note) {
        dn->reason = xstrdup(note);
        dn->d.reason = dn->reason;
        json_object_set_new(dn->d.audit_detail, "reason", json_string(dn->reason));
    }
    if (edited) {
        char sha[65];

        params_sha256(edited, sha);
        dn->params = edited;
        dn->d.params = edited;
        edited = NULL;
        json_object_set_new(dn->d.audit_detail, "params", json_incref(dn->params));
        json_object_set_new(dn->d.audit_detail, "params_sha256", json_string(sha));
        json_object_set_new(dn->d.audit_detail, "edited", json_true());
    }
    goto out;
answer:
    if (rc == 0)
        rc = send_text(fx, chat, mid, b.p, err);
out:
    sb_free(&b);
    free(note);
    json_decref(edited);
    json_decref(params);
    json_decref(schema);
    json_decref(hold);
    return rc;
}

/* A reply to message `locked` shows (NULL: no request's, so not ours). */
static int handle_reply(const struct config *cfg, const struct tg_request *locked,
                        struct tg_effects *fx, json_t *msg, int64_t chat, const char *text,
                        struct decision *dn, struct lg_error *err)
{
    int64_t mid = (int64_t)json_integer_value(json_object_get(msg, "message_id"));
    json_t *to_msg = json_object_get(msg, "reply_to_message");
    int64_t self = self_bot(cfg), bot = message_bot(to_msg, self);
    struct tg_choice choices[TG_MAX_CHOICES];
    const char *why, *action = NULL;
    const struct tg_request *t = locked;
    struct person who;
    json_t *hold = NULL;
    char *text_why = NULL;
    bool approve;
    int rc;

    person_from(json_object_get(msg, "from"), &who);
    if (!t) {
        /*
         * A reply to some other message. One of this bot's own that is not a
         * request's (a reminder, an escalation note) answered with a command,
         * or any reply to a reminder or a note: say where an answer goes.
         */
        const char *to_text = json_string_value(json_object_get(to_msg, "text"));
        char cmd[33];

        command_name(text, cmd);
        if (bot != self ||
            !json_is_true(json_object_get(json_object_get(to_msg, "from"), "is_bot")))
            return 0;
        if (!(text[0] == '/' && reply_command(cmd)) &&
            !(to_text &&
              (!strncmp(to_text, "Reminder:", 9) || !strncmp(to_text, "Escalated:", 10))))
            return 0;
        return send_plain(fx, chat, mid,
                          "Nothing recorded: to answer a request, reply to the request's own "
                          "message (the one with its buttons).",
                          err);
    }
    if (text[0] == '/') {
        char cmd[33];

        command_name(text, cmd);
        if (reply_command(cmd))
            return handle_reply_command(cfg, t, fx, msg, chat, cmd, text + strcspn(text, " \t\n"),
                                        dn, err);
    }
    why = refusal_text(cfg, t, &who, chat, &action, &text_why);
    if (!why && bot != self) {
        why = OTHER_BOT_TEXT;
        action = "expired_attempt";
    }
    if (!why && tgmsg_choices(&t->r, choices, &hold) > 0) {
        why = "Please answer this request with its buttons.";
        action = NULL;
    }
    json_decref(hold);
    if (why) {
        rc = action ? audit(fx, t, &who, action, NULL, err) : 0;
        if (rc == 0)
            rc = send_plain(fx, chat, mid, why, err);
        free(text_why);
        return rc;
    }
    /* Only a whole answer that is an approval approves; anything else is an answer that denies. */
    approve = decide_answer_approves(text);
    if (approve) {
        bool truncated;
        json_t *shown = tgmsg_request(&t->r, &truncated);

        json_decref(shown);
        if (truncated) {
            struct sbuf b = {0};

            sb_printf(&b,
                      "This request was shortened to fit Telegram, so it cannot be approved "
                      "here. Read request <code>%s</code> whole through the API (GET "
                      "/hitl/pending, GET /hitl/poll?request_id=%s).",
                      t->r.id, t->r.id);
            rc = audit(fx, t, &who, "mismatched_attempt", json_pack("{s:s}", "via", "reply"), err);
            if (rc == 0)
                rc = send_text(fx, chat, mid, b.p, err);
            sb_free(&b);
            log_info("decision refused", "request=%s user=%lld reason=shortened", t->r.id,
                     (long long)who.id);
            return rc;
        }
    }
    decide(dn, t, &who, text, approve, "reply", NULL, chat, mid);
    return 0;
}

static int handle_message(const struct config *cfg, const struct tg_view *v, struct tg_effects *fx,
                          json_t *msg, struct decision *dn, struct lg_error *err)
{
    int64_t chat = (int64_t)json_integer_value(json_object_get(json_object_get(msg, "chat"), "id"));
    const char *text = json_string_value(json_object_get(msg, "text"));

    if (!chat || !text)
        return 0; /* photos, joins, edits: nothing for us */
    if (json_object_get(msg, "reply_to_message"))
        return handle_reply(cfg, v->request, fx, msg, chat, text, dn, err);
    if (text[0] == '/')
        return command(v, fx, chat, text, err);
    return 0;
}

/* An update being handled: what its plan needs (plan_update). */
struct update_ctx {
    const struct config *cfg;
    json_t *cq;         /* a button press, or NULL */
    json_t *msg;        /* else a message, or NULL */
    int idx;            /* the press's option */
    int64_t voter;      /* a reply to a "Why deny?" prompt: whom it asked (0: not one) */
    char prompt_id[37]; /* and its request */
    struct decision dn;
};

/* The plan of an update (tg_plan): what it writes, from what was read, touching no database. */
static int plan_update(void *arg, const struct tg_view *v, struct tg_effects *fx,
                       struct lg_error *err)
{
    struct update_ctx *u = arg;
    int rc = 0;

    if (u->cq)
        rc = handle_callback(u->cfg, fx, u->cq, u->idx, v->request, &u->dn, err);
    else if (u->msg && u->voter)
        rc = handle_reason(u->cfg, v->request, fx, u->msg, u->voter, &u->dn, err);
    else if (u->msg)
        rc = handle_message(u->cfg, v, fx, u->msg, &u->dn, err);
    if (rc == 0 && u->dn.set)
        fx->decision = &u->dn.d;
    return rc;
}

/*
 * What update `in` reads in its transaction: the request a press names, the
 * request a reply answers, or what /pending and /status list.
 */
static void update_reads(const struct config *cfg, const struct update_ctx *u, const char *id,
                         struct tg_update *in)
{
    const char *text = json_string_value(json_object_get(u->msg, "text"));
    json_t *to_msg = json_object_get(u->msg, "reply_to_message");
    char cmd[33];

    in->read = TG_READ_NONE;
    in->chat_id =
        (int64_t)json_integer_value(json_object_get(json_object_get(u->msg, "chat"), "id"));
    if (u->cq) {
        in->read = id[0] ? TG_READ_REQUEST : TG_READ_NONE;
        in->request_id = id;
    } else if (!u->msg || !in->chat_id || !text) {
        return;
    } else if (u->voter) {
        in->read = TG_READ_REQUEST;
        in->request_id = u->prompt_id;
    } else if (to_msg) {
        in->read = TG_READ_MESSAGE;
        in->message_bot = message_bot(to_msg, self_bot(cfg));
        in->message_id = (int64_t)json_integer_value(json_object_get(to_msg, "message_id"));
    } else if (text[0] == '/') {
        command_name(text, cmd);
        if (!strcmp(cmd, "/pending"))
            in->read = TG_READ_CHAT_PENDING;
        else if (!strcmp(cmd, "/status"))
            in->read = TG_READ_CHAT_SESSIONS;
    }
}

/*
 * A button press that needs nothing but a decision, decided in one statement;
 * 2 when it must go the long way (refused, unknown, sent before its buttons
 * were kept): nothing was written then.
 */
static int quick_press(const struct config *cfg, json_t *cq, int64_t update_id, const char *id,
                       int idx, struct lg_error *err)
{
    json_t *msg = json_object_get(cq, "message");
    struct person who;
    struct tg_press p = {
        .update_id = update_id,
        .request_id = id,
        .option = idx,
        .chat_id = (int64_t)json_integer_value(json_object_get(json_object_get(msg, "chat"), "id")),
        .message_id = (int64_t)json_integer_value(json_object_get(msg, "message_id")),
        .allow = (const int64_t *)cfg->telegram_allowed_users.ids,
        .nallow = (size_t)cfg->telegram_allowed_users.n,
        .group_any = cfg->telegram_group_any_member,
        .callback_query_id = json_string_value(json_object_get(cq, "id")),
    };
    bool approved = false;
    int rc;

    p.bot_id = self_bot(cfg);
    if (!p.callback_query_id || !p.chat_id || !p.message_id ||
        message_bot(msg, p.bot_id) != p.bot_id)
        return 2;
    person_from(json_object_get(cq, "from"), &who);
    p.user_id = who.id;
    p.name = who.name;
    rc = store_tg_press(&p, &approved, err);
    if (rc == 1) {
        log_debug("repeated update ignored", "update_id=%lld", (long long)update_id);
        return 0;
    }
    if (rc == 3 || rc == 4) {
        log_info(rc == 3 ? "vote recorded" : "vote refused: already voted",
                 "request=%s user=%lld statements=1", id, (long long)who.id);
        notify_outbox_kick();
        return 0;
    }
    if (rc != 0)
        return rc;
    log_info("request decided", "request=%s user=%lld approved=%d statements=1", id,
             (long long)who.id, approved);
    /* On disk (a synchronous commit): the answer to the press and the edit may go now. */
    notify_outbox_kick();
    return 0;
}

int telegram_handle_update(const struct config *cfg, json_t *update, struct lg_error *err)
{
    json_t *uid = json_object_get(update, "update_id");
    json_t *cq = json_object_get(update, "callback_query"), *msg;
    const char *data = json_string_value(json_object_get(cq, "data"));
    struct update_ctx u = {.cfg = cfg, .idx = -1};
    struct tg_update in = {0};
    struct tg_effects fx;
    char id[37];
    int rc;

    if (!json_is_integer(uid))
        return lg_fail(err, 400, "invalid_update", "update_id must be an integer");
    /* A button press names its request: it is locked in the same round trip. */
    if (!json_is_object(cq) || !data || decide_callback_parse(data, id, &u.idx) < 0) {
        id[0] = '\0';
        u.idx = -1;
    }
    if (id[0] && (rc = quick_press(cfg, cq, (int64_t)json_integer_value(uid), id, u.idx, err)) != 2)
        return rc;
    if (json_is_object(cq))
        u.cq = cq;
    else if (json_is_object(msg = json_object_get(update, "message"))) {
        u.msg = msg;
        if (json_is_string(json_object_get(msg, "text")) &&
            !reason_prompt(json_object_get(msg, "reply_to_message"), self_bot(cfg), u.prompt_id,
                           &u.voter))
            u.voter = 0;
    }
    in.bot_id = update_bot(update, self_bot(cfg));
    in.update_id = (int64_t)json_integer_value(uid);
    update_reads(cfg, &u, id, &in);
    rc = store_tg_update(&in, plan_update, &u, &fx, err);
    tg_effects_clear(&fx);
    if (rc == 1) {
        log_debug("repeated update ignored", "update_id=%lld", (long long)json_integer_value(uid));
        decision_free(&u.dn);
        return 0;
    }
    if (rc == 0 && u.dn.set)
        log_info("request decided", "request=%s user=%lld approved=%d", u.dn.id,
                 (long long)u.dn.who.id, u.dn.d.approved);
    decision_free(&u.dn);
    /* On disk (a synchronous commit): the answer to the press and the edit may go now. */
    if (rc == 0)
        notify_outbox_kick();
    return rc;
}

int telegram_accept_update(const struct config *cfg, json_t *update, struct lg_error *err)
{
    json_t *uid = json_object_get(update, "update_id");
    struct lg_error rec;
    int64_t bot;
    int rc = telegram_handle_update(cfg, update, err);

    /* A statement that failed with the database up may have met another's lock: once more. */
    if (rc < 0 && err->status == 500)
        rc = telegram_handle_update(cfg, update, err);
    if (rc == 0 || err->status == 503)
        return rc;
    if (!json_is_integer(uid)) {
        /* Nothing to record it under: logged and passed over all the same. */
        log_warn("telegram update refused for good; it is skipped", "status=%d error=\"%s\"",
                 err->status, err->message);
        return 0;
    }
    bot = update_bot(update, self_bot(cfg));
    log_warn("telegram update refused for good; it is skipped",
             "bot=%lld update_id=%lld status=%d error=\"%s\"", (long long)bot,
             (long long)json_integer_value(uid), err->status, err->message);
    if (store_tg_refused(bot, (int64_t)json_integer_value(uid), err->message, &rec) < 0) {
        *err = rec;
        return -1;
    }
    return 0;
}

int telegram_adopt_unowned(int64_t bot)
{
    struct lg_error err;
    int64_t owner;
    int adopted;

    if (bot <= 0)
        return 0;
    if (store_tg_adopt_unowned(bot, &owner, &adopted, &err) < 0) {
        log_warn("could not settle which bot owns Telegram messages without a bot id",
                 "bot=%lld error=\"%s\"", (long long)bot, err.message);
        return -1;
    }
    if (adopted >= 0)
        log_info("Telegram messages recorded without a bot id are now this bot's",
                 "bot=%lld requests=%d", (long long)bot, adopted);
    else if (owner != bot)
        log_info("Telegram messages recorded without a bot id are another bot's; presses on "
                 "them are answered expired",
                 "bot=%lld owner=%lld", (long long)bot, (long long)owner);
    return 0;
}
