/*
 * listen.h - the FastCGI listening socket of `loopgate serve`: where it comes
 * from (systemd, a unix socket path, a TCP address), what it is bound to, and
 * which peers may use it (FCGI_WEB_SERVER_ADDRS).
 */
#ifndef LG_LISTEN_H
#define LG_LISTEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

/* The master's listening socket. */
struct listener {
    int fd;
    bool inherited;    /* handed over by systemd (socket activation) */
    bool wildcard;     /* TCP on every address (0.0.0.0 or ::) */
    char address[300]; /* what it is bound to: a path, "10.0.0.11:9000", "[::1]:9000" */
    char path[108];    /* a unix socket bound here: unlinked on close if still ours */
    dev_t dev;         /* that socket file's identity */
    ino_t ino;
};

#define LISTEN_ALLOW_MAX 64

/* The TCP peers FCGI_WEB_SERVER_ADDRS admits, IPv4 ones as ::ffff:a.b.c.d. */
struct listen_allow {
    struct in6_addr addr[LISTEN_ALLOW_MAX];
    int n; /* 0: every peer */
};

/* What a `socket` value names: a unix socket path, or a TCP host and port. */
struct listen_spec {
    bool unix_path; /* a unix socket path (the value has a '/') */
    bool numeric;   /* TCP: host is an address, not a name to resolve */
    char path[108]; /* unix: the path (shorter than sun_path) */
    char host[256]; /* TCP: "" for every IPv4 address */
    char port[8];   /* TCP: decimal digits, 1-65535 */
};

/*
 * Parse `list` (FCGI_WEB_SERVER_ADDRS: comma-separated IPv4 or IPv6
 * addresses, blanks around each; NULL or blank: every peer) into *a. An
 * address no TCP peer connects from (0.0.0.0, ::, multicast, the IPv4
 * broadcast, IPv4-compatible ::a.b.c.d) is refused. 0, or -1 with *a
 * emptied and *why saying what is wrong (a static string). No system call,
 * nothing allocated.
 */
int listen_allow_parse(const char *list, struct listen_allow *a, const char **why) LG_MUST_CHECK;

/*
 * Whether `a` admits the peer `sa`: every peer when the list is empty, a
 * unix socket peer always, an IPv4 peer (AF_INET, or ::ffff:a.b.c.d on a
 * dual-stack IPv6 socket) as the IPv4 address it is, an IPv6 peer by its
 * address; any other family never.
 */
bool listen_allow_admits(const struct listen_allow *a, const struct sockaddr_storage *sa);

/*
 * Read a `socket` value into *s: a unix socket path (it has a '/'), else
 * host:port for TCP (listen.c, point 3: odd forms refused). NULL, or why the
 * value is refused (a static string) with *s zeroed. Names are not
 * resolved: no system call, nothing allocated.
 */
const char *listen_spec_parse(const char *value, struct listen_spec *s) LG_MUST_CHECK;

/*
 * Read FCGI_WEB_SERVER_ADDRS (comma-separated IPv4 or IPv6 addresses; unset or
 * empty: any peer) into the allow-list listen_accept() applies to TCP peers,
 * as listen_allow_parse() reads it. Call once in the master, before the
 * workers are forked. -1 (logged with the value and the reason) when it is
 * refused.
 */
int listen_allow_init(void) LG_MUST_CHECK;

/* The number of addresses in the allow-list (0: any TCP peer is served). */
int listen_allow_count(void);

/*
 * Open the listening socket into *l: the one systemd passed (LISTEN_FDS=1;
 * more than one is refused, naming them), else cfg->socket: a unix socket
 * path (with a '/'; refused while another server answers on it, a stale
 * socket file is replaced, anything else at the path is left alone and
 * refused) or host:port for TCP (odd forms refused). 0, or -1 with the reason
 * logged.
 */
int listen_open(const struct config *cfg, struct listener *l) LG_MUST_CHECK;

/* Close the socket; remove its unix socket file if it is still the one bound. */
void listen_close(struct listener *l);

/*
 * Accept one connection (close-on-exec) on `fd` from a peer the allow-list
 * admits: a TCP peer not on it is closed at once, unanswered, and the next
 * one taken; an IPv4 peer of a dual-stack IPv6 socket (::ffff:a.b.c.d) is
 * checked as the IPv4 address it is. Transient accept errors (a connection
 * reset before it was taken) are retried. Returns the connection, or -1 with
 * errno (EINTR: interrupted by a signal).
 */
int listen_accept(int fd) LG_MUST_CHECK;

#endif
