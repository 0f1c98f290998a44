/*
 * listen.c - the FastCGI listening socket: opened once by the master,
 * accepted on by every worker's request threads.
 *
 * 1. Where it comes from. Under socket activation systemd passes it as fd 3
 *    (LISTEN_FDS=1). Several sockets (a drop-in that adds a ListenStream=
 *    instead of replacing the packaged one) are refused at start, naming
 *    each: serving one and leaving the others to fill their listen queues
 *    would hang every client of the others. Else `socket` says: a unix
 *    socket path, or host:port for TCP.
 * 2. A unix socket path is taken only from nobody: when something is
 *    there, a socket nobody answers on (left by an unclean stop) is
 *    replaced; a socket a live server answers on, or a file that is not a
 *    socket, refuses the start. On stop the file is removed only if it is
 *    still the one this process bound.
 * 3. A TCP address is an IPv4 address as four decimal numbers, a host name
 *    that resolves to exactly one address, an IPv6 address in brackets,
 *    or nothing / `*` for every IPv4 address. Forms the resolver would take
 *    but that hide what they mean (`0`, `127.1`, `010.0.0.1`, `[]`,
 *    `[::ffff:10.0.0.1]`) are refused. The address actually bound is
 *    what the start-up line logs.
 * 4. Who may connect: FCGI_WEB_SERVER_ADDRS, read once in the master, lists
 *    the nginx addresses (IPv4 or IPv6; an entry no peer can connect from,
 *    such as 0.0.0.0 taken for "any", is refused). A TCP peer not on it is
 *    closed unanswered as soon as it is accepted. IPv4 peers of a dual-stack `[::]`
 *    socket arrive as ::ffff:a.b.c.d and are matched as the IPv4 address
 *    they are, so the list means the same on every socket. Unix socket
 *    peers are not checked (the file's mode is their filter).
 * 5. Reading the `socket` value and the allow-list (listen_spec_parse,
 *    listen_allow_parse, listen_allow_admits) is pure: no system call, no
 *    allocation, so both are unit-tested and fuzzed without a socket.
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define SD_LISTEN_FDS_START 3
/*
 * Connections the kernel queues before a thread accepts them (capped by
 * net.core.somaxconn, 4096 on current kernels): a burst of long-polls from
 * nginx (thousands at once) must wait there, not be refused (nginx: 502).
 */
#define LISTEN_BACKLOG 4096

/* ---------------------------------------------------------------- allow-list */

/* The allow-list of this process (listen_allow_init); empty: every peer. */
static struct listen_allow allow;

/*
 * Whether a TCP peer can connect from `a` (an IPv4 address as
 * ::ffff:a.b.c.d): not the unspecified address, a multicast one or the IPv4
 * broadcast, and not an IPv4 address written as IPv4-compatible ::a.b.c.d
 * (an IPv4 peer arrives as itself or as ::ffff:a.b.c.d, never so).
 */
static bool peer_address(const struct in6_addr *a)
{
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        uint32_t v4;

        memcpy(&v4, &a->s6_addr[12], 4);
        v4 = ntohl(v4);
        return v4 != INADDR_ANY && v4 != INADDR_BROADCAST && !IN_MULTICAST(v4);
    }
    return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_V4COMPAT(a) && !IN6_IS_ADDR_MULTICAST(a);
}

int listen_allow_parse(const char *list, struct listen_allow *a, const char **why)
{
    const char *p = list;

    memset(a, 0, sizeof(*a));
    *why = NULL;
    if (!list || strspn(list, " \t") == strlen(list))
        return 0;
    for (;;) {
        char item[INET6_ADDRSTRLEN + 1];
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        struct in_addr v4;

        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= sizeof(item))
            goto bad;
        memcpy(item, p, len);
        item[len] = '\0';
        if (a->n == LISTEN_ALLOW_MAX) {
            *why = "FCGI_WEB_SERVER_ADDRS lists too many addresses (at most 64)";
            goto out;
        }
        if (inet_pton(AF_INET, item, &v4) == 1) {
            a->addr[a->n].s6_addr[10] = 0xff;
            a->addr[a->n].s6_addr[11] = 0xff;
            memcpy(&a->addr[a->n].s6_addr[12], &v4, 4);
        } else if (inet_pton(AF_INET6, item, &a->addr[a->n]) != 1) {
            goto bad;
        }
        if (!peer_address(&a->addr[a->n])) {
            *why = "FCGI_WEB_SERVER_ADDRS: an address no peer connects from (0.0.0.0, ::, "
                   "multicast, 255.255.255.255, IPv4-compatible ::a.b.c.d); list nginx's own "
                   "addresses, or leave it unset to admit every peer";
            goto out;
        }
        a->n++;
        if (!end)
            return 0;
        p = end + 1;
    }
bad:
    *why = "FCGI_WEB_SERVER_ADDRS: not an IPv4 or IPv6 address (a comma-separated list of "
           "nginx's addresses, e.g. 10.0.0.10,fd00::10)";
out:
    memset(a, 0, sizeof(*a));
    return -1;
}

bool listen_allow_admits(const struct listen_allow *a, const struct sockaddr_storage *sa)
{
    struct in6_addr peer;

    if (a->n == 0 || sa->ss_family == AF_UNIX)
        return true;
    if (sa->ss_family == AF_INET) {
        memset(&peer, 0, sizeof(peer));
        peer.s6_addr[10] = 0xff;
        peer.s6_addr[11] = 0xff;
        memcpy(&peer.s6_addr[12], &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        peer = ((const struct sockaddr_in6 *)sa)->sin6_addr;
    } else {
        return false;
    }
    for (int i = 0; i < a->n; i++)
        if (!memcmp(&peer, &a->addr[i], sizeof(peer)))
            return true;
    return false;
}

int listen_allow_count(void)
{
    return allow.n;
}

int listen_allow_init(void)
{
    const char *env = getenv("FCGI_WEB_SERVER_ADDRS"), *why;

    if (listen_allow_parse(env, &allow, &why) < 0) {
        log_error(why, "FCGI_WEB_SERVER_ADDRS=\"%s\"", env);
        return -1;
    }
    return 0;
}

int listen_accept(int fd)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int c = accept4(fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);

        if (c < 0) {
            switch (errno) {
            case ECONNABORTED: /* gone before it was taken (accept(2): retry these) */
            case EPROTO:
            case ENETDOWN:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case ENETUNREACH:
            case ETIMEDOUT:
                continue;
            default:
                return -1;
            }
        }
        if (listen_allow_admits(&allow, &sa))
            return c;
        close(c);
    }
}

/* ---------------------------------------------------------------- describe */

/* What `fd` is bound to, into l->address; wildcard set for 0.0.0.0 / ::. */
static void describe(int fd, struct listener *l)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    char host[INET6_ADDRSTRLEN];

    l->wildcard = false;
    lg_strlcpy(l->address, "?", sizeof(l->address));
    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        return;
    if (sa.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&sa;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path)
                       : 0;

        if (n > sizeof(un->sun_path))
            n = sizeof(un->sun_path);
        if (n == 0 || un->sun_path[0] == '\0') {
            lg_strlcpy(l->address, "(unnamed unix socket)", sizeof(l->address));
            return;
        }
        snprintf(l->address, sizeof(l->address), "%.*s", (int)strnlen(un->sun_path, n),
                 un->sun_path);
    } else if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(l->address, sizeof(l->address), "%s:%u", host, ntohs(in->sin_port));
        l->wildcard = in->sin_addr.s_addr == htonl(INADDR_ANY);
    } else if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(l->address, sizeof(l->address), "[%s]:%u", host, ntohs(in6->sin6_port));
        l->wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    } else {
        snprintf(l->address, sizeof(l->address), "(family %d)", (int)sa.ss_family);
    }
}

/* ---------------------------------------------------------------- systemd */

/*
 * The socket systemd passed: 1 (l->fd set), 0 when none was passed, -1 when
 * what was passed cannot be served (logged).
 */
static int inherited(struct listener *l)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    int64_t p, n;
    int type = 0, acc = 0;
    socklen_t len = sizeof(type);

    if (!pid || !fds || parse_int64(pid, &p) < 0 || parse_int64(fds, &n) < 0)
        return 0;
    if (p != getpid() || n < 1)
        return 0;
    if (n > 1) {
        char list[1024] = "";
        size_t used = 0;

        for (int64_t i = 0; i < n && i < 16 && used < sizeof(list) - 1; i++) {
            struct listener one;
            int w;

            describe(SD_LISTEN_FDS_START + (int)i, &one);
            w = snprintf(list + used, sizeof(list) - used, "%sfd %d: %s", i ? ", " : "",
                         SD_LISTEN_FDS_START + (int)i, one.address);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        log_error("systemd passed several sockets; loopgate serves exactly one. A drop-in for "
                  "loopgate.socket that listens on TCP must first clear the packaged socket "
                  "with an empty \"ListenStream=\" line (docs/DEPLOYMENT.md)",
                  "count=%lld sockets=\"%s\" names=\"%s\"", (long long)n, list, names ? names : "");
        return -1;
    }
    l->fd = SD_LISTEN_FDS_START;
    l->inherited = true;
    if (getsockopt(l->fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
        (len = sizeof(acc), getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len)) < 0 || !acc) {
        log_error("the socket systemd passed is not a listening stream socket "
                  "(loopgate.socket needs ListenStream=)",
                  "fd=%d", l->fd);
        l->fd = -1;
        return -1;
    }
    (void)fcntl(l->fd, F_SETFD, FD_CLOEXEC);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    describe(l->fd, l);
    return 1;
}

/* ---------------------------------------------------------------- unix */

/*
 * Whether a server answers on the unix socket `sun`: 1 yes (or its
 * listen queue is full, so one is there), 0 no (a stale socket, or gone),
 * -1 cannot tell (errno).
 */
static int unix_answers(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc, e;

    if (fd < 0)
        return -1;
    rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS)
        return 1;
    if (e == ECONNREFUSED || e == ENOENT)
        return 0;
    errno = e;
    return -1;
}

/*
 * Listen on the unix socket `path` (shorter than sun_path: listen_spec_parse)
 * with permissions `mode` (point 2).
 */
static int listen_unix(const char *path, int mode, struct listener *l)
{
    struct sockaddr_un sun;
    struct stat st;
    const char *why = NULL;
    int fd = -1;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int answers;

        if (errno != EADDRINUSE)
            goto fail;
        if (lstat(path, &st) < 0)
            goto fail;
        if (!S_ISSOCK(st.st_mode)) {
            why = "something that is not a socket is at that path; it is left alone";
            goto refuse;
        }
        answers = unix_answers(&sun);
        if (answers < 0)
            goto fail;
        if (answers) {
            why = "another server answers on it (a second `loopgate serve` on the same path?); "
                  "stop it first or give this one another socket";
            goto refuse;
        }
        /* A stale socket from an unclean stop: nobody answers on it. */
        if (unlink(path) < 0 && errno != ENOENT)
            goto fail;
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
            goto fail;
    }
    if (chmod(path, (mode_t)mode) < 0 || listen(fd, LISTEN_BACKLOG) < 0 || lstat(path, &st) < 0)
        goto fail;
    l->fd = fd;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
    lg_strlcpy(l->path, path, sizeof(l->path));
    lg_strlcpy(l->address, path, sizeof(l->address));
    return 0;
fail:
    log_error("could not listen on socket", "socket=%s error=\"%s\"", path, strerror(errno));
    goto out;
refuse:
    log_error("could not listen on socket", "socket=%s reason=\"%s\"", path, why);
out:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* ---------------------------------------------------------------- TCP */

/*
 * Split a TCP `socket` value (point 3) into s->host ("" for every IPv4
 * address), s->port and s->numeric. NULL, or why the value is refused.
 */
static const char *tcp_split(const char *spec, struct listen_spec *s)
{
    const char *colon = strrchr(spec, ':'), *h = spec;
    size_t hl;
    int64_t n;
    struct in_addr v4;
    struct in6_addr v6;

    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(s->port) ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || parse_int64(colon + 1, &n) < 0 ||
        n < 1 || n > 65535)
        return "not a unix socket path (one with a '/') nor host:port (\":port\" for every "
               "IPv4 address, \"[::1]:port\" for IPv6; port 1-65535)";
    memcpy(s->port, colon + 1, strlen(colon + 1) + 1);
    hl = (size_t)(colon - spec);
    s->numeric = true;
    if (hl >= 1 && spec[0] == '[') {
        if (hl < 2 || spec[hl - 1] != ']' || memchr(spec + 1, '[', hl - 2) ||
            memchr(spec + 1, ']', hl - 2))
            return "not a unix socket path (one with a '/') nor host:port (an IPv6 address "
                   "goes in brackets: \"[::1]:port\")";
        if (hl == 2)
            return "empty brackets: name an IPv6 address (\"[fd00::11]:port\", \"[::]:port\" "
                   "for every address) or write \":port\" for every IPv4 address";
        h++;
        hl -= 2;
        if (hl >= sizeof(s->host))
            return "brackets hold an IPv6 address";
        memcpy(s->host, h, hl);
        s->host[hl] = '\0';
        if (inet_pton(AF_INET6, s->host, &v6) != 1)
            return "brackets hold an IPv6 address (\"[fd00::11]:port\"); write an IPv4 address "
                   "or a host name without them";
        if (IN6_IS_ADDR_V4MAPPED(&v6) || IN6_IS_ADDR_V4COMPAT(&v6))
            return "an IPv4 address written as IPv6: write it as a.b.c.d:port";
        return NULL;
    }
    if (memchr(spec, ':', hl) || memchr(spec, ']', hl))
        return "not a unix socket path (one with a '/') nor host:port (an IPv6 address goes in "
               "brackets: \"[::1]:port\")";
    if (hl >= sizeof(s->host))
        return "its host is too long";
    memcpy(s->host, h, hl);
    s->host[hl] = '\0';
    if (!strcmp(s->host, "*"))
        s->host[0] = '\0';
    if (!s->host[0] || inet_pton(AF_INET, s->host, &v4) == 1)
        return NULL;
    if (inet_aton(s->host, &v4))
        return "write an IPv4 address as four decimal numbers (a.b.c.d, \"0.0.0.0\" or "
               "\":port\" for every IPv4 address)";
    if (strspn(s->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
            strlen(s->host) ||
        s->host[0] == '.' || s->host[0] == '-')
        return "not a unix socket path (one with a '/') nor host:port (a host name has letters, "
               "digits, '-' and '.')";
    s->numeric = false;
    return NULL;
}

const char *listen_spec_parse(const char *value, struct listen_spec *s)
{
    const char *why = NULL;

    memset(s, 0, sizeof(*s));
    if (strchr(value, '/')) {
        if (strlen(value) >= sizeof(s->path)) {
            why = "socket path too long (at most 107 bytes)";
        } else {
            s->unix_path = true;
            memcpy(s->path, value, strlen(value) + 1);
        }
    } else {
        why = tcp_split(value, s);
    }
    if (why)
        memset(s, 0, sizeof(*s));
    return why;
}

/*
 * Listen on TCP: the host and port of `s` (the `socket` value `spec`),
 * resolved to exactly one address. The connections get TCP_NODELAY from the
 * listening socket (an answer is one write, never worth delaying).
 * SO_REUSEADDR: a master
 * started again right after one that was killed binds the same port while
 * the old connections linger in TIME_WAIT. An IPv6 socket keeps the
 * system's default (dual-stack for `[::]`): the allow-list matches its IPv4
 * peers as IPv4 (point 4).
 */
static int listen_tcp(const char *spec, const struct listen_spec *s, struct listener *l)
{
    struct addrinfo hints, *res = NULL;
    char addr[NI_MAXHOST];
    int fd = -1, one = 1, rc, count = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (s->numeric ? AI_NUMERICHOST : 0);
    rc = getaddrinfo(s->host[0] ? s->host : "0.0.0.0", s->port, &hints, &res);
    if (rc != 0) {
        log_error("could not listen on socket: cannot resolve its host",
                  "socket=\"%s\" error=\"%s\"", spec, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *a = res; a; a = a->ai_next)
        count++;
    if (count != 1) {
        log_error("could not listen on socket: its host has several addresses; name one",
                  "socket=\"%s\" addresses=%d", spec, count);
        goto out;
    }
    if (getnameinfo(res->ai_addr, res->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST))
        lg_strlcpy(addr, s->host, sizeof(addr));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        log_error("could not listen on socket", "socket=\"%s\" address=%s port=%s error=\"%s\"",
                  spec, addr, s->port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
        goto out;
    }
    l->fd = fd;
    describe(fd, l);
out:
    freeaddrinfo(res);
    return fd < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------- open/close */

int listen_open(const struct config *cfg, struct listener *l)
{
    struct listen_spec s;
    const char *why;
    int rc;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    rc = inherited(l);
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    why = listen_spec_parse(cfg->socket, &s);
    if (why) {
        log_error("could not listen on socket", "socket=\"%s\" reason=\"%s\"", cfg->socket, why);
        return -1;
    }
    if (s.unix_path)
        return listen_unix(s.path, cfg->socket_mode, l);
    return listen_tcp(cfg->socket, &s, l);
}

void listen_close(struct listener *l)
{
    struct stat st;

    if (l->path[0] && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
