#!/usr/bin/env python3
"""tgstub.py - a stand-in for api.telegram.org (one bot) for the integration tests.

The model
---------
TelegramStub is a small HTTP server on 127.0.0.1 that answers the Bot API the
way Telegram does, for the one bot whose token it was given.  Loopgate is
pointed at it with TELEGRAM_API_URL=stub.url; requests arrive as
``POST|GET /bot<TOKEN>/<method>`` with parameters as a JSON body, a
form-urlencoded or multipart body, or a query string (all accepted; method
names are case-insensitive as in the real API).

Two directions, as with the real Telegram:

* Bot -> Telegram (Loopgate calls us).  Every call is validated like the real
  API (text 1-4096 UTF-16 code units after HTML entity parsing, callback_data
  1-64 bytes, "message is not modified", unknown/blocked chats, rate limits,
  409 between getUpdates and a webhook ...) and recorded in ``stub.calls``.
  Sent messages live in ``stub.messages`` keyed by (chat_id, message_id) so
  that later edits and button presses refer to them.  Answers are
  ``{"ok":true,"result":...}`` or ``{"ok":false,"error_code":N,
  "description":"...","parameters":{"retry_after":S}}``.

* Telegram -> bot (the human side).  press(), reply() and command() build
  Updates (a CallbackQuery on a stored message, a Message replying to a stored
  message, a "/start"-like message) with fresh increasing update_ids.
  deliver() POSTs an Update to the webhook target (our nginx) with the
  X-Telegram-Bot-Api-Secret-Token header and retries non-2xx answers and
  connection errors with growing delays, like Telegram; with no webhook
  anywhere the update is queued for getUpdates instead.

Faults are injected with fail_next(), delay / delay_for, go_down() /
come_back() / refuse() (the listening socket really closes, so connections
are refused, and reopens on the same port), unknown_chats and blocked_chats.

Everything is guarded by one lock; a Condition on it wakes long polls
(getUpdates) and wait_for().  The stub is stricter than Telegram in one
respect, on purpose: a bare "&" that does not start an entity is a parse
error in HTML mode (Telegram tolerates it; set strict_ampersand = False to
behave the same).  parse_mode Markdown/MarkdownV2 is accepted but not parsed.

Run this file to self-test: ``python3 tests/integration/tgstub.py``.
"""
import email.parser
import email.policy
import http.client
import json
import math
import random
import re
import socket
import socketserver
import ssl
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["TelegramStub", "ApiError", "EntityParseError", "parse_html", "utf16_len"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
             "tg-spoiler", "span", "blockquote"}
ENTITY_TYPE = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "a": "text_link", "code": "code", "pre": "pre", "tg-spoiler": "spoiler", "span": "spoiler",
    "blockquote": "blockquote",
}
BUTTON_ACTIONS = ("callback_data", "url", "login_url", "switch_inline_query",
                  "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                  "callback_game", "pay", "web_app", "copy_text")
DEFAULT_UPDATE_TYPES = {"message", "edited_message", "channel_post", "edited_channel_post",
                        "inline_query", "chosen_inline_result", "callback_query",
                        "shipping_query", "pre_checkout_query", "poll", "poll_answer",
                        "my_chat_member", "chat_join_request", "business_connection",
                        "business_message", "edited_business_message",
                        "deleted_business_messages", "message_reaction",
                        "message_reaction_count", "chat_boost", "removed_chat_boost",
                        "purchased_paid_media"} - {"message_reaction",
                                                   "message_reaction_count", "chat_member"}
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message")
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
PROXY_PAGE = ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1>"
              "</center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")

# parameters that arrive as JSON strings in form / query encoding, and scalars to coerce
_JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "reply_parameters",
                "link_preview_options", "caption_entities", "commands", "scope"}
_INT_PARAMS = {"message_id", "offset", "limit", "timeout", "max_connections",
               "reply_to_message_id", "cache_time", "message_thread_id"}
_BOOL_PARAMS = {"show_alert", "drop_pending_updates", "disable_notification",
                "disable_web_page_preview", "protect_content", "allow_sending_without_reply"}


class ApiError(Exception):
    """A Bot API error answer: HTTP status = error_code, plus description."""

    def __init__(self, status, description, retry_after=None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self):
        b = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            b["parameters"] = {"retry_after": self.retry_after}
        return b


class EntityParseError(ValueError):
    """Raised by parse_html; str() is the part after "can't parse entities: "."""


# ====================================================================== text model
def utf16_len(s):
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_entity(text, i):
    """(char, end) for an HTML entity Telegram knows starting at text[i] == "&", else None."""
    m = _ENTITY_RE.match(text, i)
    if not m:
        return None
    if m.group(3):
        return _NAMED[m.group(3)], m.end()
    cp = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
    if cp == 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return None
    return chr(cp), m.end()


def _unescape_attr(value):
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            d = _decode_entity(value, i)
            if d:
                out.append(d[0])
                i = d[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _byte_offset(text, i):
    return len(text[:i].encode("utf-8", "surrogatepass"))


def parse_html(text, strict_ampersand=True):
    """Parse Telegram HTML the way the Bot API does: (plain_text, entities).

    Tags: b strong i em u ins s strike del a code pre tg-spoiler span
    blockquote (attributes allowed, span needs class="tg-spoiler").  Entities:
    &lt; &gt; &amp; &quot; and numeric ones.  Entity offsets/lengths are in
    UTF-16 code units.  The text is not trimmed here.  Errors raise
    EntityParseError with messages modelled on Telegram's ("Unsupported start
    tag "x" at byte offset N", "Can't find end tag corresponding to start tag
    "b"", ...).
    """
    out = []
    pos = 0  # UTF-16 position in the output
    stack = []  # [tag, attrs, start_pos]
    entities = []
    n = len(text)
    i = 0

    def err(msg, at=None):
        if at is not None:
            msg = "%s at byte offset %d" % (msg, _byte_offset(text, at))
        raise EntityParseError(msg)

    while i < n:
        c = text[i]
        if c == "&":
            d = _decode_entity(text, i)
            if d:
                out.append(d[0])
                pos += utf16_len(d[0])
                i = d[1]
                continue
            if strict_ampersand:
                err('Unescaped "&" (not part of an entity; write &amp;)', i)
        if c != "<":
            out.append(c)
            pos += 2 if ord(c) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":  # end tag
            j = text.find(">", i + 2)
            if j < 0:
                err("Unclosed end tag", begin)
            name = text[i + 2:j].strip().lower()
            if not stack:
                err("Unexpected end tag", begin)
            tag, attrs, start = stack.pop()
            if name != tag:
                err('Unmatched end tag at byte offset %d, expected "</%s>", found "</%s>"'
                    % (_byte_offset(text, begin), tag, name))
            length = pos - start
            if length > 0:
                ent = {"type": ENTITY_TYPE[tag], "offset": start, "length": length}
                if tag == "a":
                    href = attrs.get("href", "")
                    m = re.match(r"tg://user\?id=(\d+)$", href)
                    if m:
                        ent = dict(ent, type="text_mention", user={"id": int(m.group(1))})
                    elif href:
                        ent["url"] = href
                    else:
                        ent = None
                elif tag == "blockquote" and "expandable" in attrs:
                    ent["type"] = "expandable_blockquote"
                elif tag == "code" and attrs.get("class", "").startswith("language-") \
                        and stack and stack[-1][0] == "pre":
                    stack[-1][1]["_language"] = attrs["class"][len("language-"):]
                elif tag == "pre" and attrs.get("_language"):
                    ent["language"] = attrs["_language"]
                if ent:
                    entities.append(ent)
            i = j + 1
            continue
        # start tag: name runs to whitespace or ">"
        j = i + 1
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            err("Unclosed start tag", begin)
        name = text[i + 1:j].lower()
        if name not in HTML_TAGS:
            err('Unsupported start tag "%s"' % name, begin)
        attrs = {}
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                err("Unclosed start tag", begin)
            if text[j] == ">":
                j += 1
                break
            k = j
            while k < n and not text[k].isspace() and text[k] not in "=>":
                k += 1
            if k == j:
                err('Empty attribute name in the tag "%s"' % name, begin)
            aname = text[j:k].lower()
            j = k
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                err("Unclosed start tag", begin)
            if text[j] != "=":
                attrs[aname] = ""
                continue
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                err("Unclosed start tag", begin)
            if text[j] in "\"'":
                k = text.find(text[j], j + 1)
                if k < 0:
                    err("Unclosed start tag", begin)
                attrs[aname] = _unescape_attr(text[j + 1:k])
                j = k + 1
            else:
                k = j
                while k < n and not text[k].isspace() and text[k] != ">":
                    k += 1
                attrs[aname] = _unescape_attr(text[j:k])
                j = k
        if name == "span" and attrs.get("class") != "tg-spoiler":
            err('Tag "span" must have class "tg-spoiler"', begin)
        stack.append([name, attrs, pos])
        i = j
    if stack:
        err('Can\'t find end tag corresponding to start tag "%s"' % stack[-1][0])
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _trim(text, entities):
    """Telegram strips leading/trailing whitespace; shift and clip entities to match."""
    stripped = text.strip()
    if not stripped:
        return "", []
    lead = utf16_len(text[:len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out = []
    for e in entities:
        start = max(0, e["offset"] - lead)
        end = min(total, e["offset"] - lead + e["length"])
        if end > start:
            out.append(dict(e, offset=start, length=end - start))
    return stripped, out


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, ensure_ascii=False) if obj is not None else None


# ====================================================================== HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads (keep-alive, long polls)
    allow_reuse_address = True  # come back on the same port despite TIME_WAIT
    request_queue_size = 128  # many concurrent workers must not overflow the backlog

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skip getfqdn()
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            self.stub.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"
    sys_version = ""
    timeout = 120

    def log_message(self, *args):
        pass

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        self.server.stub._conn_opened(self.connection)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.stub._conn_closed(self.connection)

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self):
        stub = self.server.stub
        body = self._read_body()
        answer = stub._handle_http(self.command, self.path, self.headers, body)
        if answer is None:  # "down": drop the connection without a word
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, ctype, payload = answer
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = _serve


def _coerce(params):
    """Decode JSON-string fields and coerce scalars as the Bot API does."""
    out = {}
    for k, v in params.items():
        if k in _JSON_PARAMS and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                if k == "reply_markup":
                    raise ApiError(400, "Bad Request: can't parse reply keyboard markup "
                                        "JSON object")
                raise ApiError(400, "Bad Request: can't parse %s JSON object" % k)
        elif k == "chat_id" and isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            v = int(v)
        elif k in _INT_PARAMS and isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            v = int(v)
        elif k in _BOOL_PARAMS and isinstance(v, str):
            v = v.strip().lower() in ("true", "1", "yes")
        out[k] = v
    return out


def _parse_params(query, headers, body):
    """Merged parameters from the query string and a JSON/form/multipart body."""
    params = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
    encoding = "query" if params else "none"
    ctype = (headers.get("Content-Type") or "").lower()
    if body:
        if "application/json" in ctype or (not ctype and body.lstrip()[:1] == b"{"):
            try:
                obj = json.loads(body.decode("utf-8", "surrogatepass"))
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON body")
            if not isinstance(obj, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            params.update(obj)
            encoding = "json"
        elif "multipart/form-data" in ctype:
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + headers.get("Content-Type").encode() + b"\r\n\r\n" + body)
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:
                    params[name] = part.get_payload(decode=True).decode("utf-8", "replace")
            encoding = "multipart"
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
            encoding = "form"
    return _coerce(params), encoding


class Delivery(threading.Thread):
    """A deliver() running in the background: join() it, then read .statuses."""

    def __init__(self, stub, update, kwargs):
        super().__init__(daemon=True)
        self.stub, self.update, self.kwargs = stub, update, kwargs
        self.statuses = None
        self.error = None

    def run(self):
        try:
            self.statuses = self.stub.deliver(self.update, **self.kwargs)
        except Exception as e:  # noqa: BLE001 - surfaced through .result()
            self.error = e

    def result(self, timeout=60):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("background delivery still running after %.0fs" % timeout)
        if self.error:
            raise self.error
        return self.statuses


# ====================================================================== the stub
class TelegramStub:
    """A fake api.telegram.org for one bot (see the module docstring for the model).

    Tunables (plain attributes, change them any time):
      rate_limits           True: answer 429 like Telegram when the limits below are exceeded
      private_interval      0.9  s between two messages to one private chat (id > 0)
      group_limit/_window   20 per 60 s to one group chat (id < 0)
      bot_limit/_window     30 per 1 s sliding window for the whole bot
      rate_limited_methods  which methods count ("sendMessage", "editMessageText",
                            "editMessageReplyMarkup")
      delay, delay_for      artificial latency per call, seconds (delay_for[method] wins)
      max_poll              cap on getUpdates' timeout, seconds
      callback_timeout      a callback query can be answered this long (150 s)
      strict_ampersand      a bare "&" in HTML is a parse error (Telegram tolerates it)
      unknown_chats         chat ids answered 400 "chat not found"
      blocked_chats         chat ids answered 403 (blocked by the user / kicked)
      next_update_id        the next Update's update_id
    Records (appended under the lock; the helper methods return snapshots):
      calls          [{"method", "params", "time", "status", "response", "http_method",
                       "encoding", "received", "via", ["fault"], ["raw"]}]
      messages       {(chat_id, message_id): {"text", "entities", "reply_markup",
                       "parse_mode", "raw_text", "date", "edit_date", "edits", "message"}}
      user_messages  {(chat_id, message_id): Message} written by reply()/command()
      answers        answerCallbackQuery params, in order
      deliveries     [{"update_id", "url", "status", "error", "secret", "time"}]
      count_429, errors (tracebacks of stub bugs; should stay empty)
    """

    def __init__(self, token="123456:TEST-token", port=0, host="127.0.0.1"):
        self.token = token
        self.host = host
        self._want_port = port
        self.port = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._server = None
        self._thread = None
        self._conns = set()
        self._down = False
        self._stopped = False

        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 123456
        self.bot_user = {"id": self.bot_id, "is_bot": True, "first_name": "Loopgate Test Bot",
                         "username": "loopgate_test_bot", "can_join_groups": True,
                         "can_read_all_group_messages": False, "supports_inline_queries": False,
                         "can_connect_to_business": False, "has_main_web_app": False}

        # tunables
        self.rate_limits = True
        self.private_interval = 0.9
        self.group_limit, self.group_window = 20, 60.0
        self.bot_limit, self.bot_window = 30, 1.0
        self.rate_limited_methods = {"sendMessage", "editMessageText", "editMessageReplyMarkup"}
        self.delay = 0.0
        self.delay_for = {}
        self.max_poll = 30.0
        self.callback_timeout = 150.0
        self.strict_ampersand = True
        # The domain linked to the bot with BotFather's /setdomain (None: none yet); a
        # login_url elsewhere is refused with BOT_DOMAIN_INVALID, as Telegram does.
        self.login_domain = None
        self.unknown_chats = set()
        self.blocked_chats = set()
        self.next_update_id = 100000000 + random.randrange(100000000)

        # records
        self.calls = []
        self.messages = {}
        self.user_messages = {}
        self.answers = []
        self.deliveries = []
        self.callback_queries = {}
        self.count_429 = 0
        self.errors = []  # tracebacks of stub bugs, should stay empty

        # internal state
        self._faults = []
        self._next_msg = {}
        self._cq_base = random.randrange(10 ** 17, 9 * 10 ** 17)
        self._cq_count = 0
        self._queue = deque()  # updates waiting for getUpdates
        self._poll_gen = 0
        self._poll_allowed = None
        self._webhook = {"url": "", "secret_token": None, "allowed_updates": None,
                         "max_connections": 40}
        self._target = None  # (url, secret or None) from webhook_target()
        self._pending_deliveries = 0
        self._last_error = None  # (unix time, message)
        self._last_private = {}
        self._group_times = {}
        self._bot_times = deque()

        self._methods = {m.lower(): (m, getattr(self, "_m_" + m)) for m in (
            "getMe", "sendMessage", "editMessageText", "editMessageReplyMarkup",
            "deleteMessage", "answerCallbackQuery", "setWebhook", "deleteWebhook",
            "getWebhookInfo", "getUpdates")}

    # ------------------------------------------------------------ lifecycle
    @property
    def url(self):
        """Base URL to give Loopgate as TELEGRAM_API_URL."""
        return "http://%s:%d" % (self.host, self.port)

    def api_url(self, method, token=None):
        return "%s/bot%s/%s" % (self.url, self.token if token is None else token, method)

    def start(self):
        self._listen()
        return self

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._close_listener()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def go_down(self):
        """Close the listening socket and every open connection: calls now fail with
        ECONNREFUSED (new) or a reset (in flight).  Nothing is recorded while down."""
        with self._cond:
            self._down = True
            self._cond.notify_all()
        self._close_listener()

    def come_back(self):
        """Listen again on the same port (no-op after stop())."""
        with self._cond:
            if self._stopped or self._server is not None:
                return
            self._down = False
        self._listen()

    def refuse(self, seconds):
        """go_down() now and come_back() after `seconds` (in the background)."""
        self.go_down()
        t = threading.Timer(seconds, self.come_back)
        t.daemon = True
        t.start()
        return t

    @property
    def is_down(self):
        return self._down

    def _listen(self):
        port = self.port if self.port is not None else self._want_port
        end = time.monotonic() + 5
        while True:
            try:
                server = _Server((self.host, port), _Handler)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        server.stub = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tgstub:%d" % self.port, daemon=True)
        self._thread.start()

    def _close_listener(self):
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _conn_opened(self, conn):
        with self._lock:
            self._conns.add(conn)

    def _conn_closed(self, conn):
        with self._lock:
            self._conns.discard(conn)

    # ------------------------------------------------------------ fault injection
    def fail_next(self, method, status, description=None, retry_after=None, count=1, body=None):
        """Answer the next `count` calls of `method` ("*" = any) with an error.

        status 429 adds parameters.retry_after (default 1); 502/503/504 answer an
        nginx-style HTML page; other statuses a Bot API JSON error; status 0 closes
        the connection without an answer.  `body` (str) overrides the body
        (sent as text/plain)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                409: "Conflict", 429: "Too Many Requests: retry after %s" % retry_after,
                500: "Internal Server Error",
            }.get(status, "Error %s" % status)
        with self._lock:
            self._faults.append({"method": method.lower(), "status": status,
                                 "description": description, "retry_after": retry_after,
                                 "remaining": count, "body": body})

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method):
        for f in self._faults:
            if f["method"] in ("*", method.lower()) and f["remaining"] > 0:
                f["remaining"] -= 1
                if f["remaining"] == 0:
                    self._faults.remove(f)
                return f
        return None

    # ------------------------------------------------------------ request handling
    def _handle_http(self, http_method, path, headers, body):
        """One HTTP request -> (status, content type, bytes), or None to drop it."""
        received = time.monotonic()
        if self._down or self._stopped:
            return None
        split = urllib.parse.urlsplit(path)
        m = re.fullmatch(r"/bot([^/]*)/([^/]*)/?", split.path)
        name = m.group(2) if m else split.path
        canonical = None
        encoding = None
        try:
            params, encoding = _parse_params(split.query, headers, body)
        except ApiError as e:
            params, parse_error = {}, e
        else:
            parse_error = None
        if m and m.group(1) == self.token:
            entry = self._methods.get(name.lower())
            canonical = entry[0] if entry else None
        pause = self.delay_for.get(canonical or name, self.delay)
        if pause:
            time.sleep(pause)
        with self._cond:
            if self._down or self._stopped:
                return None
            meta = {"http_method": http_method, "encoding": encoding, "received": received,
                    "via": "http"}
            if not m or m.group(1) != self.token:
                err = ApiError(401, "Unauthorized") if m else ApiError(404, "Not Found")
                return self._answer(name, params, meta, err.status, err.body())
            if canonical is None:
                return self._answer(name, params, meta, 404, ApiError(404, "Not Found").body())
            fault = self._take_fault(canonical)
            if fault:
                return self._answer_fault(canonical, params, meta, fault)
            if parse_error:
                return self._answer(canonical, params, meta, parse_error.status,
                                    parse_error.body())
            status, resp = self._dispatch(canonical, params)
            if self._down or self._stopped:  # went down during a long poll
                return None
            return self._answer(canonical, params, meta, status, resp)

    def _dispatch(self, method, params):
        """Run one method with the lock held -> (status, response dict)."""
        try:
            result = self._methods[method.lower()][1](params)
        except ApiError as e:
            if e.status == 429:
                self.count_429 += 1
            return e.status, e.body()
        except Exception:  # noqa: BLE001 - a stub bug or odd input: answer 500, keep the trace
            self.errors.append(traceback.format_exc())
            return 500, ApiError(500, "Internal Server Error").body()
        if isinstance(result, tuple):  # (result, description)
            return 200, {"ok": True, "result": result[0], "description": result[1]}
        return 200, {"ok": True, "result": result}

    def _record(self, method, params, meta, status, response, raw=None):
        call = {"method": method, "params": params, "time": time.monotonic(),
                "status": status, "response": response}
        call.update(meta)
        if raw is not None:
            call["raw"] = raw
        self.calls.append(call)
        self._cond.notify_all()
        return call

    def _answer(self, method, params, meta, status, response):
        self._record(method, params, meta, status, response)
        payload = json.dumps(response, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return status, "application/json", payload

    def _answer_fault(self, method, params, meta, fault):
        status = fault["status"]
        if status == 429:
            self.count_429 += 1
        if not status:
            self._record(method, params, dict(meta, fault=True), 0, None)
            return None
        if fault["body"] is not None:
            self._record(method, params, dict(meta, fault=True), status, None, raw=fault["body"])
            return status, "text/plain", fault["body"].encode()
        if status in (502, 503, 504):
            reason = http.client.responses.get(status, "Error")
            page = PROXY_PAGE % (status, reason, status, reason)
            self._record(method, params, dict(meta, fault=True), status, None, raw=page)
            return status, "text/html", page.encode()
        err = ApiError(status, fault["description"], fault["retry_after"])
        meta = dict(meta, fault=True)
        return self._answer(method, params, meta, status, err.body())

    # ------------------------------------------------------------ helpers for methods
    def _chat_object(self, chat_id):
        if chat_id > 0:
            return {"id": chat_id, "first_name": "Ann", "type": "private"}
        kind = "supergroup" if str(chat_id).startswith("-100") and len(str(chat_id)) > 13 \
            else "group"
        return {"id": chat_id, "title": "Loopgate test group", "type": kind}

    def _chat(self, params):
        v = params.get("chat_id")
        if v is None or v == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(v, int) or isinstance(v, bool):
            raise ApiError(400, "Bad Request: chat not found")
        if v in self.unknown_chats:
            raise ApiError(400, "Bad Request: chat not found")
        if v in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user" if v > 0
                           else "Forbidden: bot was kicked from the group chat")
        return v

    def _text(self, params, field="text"):
        """Validate text + parse_mode -> (plain, entities)."""
        raw = params.get(field)
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: message text is empty")
        if not isinstance(raw, str):
            raw = str(raw)
        mode = str(params.get("parse_mode") or "")
        if mode.lower() == "html":
            try:
                plain, entities = parse_html(raw, self.strict_ampersand)
            except EntityParseError as e:
                raise ApiError(400, "Bad Request: can't parse entities: %s" % e)
        elif mode.lower() in ("", "markdown", "markdownv2"):
            plain, entities = raw, []
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        plain, entities = _trim(plain, entities)
        if not plain:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _markup(self, params):
        """Validate reply_markup -> (markup as stored, inline markup for the Message or None)."""
        mk = params.get("reply_markup")
        if mk is None or mk == "":
            return None, None
        if not isinstance(mk, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in mk:
            rows = mk["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                    "field \"inline_keyboard\" must be an Array of Arrays")
            count = 0
            for row in rows:
                for b in row:
                    count += 1
                    if not isinstance(b, dict):
                        raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                            "InlineKeyboardButton must be an Object")
                    if not isinstance(b.get("text"), str):
                        raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                            "Field \"text\" must be of type String")
                    if not b["text"].strip():
                        raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                    actions = [a for a in BUTTON_ACTIONS if a in b]
                    if len(actions) != 1:
                        raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                            "Text buttons are unallowed in the inline keyboard")
                    if "callback_data" in b:
                        d = b["callback_data"]
                        if not isinstance(d, str) or not 1 <= len(d.encode("utf-8")) <= \
                                MAX_CALLBACK_DATA:
                            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                    if "login_url" in b:
                        self._login_url(b["login_url"])
                    if "url" in b and not re.match(r"(https?|tg)://\S+$", str(b["url"])):
                        raise ApiError(400, "Bad Request: inline keyboard button URL '%s' is "
                                            "invalid: Wrong HTTP URL" % b["url"])
            if count > 100:
                raise ApiError(400, "Bad Request: reply markup is too long")
            inline = {"inline_keyboard": rows} if count else None
            return inline, inline
        if "force_reply" in mk:
            ph = mk.get("input_field_placeholder")
            if mk["force_reply"] is not True or (ph is not None and not 1 <= len(ph) <= 64):
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            return mk, None
        if "keyboard" in mk or "remove_keyboard" in mk:
            return mk, None
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")

    def _login_url(self, lu):
        """Validate a LoginUrl: an object with an HTTPS url on the bot's linked domain."""
        if not isinstance(lu, dict) or not isinstance(lu.get("url"), str):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: Field "
                                "\"login_url\" must be of type Object")
        for k in ("request_write_access",):
            if k in lu and not isinstance(lu[k], bool):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Field "
                                    "\"%s\" must be of type Boolean" % k)
        u = urllib.parse.urlsplit(lu["url"])
        if u.scheme != "https" or not u.hostname or re.search(r"\s", lu["url"]):
            raise ApiError(400, "Bad Request: wrong HTTP URL")
        if self.login_domain is None or u.hostname != self.login_domain:
            raise ApiError(400, "Bad Request: BOT_DOMAIN_INVALID")

    def _rate_check(self, method, chat_id):
        """Raise 429 if this message would exceed a limit; else note it as sent."""
        if method not in self.rate_limited_methods:
            return
        now = time.monotonic()
        if self.rate_limits:
            if chat_id > 0:
                last = self._last_private.get(chat_id)
                if last is not None and now - last < self.private_interval:
                    n = max(1, math.ceil(self.private_interval - (now - last)))
                    raise ApiError(429, "Too Many Requests: retry after %d" % n, n)
            else:
                times = self._group_times.setdefault(chat_id, deque())
                while times and now - times[0] >= self.group_window:
                    times.popleft()
                if len(times) >= self.group_limit:
                    n = max(1, math.ceil(self.group_window - (now - times[0])))
                    raise ApiError(429, "Too Many Requests: retry after %d" % n, n)
            while self._bot_times and now - self._bot_times[0] >= self.bot_window:
                self._bot_times.popleft()
            if len(self._bot_times) >= self.bot_limit:
                n = max(1, math.ceil(self.bot_window - (now - self._bot_times[0])))
                raise ApiError(429, "Too Many Requests: retry after %d" % n, n)
        if chat_id > 0:
            self._last_private[chat_id] = now
        else:
            self._group_times.setdefault(chat_id, deque()).append(now)
        self._bot_times.append(now)

    def _new_message_id(self, chat_id):
        n = self._next_msg.get(chat_id, 0) + 1
        self._next_msg[chat_id] = n
        return n

    def _find_message(self, chat_id, message_id):
        rec = self.messages.get((chat_id, message_id))
        if rec:
            return rec["message"]
        return self.user_messages.get((chat_id, message_id))

    @staticmethod
    def _shallow(msg):
        """A message as nested in reply_to_message / callback_query (no further nesting)."""
        return {k: v for k, v in msg.items() if k != "reply_to_message"}

    def _message_ids(self, params):
        chat_id = self._chat(params)
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        mid = params.get("message_id")
        if mid is None or mid == "":
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if not isinstance(mid, int):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        return chat_id, mid

    # ------------------------------------------------------------ Bot API methods
    def _m_getMe(self, params):
        return dict(self.bot_user)

    def _m_sendMessage(self, params):
        chat_id = self._chat(params)
        plain, entities = self._text(params)
        stored_markup, inline = self._markup(params)
        reply_to = None
        rp = params.get("reply_parameters")
        rid = params.get("reply_to_message_id")
        allow = params.get("allow_sending_without_reply")
        if isinstance(rp, dict):
            rid, allow = rp.get("message_id"), rp.get("allow_sending_without_reply", allow)
        if rid:
            reply_to = self._find_message(chat_id, rid)
            if reply_to is None and not allow:
                raise ApiError(400, "Bad Request: message to be replied not found")
        self._rate_check("sendMessage", chat_id)
        mid = self._new_message_id(chat_id)
        sender = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        msg = {"message_id": mid, "from": sender, "chat": self._chat_object(chat_id),
               "date": int(time.time()), "text": plain}
        if reply_to:
            msg["reply_to_message"] = self._shallow(reply_to)
        if entities:
            msg["entities"] = entities
        if inline:
            msg["reply_markup"] = inline
        self.messages[(chat_id, mid)] = {
            "chat_id": chat_id, "message_id": mid, "text": plain, "entities": entities,
            "reply_markup": stored_markup, "parse_mode": params.get("parse_mode"),
            "raw_text": params.get("text"), "date": msg["date"], "edit_date": None,
            "edits": 0, "message": msg}
        return msg

    def _edit(self, method, params, new_text):
        chat_id, mid = self._message_ids(params)
        rec = self.messages.get((chat_id, mid))
        if rec is None:
            if (chat_id, mid) in self.user_messages:
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        if new_text:
            plain, entities = self._text(params)
        else:
            plain, entities = rec["text"], rec["entities"]
        stored_markup, inline = self._markup(params)
        if plain == rec["text"] and _canonical(entities) == _canonical(rec["entities"]) and \
                _canonical(inline) == _canonical(rec["message"].get("reply_markup")):
            raise ApiError(400, NOT_MODIFIED)
        self._rate_check(method, chat_id)
        msg = dict(rec["message"], text=plain, edit_date=int(time.time()))
        msg.pop("entities", None)
        msg.pop("reply_markup", None)
        if entities:
            msg["entities"] = entities
        if inline:
            msg["reply_markup"] = inline
        rec.update(text=plain, entities=entities, reply_markup=stored_markup,
                   edit_date=msg["edit_date"], edits=rec["edits"] + 1, message=msg)
        if new_text:
            rec.update(parse_mode=params.get("parse_mode"), raw_text=params.get("text"))
        return msg

    def _m_editMessageText(self, params):
        return self._edit("editMessageText", params, True)

    def _m_editMessageReplyMarkup(self, params):
        return self._edit("editMessageReplyMarkup", params, False)

    def _m_deleteMessage(self, params):
        chat_id, mid = self._message_ids(params)
        if self.messages.pop((chat_id, mid), None) is None and \
                self.user_messages.pop((chat_id, mid), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _m_answerCallbackQuery(self, params):
        qid = params.get("callback_query_id")
        cq = self.callback_queries.get(str(qid)) if qid not in (None, "") else None
        if qid in (None, ""):
            raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
        if cq is None or cq["answered"] or \
                time.monotonic() - cq["created"] > self.callback_timeout:
            raise ApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and utf16_len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        cq["answered"] = True
        cq["answer"] = params
        self.answers.append(params)
        return True

    def _m_setWebhook(self, params):
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret not in (None, ""):
            if not isinstance(secret, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
                raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not re.match(r"https?://[^/\s]+", url):
            raise ApiError(400, "Bad Request: bad webhook: Failed to resolve host: "
                                "Name or service not known")
        mc = params.get("max_connections")
        if mc is not None and (not isinstance(mc, int) or not 1 <= mc <= 100):
            mc = 40 if not isinstance(mc, int) else min(100, max(1, mc))
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if not url:
            return self._m_deleteWebhook(params)
        same = self._webhook["url"] == url
        self._webhook.update(url=url, secret_token=secret or None,
                             max_connections=mc or self._webhook["max_connections"] or 40)
        if params.get("allowed_updates") is not None:
            self._webhook["allowed_updates"] = list(params["allowed_updates"])
        self._cond.notify_all()
        return True, "Webhook is already set" if same else "Webhook was set"

    def _m_deleteWebhook(self, params):
        was = bool(self._webhook["url"])
        self._webhook.update(url="", secret_token=None)
        if params.get("drop_pending_updates"):
            self._queue.clear()
        return True, "Webhook was deleted" if was else "Webhook is already deleted"

    def _m_getWebhookInfo(self, params):
        info = {"url": self._webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self._queue) + self._pending_deliveries}
        if self._webhook["url"]:
            info["max_connections"] = self._webhook["max_connections"]
            info["ip_address"] = "127.0.0.1"
            if self._webhook["allowed_updates"]:
                info["allowed_updates"] = list(self._webhook["allowed_updates"])
            if self._last_error:
                info["last_error_date"], info["last_error_message"] = self._last_error
        return info

    def _update_allowed(self, update, allowed):
        kind = next((k for k in update if k != "update_id"), None)
        return kind in (set(allowed) if allowed else DEFAULT_UPDATE_TYPES)

    def _m_getUpdates(self, params):
        if self._webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        offset = params.get("offset") or 0
        limit = params.get("limit") or 100
        limit = min(100, max(1, limit)) if isinstance(limit, int) else 100
        timeout = params.get("timeout") or 0
        timeout = max(0, timeout) if isinstance(timeout, int) else 0
        if params.get("allowed_updates") is not None:
            self._poll_allowed = list(params["allowed_updates"]) or None
        if isinstance(offset, int) and offset > 0:
            while self._queue and self._queue[0]["update_id"] < offset:
                self._queue.popleft()
        elif isinstance(offset, int) and offset < 0:
            while len(self._queue) > -offset:
                self._queue.popleft()
        self._poll_gen += 1
        gen = self._poll_gen
        self._cond.notify_all()  # an older poll, if any, ends with 409
        end = time.monotonic() + min(timeout, self.max_poll)
        while True:
            for u in list(self._queue):
                if not self._update_allowed(u, self._poll_allowed):
                    self._queue.remove(u)
            batch = list(self._queue)[:limit]
            left = end - time.monotonic()
            if batch or left <= 0 or self._down or self._stopped:
                return batch
            if self._webhook["url"]:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                    "active; use deleteWebhook to delete the webhook first")
            self._cond.wait(left)
            if gen != self._poll_gen:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")

    # ------------------------------------------------------------ reading the records
    def calls_of(self, method):
        """Recorded calls of one method (any spelling of its name), oldest first."""
        with self._lock:
            return [c for c in self.calls if c["method"].lower() == method.lower()]

    def sent_messages(self, chat_id=None):
        """Message objects returned by successful sendMessage calls, oldest first."""
        with self._lock:
            return [c["response"]["result"] for c in self.calls
                    if c["method"] == "sendMessage" and c["status"] == 200
                    and (chat_id is None or c["response"]["result"]["chat"]["id"] == chat_id)]

    def last_message(self, chat_id=None):
        """The current record (see .messages) of the newest bot message (in chat_id)."""
        with self._lock:
            recs = [r for r in self.messages.values()
                    if chat_id is None or r["chat_id"] == chat_id]
            return max(recs, key=lambda r: (r["date"], r["message_id"])) if recs else None

    def answer_for(self, callback_query_id):
        """The answerCallbackQuery params for that query id, or None if unanswered."""
        with self._lock:
            cq = self.callback_queries.get(str(callback_query_id))
            return cq and cq.get("answer")

    def webhook_info(self):
        """What getWebhookInfo would answer (plus the secret_token, for tests)."""
        with self._lock:
            return dict(self._m_getWebhookInfo({}), secret_token=self._webhook["secret_token"])

    def reset_records(self):
        """Forget calls, answers, deliveries and count_429 (messages and state stay)."""
        with self._lock:
            self.calls.clear()
            self.answers.clear()
            self.deliveries.clear()
            self.count_429 = 0

    def wait_for(self, predicate, timeout=10.0, message=None, interval=0.05):
        """Poll predicate() (woken early by every recorded call) until it returns a truthy
        value, and return it; AssertionError after `timeout` seconds."""
        end = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            left = end - time.monotonic()
            if left <= 0:
                break
            with self._cond:
                self._cond.wait(min(interval, left))
        with self._lock:
            recent = ["%s -> %s" % (c["method"], c["status"]) for c in self.calls[-8:]]
        raise AssertionError("tgstub: timed out after %.1fs waiting for %s; last calls: %s"
                             % (timeout, message or getattr(predicate, "__name__", "condition"),
                                ", ".join(recent) or "none"))

    def wait_for_call(self, method, count=1, timeout=10.0, status=None):
        """Wait until `count` calls of `method` (with that status, if given) were recorded;
        returns the list of them."""
        def have():
            cs = [c for c in self.calls_of(method) if status is None or c["status"] == status]
            return cs if len(cs) >= count else None
        return self.wait_for(have, timeout, "%d call(s) of %s%s" % (
            count, method, "" if status is None else " with status %s" % status))

    # ------------------------------------------------------------ the human side
    def _new_update_id(self):
        uid = self.next_update_id
        self.next_update_id += 1
        return uid

    def _user(self, chat_id, user_id, first_name, username):
        if user_id is None:
            user_id = chat_id if chat_id > 0 else 424242
        u = {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "en"}
        if username:
            u["username"] = username
        return u

    def _user_chat(self, chat_id, user):
        chat = self._chat_object(chat_id)
        if chat_id > 0:
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        return chat

    def press(self, chat_id, message_id, data=None, button_text=None, user_id=None,
              first_name="Ann", username=None):
        """A user presses a button of a stored bot message -> the callback_query Update.

        data: the callback data to send (any string, even one no button has);
        button_text: pick the button by its text instead.  With neither, the message
        must have exactly one callback button.  user_id defaults to chat_id in a
        private chat."""
        with self._lock:
            rec = self.messages.get((chat_id, message_id))
            if rec is None:
                raise AssertionError("tgstub.press: no bot message %s in chat %s (have %s)" % (
                    message_id, chat_id, sorted(self.messages)))
            msg = rec["message"]
            if data is None:
                buttons = [b for row in (msg.get("reply_markup") or {}).get("inline_keyboard", [])
                           for b in row if "callback_data" in b]
                if button_text is not None:
                    buttons = [b for b in buttons if b["text"] == button_text]
                if len(buttons) != 1:
                    raise AssertionError("tgstub.press: %d matching callback buttons on message "
                                         "%s/%s (button_text=%r): %s" % (
                                             len(buttons), chat_id, message_id, button_text,
                                             msg.get("reply_markup")))
                data = buttons[0]["callback_data"]
            self._cq_count += 1
            qid = str(self._cq_base + self._cq_count)
            user = self._user(chat_id, user_id, first_name, username)
            update = {"update_id": self._new_update_id(), "callback_query": {
                "id": qid, "from": user, "message": self._shallow(msg),
                "chat_instance": str(-(10 ** 18 + abs(chat_id) % 10 ** 17)), "data": data}}
            self.callback_queries[qid] = {"created": time.monotonic(), "answered": False,
                                          "answer": None, "update": update}
            return update

    def user_message(self, chat_id, text, user_id=None, first_name="Ann", username=None,
                     reply_to_message_id=None):
        """A user writes `text` in the chat (optionally replying) -> the message Update."""
        with self._lock:
            user = self._user(chat_id, user_id, first_name, username)
            msg = {"message_id": self._new_message_id(chat_id), "from": user,
                   "chat": self._user_chat(chat_id, user), "date": int(time.time()),
                   "text": text}
            if text.startswith("/"):
                cmd = text.split()[0] if text.split() else text
                msg["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": utf16_len(cmd)}]
            if reply_to_message_id is not None:
                target = self._find_message(chat_id, reply_to_message_id)
                if target is None:
                    raise AssertionError("tgstub.reply: no message %s in chat %s" % (
                        reply_to_message_id, chat_id))
                msg["reply_to_message"] = self._shallow(target)
            self.user_messages[(chat_id, msg["message_id"])] = msg
            return {"update_id": self._new_update_id(), "message": msg}

    def reply(self, chat_id, reply_to_message_id, text, user_id=None, first_name="Ann",
              username=None):
        """A user replies to a stored message (e.g. a ForceReply prompt) -> the Update."""
        return self.user_message(chat_id, text, user_id, first_name, username,
                                 reply_to_message_id)

    def command(self, chat_id, text="/start", user_id=None, first_name="Ann", username=None):
        """A user sends a command such as "/start" -> the Update (with a bot_command entity)."""
        return self.user_message(chat_id, text, user_id, first_name, username)

    # ------------------------------------------------------------ delivery
    def webhook_target(self, url, secret=None):
        """Deliver updates to `url` (e.g. our nginx .../telegram/webhook).  secret: the
        header value to send; None = the secret_token given to setWebhook.
        webhook_target(None) removes the override."""
        with self._lock:
            self._target = (url, secret) if url else None

    def enqueue(self, update):
        """Queue an update for getUpdates (and wake a long poll)."""
        with self._cond:
            self._queue.append(update)
            self._cond.notify_all()

    def pending_updates(self):
        with self._lock:
            return list(self._queue)

    def _resolve_target(self):
        with self._lock:
            hook_secret = self._webhook["secret_token"]
            if self._target:
                url, secret = self._target
                return url, hook_secret if secret is None else secret
            if self._webhook["url"]:
                return self._webhook["url"], hook_secret
            return None

    def _post(self, url, body, secret, timeout):
        """POST one update; -> (status or 0 on a connection error, body bytes, error text)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(parts.hostname, parts.port or 443,
                                               timeout=timeout,
                                               context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        if secret:
            headers[SECRET_HEADER] = secret
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read(), None if 200 <= r.status < 300 else \
                "Wrong response from the webhook: %d %s" % (r.status, r.reason)
        except (OSError, http.client.HTTPException) as e:
            return 0, b"", "Connection failed: %s" % (e.__class__.__name__ if not str(e) else e)
        finally:
            conn.close()

    def _webhook_reply(self, raw):
        """Telegram executes a method given in the webhook's answer body."""
        try:
            obj = json.loads(raw.decode("utf-8"))
        except ValueError:
            return
        if not isinstance(obj, dict) or not isinstance(obj.get("method"), str):
            return
        params = {k: v for k, v in obj.items() if k != "method"}
        with self._cond:
            entry = self._methods.get(obj["method"].lower())
            meta = {"http_method": None, "encoding": "webhook-reply",
                    "received": time.monotonic(), "via": "webhook-reply"}
            if entry is None or entry[0] == "getUpdates":
                self._record(obj["method"], params, meta, 404, ApiError(404, "Not Found").body())
                return
            try:
                params = _coerce(params)
            except ApiError as e:
                self._record(entry[0], params, meta, e.status, e.body())
                return
            status, resp = self._dispatch(entry[0], params)
            self._record(entry[0], params, meta, status, resp)

    def deliver(self, update, secret=None, repeat=1, deadline=30.0, timeout=10.0):
        """Deliver an Update the way Telegram does and return the HTTP statuses seen
        (0 = connection error).

        To the webhook_target() override, else to the setWebhook url; with neither,
        the update is queued for getUpdates and [] is returned.  The header
        X-Telegram-Bot-Api-Secret-Token carries `secret` if given, no header if
        secret is False, else the target's secret.  A non-2xx answer or a connection
        error is retried after 0.1, 0.2, 0.4 ... s until `deadline` seconds have
        passed (then it gives up).  repeat=2 delivers the same update again after the
        first got a 2xx (a duplicate, to test dedup).  A 2xx answer carrying a JSON
        {"method": ...} is executed as a Bot API call (recorded with via
        "webhook-reply"), as Telegram does."""
        target = self._resolve_target()
        if target is None:
            self.enqueue(update)
            return []
        url, target_secret = target
        header = None if secret is False else (secret if secret is not None else target_secret)
        if not self._update_allowed(update, self._webhook["allowed_updates"]):
            with self._cond:  # Telegram does not send a type the bot did not ask for
                self.deliveries.append({
                    "update_id": update.get("update_id"), "url": url, "status": None,
                    "error": "filtered: not in setWebhook allowed_updates", "secret": header,
                    "time": time.monotonic()})
                self._cond.notify_all()
            return []
        body = json.dumps(update, ensure_ascii=False).encode("utf-8", "surrogatepass")
        statuses = []
        with self._lock:
            self._pending_deliveries += 1
        try:
            for _ in range(repeat):
                end = time.monotonic() + deadline
                wait = 0.1
                while True:
                    left = max(0.1, min(timeout, end - time.monotonic()))
                    status, raw, error = self._post(url, body, header, left)
                    statuses.append(status)
                    with self._cond:
                        self.deliveries.append({
                            "update_id": update.get("update_id"), "url": url, "status": status,
                            "error": error, "secret": header, "time": time.monotonic()})
                        if error:
                            self._last_error = (int(time.time()), error)
                        self._cond.notify_all()
                    if 200 <= status < 300:
                        self._webhook_reply(raw)
                        break
                    if time.monotonic() + wait > end:
                        return statuses
                    time.sleep(wait)
                    wait = min(wait * 2, 5.0)
        finally:
            with self._lock:
                self._pending_deliveries -= 1
        return statuses

    def deliver_async(self, update, **kwargs):
        """deliver() in a background thread; returns a Delivery (.result(timeout))."""
        d = Delivery(self, update, kwargs)
        d.start()
        return d

    def press_and_deliver(self, chat_id, message_id, data=None, button_text=None, user_id=None,
                          first_name="Ann", username=None, **deliver_kw):
        """press() then deliver(); -> (update, statuses)."""
        u = self.press(chat_id, message_id, data, button_text, user_id, first_name, username)
        return u, self.deliver(u, **deliver_kw)

    def reply_and_deliver(self, chat_id, reply_to_message_id, text, user_id=None,
                          first_name="Ann", username=None, **deliver_kw):
        """reply() then deliver(); -> (update, statuses)."""
        u = self.reply(chat_id, reply_to_message_id, text, user_id, first_name, username)
        return u, self.deliver(u, **deliver_kw)

    def command_and_deliver(self, chat_id, text="/start", user_id=None, first_name="Ann",
                            username=None, **deliver_kw):
        """command() then deliver(); -> (update, statuses)."""
        u = self.command(chat_id, text, user_id, first_name, username)
        return u, self.deliver(u, **deliver_kw)


# ====================================================================== self-test
def _call(stub, method, params=None, encoding="json", token=None, timeout=10):
    """Call the stub with urllib -> (status, parsed JSON or raw text)."""
    url = stub.api_url(method, token)
    data, headers = None, {}
    if params is not None:
        if encoding == "json":
            data = json.dumps(params).encode()
            headers["Content-Type"] = "application/json"
        elif encoding == "form":
            data = urllib.parse.urlencode({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                                           for k, v in params.items()}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def _self_test():
    results = {"passed": 0, "failed": 0}
    started = time.monotonic()

    def check(name, cond, detail=""):
        if cond:
            results["passed"] += 1
        else:
            results["failed"] += 1
            print("FAIL %s %s" % (name, detail))

    stub = TelegramStub().start()
    receiver = None
    try:
        # --- getMe, token, method names, encodings
        s, r = _call(stub, "getMe")
        check("getMe", s == 200 and r["ok"] and r["result"]["is_bot"] and
              r["result"]["id"] == 123456, r)
        s, r = _call(stub, "getMe", token="654321:WRONG")
        check("wrong token 401", s == 401 and r == {"ok": False, "error_code": 401,
                                                     "description": "Unauthorized"}, r)
        s, r = _call(stub, "sendMassage", {"chat_id": 1, "text": "x"})
        check("unknown method 404", s == 404 and r["description"] == "Not Found", r)
        s, r = _call(stub, "getme")
        check("method names are case-insensitive", s == 200, r)

        # --- sendMessage validation (rate limits off for this part)
        stub.rate_limits = False
        kb = {"inline_keyboard": [[{"text": "Approve", "callback_data": "a:1"},
                                   {"text": "Deny", "callback_data": "d:1"}]]}
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "<b>Deploy</b> &lt;prod&gt;",
                                           "parse_mode": "HTML", "reply_markup": kb})
        ok_send = s == 200 and r["result"]["text"] == "Deploy <prod>" and \
            r["result"]["message_id"] == 1 and r["result"]["reply_markup"] == kb and \
            r["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 6}] and \
            r["result"]["chat"]["type"] == "private"
        check("sendMessage HTML ok", ok_send, r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "form &amp; query",
                                           "parse_mode": "HTML", "reply_markup": kb}, "form")
        check("sendMessage form-encoded", s == 200 and r["result"]["message_id"] == 2 and
              r["result"]["text"] == "form & query" and r["result"]["reply_markup"] == kb, r)
        s, r = _call(stub, "sendMessage", {"chat_id": -5, "text": "group"}, "query")
        check("sendMessage query string, group chat", s == 200 and
              r["result"]["chat"] == {"id": -5, "title": "Loopgate test group", "type": "group"},
              r)
        check("recorded params parsed", stub.calls_of("sendMessage")[1]["params"]["chat_id"] ==
              1001 and stub.calls_of("sendMessage")[1]["params"]["reply_markup"] == kb)
        for text, want in (("<b>open", "Can't find end tag corresponding to start tag \"b\""),
                           ("<blink>x</blink>", 'Unsupported start tag "blink" at byte offset 0'),
                           ("a < b", 'Unsupported start tag "" at byte offset 2'),
                           ("<b>x</i>", "Unmatched end tag"),
                           ("Tom & Jerry", "Unescaped \"&\""),
                           ("<i>x</i> <b", "Unclosed start tag at byte offset 9")):
            s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": text,
                                               "parse_mode": "HTML"})
            check("bad HTML %r" % text, s == 400 and r["description"].startswith(
                "Bad Request: can't parse entities: ") and want in r["description"], r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "x" * 4097})
        check("too long", s == 400 and r["description"] == "Bad Request: message is too long", r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "&lt;" * 4096,
                                           "parse_mode": "HTML"})
        check("4096 after entity parsing ok", s == 200, r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "\U0001F600" * 2049})
        check("UTF-16 counting", s == 400 and "too long" in r["description"], r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "<b></b>  ",
                                           "parse_mode": "HTML"})
        check("empty", s == 400 and r["description"] == "Bad Request: message text is empty", r)
        for data in ("x" * 65, ""):
            s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "hi", "reply_markup": {
                "inline_keyboard": [[{"text": "B", "callback_data": data}]]}})
            check("callback_data %d bytes" % len(data), s == 400 and
                  r["description"] == "Bad Request: BUTTON_DATA_INVALID", r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "hi", "reply_markup": {
            "inline_keyboard": [[{"text": "B", "callback_data": "é" * 32}]]}})
        check("callback_data 64 bytes ok", s == 200, r)
        stub.unknown_chats.add(42)
        stub.blocked_chats.add(43)
        s, r = _call(stub, "sendMessage", {"chat_id": 42, "text": "hi"})
        check("chat not found", s == 400 and r["description"] == "Bad Request: chat not found", r)
        s, r = _call(stub, "sendMessage", {"chat_id": 43, "text": "hi"})
        check("blocked", s == 403 and
              r["description"] == "Forbidden: bot was blocked by the user", r)

        # --- edits
        edit = {"chat_id": 1001, "message_id": 1, "text": "<b>Deploy</b> &lt;prod&gt;",
                "parse_mode": "HTML", "reply_markup": kb}
        s, r = _call(stub, "editMessageText", edit)
        check("edit not modified", s == 400 and r["description"] == NOT_MODIFIED, r)
        s, r = _call(stub, "editMessageText", dict(edit, text="Approved by Ann",
                                                   reply_markup=None))
        check("edit ok, keyboard removed", s == 200 and "reply_markup" not in r["result"] and
              stub.messages[(1001, 1)]["text"] == "Approved by Ann" and
              stub.messages[(1001, 1)]["reply_markup"] is None and "edit_date" in r["result"], r)
        s, r = _call(stub, "editMessageText", dict(edit, message_id=999))
        check("edit missing", s == 400 and
              r["description"] == "Bad Request: message to edit not found", r)
        s, r = _call(stub, "editMessageReplyMarkup", {"chat_id": 1001, "message_id": 1})
        check("markup not modified", s == 400 and r["description"] == NOT_MODIFIED, r)

        # --- rate limit
        stub.rate_limits = True
        s1, _ = _call(stub, "sendMessage", {"chat_id": 777, "text": "one"})
        s2, r = _call(stub, "sendMessage", {"chat_id": 777, "text": "two"})
        check("rate limit 429", s1 == 200 and s2 == 429 and r["parameters"]["retry_after"] >= 1
              and r["description"].startswith("Too Many Requests: retry after ") and
              stub.count_429 == 1, r)
        s, r = _call(stub, "sendMessage", {"chat_id": 778, "text": "other chat"})
        check("other chat unaffected", s == 200, r)
        stub.rate_limits = False

        # --- fail_next
        stub.fail_next("sendMessage", 502)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "x"})
        check("fail_next 502 HTML", s == 502 and isinstance(r, str) and "Bad Gateway" in r, r)
        stub.fail_next("sendMessage", 429, retry_after=3)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "x"})
        check("fail_next 429", s == 429 and r["parameters"] == {"retry_after": 3}, r)
        s, r = _call(stub, "sendMessage", {"chat_id": 1001, "text": "x"})
        check("after faults ok", s == 200, r)

        # --- down / back on the same port
        port = stub.port
        n_calls = len(stub.calls)
        stub.go_down()
        try:
            _call(stub, "getMe", timeout=3)
            refused = False
        except urllib.error.URLError as e:
            refused = isinstance(e.reason, ConnectionRefusedError)
        check("refused while down", refused and len(stub.calls) == n_calls)
        stub.come_back()
        s, r = _call(stub, "getMe")
        check("back on the same port", s == 200 and stub.port == port, r)
        stub.refuse(0.3)
        time.sleep(0.6)
        s, r = _call(stub, "getMe")
        check("refuse(seconds) comes back", s == 200, r)

        # --- webhook vs getUpdates
        s, r = _call(stub, "setWebhook", {"url": "https://x.example/hook", "secret_token": "a:b"})
        check("bad secret_token", s == 400 and "unallowed" in r["description"], r)
        receiver_state = {"n": 0, "seen": []}

        class Receiver(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver_state["n"] += 1
                receiver_state["seen"].append((self.headers.get(SECRET_HEADER),
                                               json.loads(body)))
                status = 500 if receiver_state["n"] == 1 else 200
                out = b"{}"
                if receiver_state["n"] == 2:
                    upd = receiver_state["seen"][-1][1]
                    out = json.dumps({"method": "answerCallbackQuery", "callback_query_id":
                                      upd["callback_query"]["id"]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        receiver.daemon_threads = True
        threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        hook = "http://127.0.0.1:%d/telegram/webhook" % receiver.server_address[1]
        s, r = _call(stub, "setWebhook", {"url": hook, "secret_token": "s3cret_-X",
                                          "allowed_updates": ["message", "callback_query"]})
        check("setWebhook", s == 200 and r["result"] is True, r)
        s, r = _call(stub, "getUpdates", {"timeout": 0})
        check("getUpdates 409 while webhook set", s == 409 and
              r["description"].startswith("Conflict: can't use getUpdates method while webhook"),
              r)
        s, r = _call(stub, "getWebhookInfo")
        check("getWebhookInfo", s == 200 and r["result"]["url"] == hook and
              r["result"]["allowed_updates"] == ["message", "callback_query"], r)

        s, r = _call(stub, "sendMessage", {"chat_id": 2002, "text": "Approve?",
                                           "reply_markup": kb})
        mid = r["result"]["message_id"]
        t0 = time.monotonic()
        update, statuses = stub.press_and_deliver(2002, mid, button_text="Deny")
        check("deliver retried 500 then 200", statuses == [500, 200] and
              time.monotonic() - t0 < 2, statuses)
        hdr, got = receiver_state["seen"][-1]
        check("secret header and update body", hdr == "s3cret_-X" and
              got["callback_query"]["data"] == "d:1" and got == update and
              got["callback_query"]["message"]["reply_markup"] == kb and
              got["callback_query"]["from"]["id"] == 2002, receiver_state["seen"])
        cq = update["callback_query"]["id"]
        check("webhook reply answered the query", stub.answer_for(cq) is not None and
              stub.calls_of("answerCallbackQuery")[-1]["via"] == "webhook-reply")
        s, r = _call(stub, "answerCallbackQuery", {"callback_query_id": cq})
        check("answer twice 400", s == 400 and r["description"] == QUERY_TOO_OLD, r)
        s, r = _call(stub, "answerCallbackQuery", {"callback_query_id": "nope"})
        check("answer unknown 400", s == 400 and r["description"] == QUERY_TOO_OLD, r)
        u2 = stub.press(2002, mid, data="a:1")
        s, r = _call(stub, "answerCallbackQuery", {"callback_query_id":
                                                   u2["callback_query"]["id"], "text": "ok"})
        check("answer ok", s == 200 and r["result"] is True and stub.answers[-1]["text"] == "ok",
              r)
        statuses = stub.deliver(stub.reply(2002, mid, "because"), secret=False, repeat=2)
        check("repeat=2, no header", statuses == [200, 200] and
              receiver_state["seen"][-1][0] is None and
              receiver_state["seen"][-1][1] == receiver_state["seen"][-2][1] and
              receiver_state["seen"][-1][1]["message"]["reply_to_message"]["message_id"] == mid)
        stub.webhook_target("http://127.0.0.1:%d/" % _free_port())
        statuses = stub.deliver(stub.command(2002), deadline=0.5)
        check("connection refused retried then gave up", len(statuses) >= 2 and
              set(statuses) == {0}, statuses)
        check("last_error reported", "last_error_message" in stub.webhook_info())
        stub.webhook_target(None)

        # --- getUpdates mode
        s, r = _call(stub, "deleteWebhook", {"drop_pending_updates": True})
        check("deleteWebhook", s == 200 and r["result"] is True, r)
        q = stub.command(3003, "/start")
        check("deliver queues without webhook", stub.deliver(q) == [])
        s, r = _call(stub, "getUpdates", {"timeout": 0})
        check("getUpdates serves", s == 200 and r["result"] == [q], r)
        s, r = _call(stub, "getUpdates", {"offset": q["update_id"] + 1, "timeout": 0})
        check("offset confirms", s == 200 and r["result"] == [], r)
        q2 = stub.command(3003, "/help")
        threading.Timer(0.2, stub.enqueue, args=(q2,)).start()
        t0 = time.monotonic()
        s, r = _call(stub, "getUpdates", {"offset": q["update_id"] + 1, "timeout": 5})
        check("long poll wakes on enqueue", s == 200 and r["result"] == [q2] and
              time.monotonic() - t0 < 2, (r, time.monotonic() - t0))

        check("no stub errors", not stub.errors, stub.errors)
        check("self-test under 20s", time.monotonic() - started < 20)
    except Exception:  # noqa: BLE001 - a crash counts as a failure
        traceback.print_exc()
        results["failed"] += 1
    finally:
        stub.stop()
        if receiver:
            receiver.shutdown()
            receiver.server_close()
    print("tgstub: %d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(_self_test())
