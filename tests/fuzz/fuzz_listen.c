/*
 * fuzz_listen.c - the TCP listener's parsers (listen.c), no socket bound:
 * every input is read as a `socket` value (listen_spec_parse) and as
 * FCGI_WEB_SERVER_ADDRS (listen_allow_parse, listen_allow_admits).
 *
 * Properties asserted:
 * 1. A refused value says why and leaves nothing behind (the result zeroed;
 *    LeakSanitizer: nothing allocated).
 * 2. A unix path is the value itself, with a '/', shorter than sun_path.
 * 3. A TCP value has a port of digits, 1-65535. A numeric host is what the
 *    resolver reads as exactly one address without a lookup: an IPv4 one
 *    written as its four decimal numbers, or an IPv6 one in brackets that is
 *    not an IPv4 address in disguise. A host name is never something the
 *    resolver would read as a number. Written back, the value reads the same.
 * 4. An accepted allow-list has one address per comma-separated entry (at
 *    most LISTEN_ALLOW_MAX; none when blank), each one a TCP peer can
 *    connect from (not 0.0.0.0 or ::, not multicast or the IPv4 broadcast,
 *    not an IPv4 address written as IPv4-compatible ::a.b.c.d), and each
 *    is admitted: an IPv4 one (::ffff:a.b.c.d) as the IPv4 peer and as the
 *    same peer on a dual-stack socket. Any IPv4 peer is judged alike in both forms; a unix
 *    peer is always admitted, a peer of another family only by an empty list.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "fuzz.h"
#include "listen.h"

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Property 3 for a numeric host: the resolver's reading, without a lookup. */
static void check_numeric_host(const char *value, const struct listen_spec *s)
{
    struct addrinfo hints, *res = NULL;
    char text[INET6_ADDRSTRLEN], again[300];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;
    rc = getaddrinfo(s->host[0] ? s->host : "0.0.0.0", s->port, &hints, &res);
    FUZZ_REQUIRE(rc == 0 && res != NULL);
    FUZZ_REQUIRE(res->ai_next == NULL);
    if (res->ai_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)res->ai_addr;

        FUZZ_REQUIRE(inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != NULL);
        if (s->host[0]) {
            FUZZ_REQUIRE(!strcmp(text, s->host));
            snprintf(again, sizeof(again), "%s:%s", s->host, s->port);
            FUZZ_REQUIRE(!strcmp(again, value));
        } else {
            FUZZ_REQUIRE(in->sin_addr.s_addr == htonl(INADDR_ANY));
        }
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)res->ai_addr;

        FUZZ_REQUIRE(res->ai_family == AF_INET6);
        FUZZ_REQUIRE(!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr));
        FUZZ_REQUIRE(!IN6_IS_ADDR_V4COMPAT(&in6->sin6_addr));
        FUZZ_REQUIRE(in6->sin6_scope_id == 0);
        snprintf(again, sizeof(again), "[%s]:%s", s->host, s->port);
        FUZZ_REQUIRE(!strcmp(again, value));
    }
    freeaddrinfo(res);
}

static void fuzz_spec(const char *value)
{
    struct listen_spec s, t;
    const char *why = listen_spec_parse(value, &s);
    int64_t port;
    char again[300];

    if (why) {
        FUZZ_REQUIRE(why[0] != '\0');
        FUZZ_REQUIRE(utf8_valid(why, strlen(why)));
        FUZZ_REQUIRE(all_zero(&s, sizeof(s)));
        return;
    }
    if (s.unix_path) {
        FUZZ_REQUIRE(strchr(value, '/') != NULL);
        FUZZ_REQUIRE(!strcmp(s.path, value));
        FUZZ_REQUIRE(strlen(s.path) < sizeof(((struct sockaddr_un *)0)->sun_path));
        FUZZ_REQUIRE(!s.host[0] && !s.port[0] && !s.numeric);
        return;
    }
    FUZZ_REQUIRE(strchr(value, '/') == NULL && !s.path[0]);
    FUZZ_REQUIRE(s.port[0] && strspn(s.port, "0123456789") == strlen(s.port));
    FUZZ_REQUIRE(parse_int64(s.port, &port) == 0 && port >= 1 && port <= 65535);
    FUZZ_REQUIRE(strlen(s.host) < sizeof(s.host));
    if (s.numeric) {
        check_numeric_host(value, &s);
    } else {
        struct addrinfo hints, *res = NULL;

        FUZZ_REQUIRE(s.host[0] != '\0');
        FUZZ_REQUIRE(strspn(s.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-") == strlen(s.host));
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        if (getaddrinfo(s.host, s.port, &hints, &res) == 0) {
            freeaddrinfo(res);
            FUZZ_REQUIRE(!"a host name the resolver reads as an address");
        }
    }
    /* Written back (IPv6 in brackets), the value reads the same. */
    if (strchr(s.host, ':'))
        snprintf(again, sizeof(again), "[%s]:%s", s.host, s.port);
    else
        snprintf(again, sizeof(again), "%s:%s", s.host, s.port);
    FUZZ_REQUIRE(listen_spec_parse(again, &t) == NULL);
    FUZZ_REQUIRE(!memcmp(&s, &t, sizeof(s)));
}

static bool admits4(const struct listen_allow *a, const unsigned char v4[4])
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    in->sin_family = AF_INET;
    memcpy(&in->sin_addr, v4, 4);
    return listen_allow_admits(a, &ss);
}

static bool admits6(const struct listen_allow *a, const struct in6_addr *v6)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = *v6;
    return listen_allow_admits(a, &ss);
}

/* Whether a TCP peer can connect from `a` (an IPv4 address as ::ffff:a.b.c.d). */
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

/* An IPv4 peer is judged alike on an IPv4 socket and as ::ffff:a.b.c.d. */
static void check_v4_peer(const struct listen_allow *a, const unsigned char v4[4])
{
    struct in6_addr mapped;

    memset(&mapped, 0, sizeof(mapped));
    mapped.s6_addr[10] = 0xff;
    mapped.s6_addr[11] = 0xff;
    memcpy(&mapped.s6_addr[12], v4, 4);
    FUZZ_REQUIRE(admits4(a, v4) == admits6(a, &mapped));
}

static void fuzz_allow(const char *list, size_t len)
{
    struct listen_allow a;
    struct sockaddr_storage other;
    const char *why = NULL;
    unsigned char probe[4] = {0, 0, 0, 0};
    int entries = 1;

    if (listen_allow_parse(list, &a, &why) < 0) {
        FUZZ_REQUIRE(why && why[0] && utf8_valid(why, strlen(why)));
        FUZZ_REQUIRE(all_zero(&a, sizeof(a)));
        return;
    }
    FUZZ_REQUIRE(why == NULL);
    FUZZ_REQUIRE(a.n >= 0 && a.n <= LISTEN_ALLOW_MAX);
    for (const char *c = list; *c; c++)
        entries += *c == ',';
    if (strspn(list, " \t") == strlen(list))
        FUZZ_REQUIRE(a.n == 0);
    else
        FUZZ_REQUIRE(a.n == entries);
    for (int i = 0; i < a.n; i++) {
        const struct in6_addr *e = &a.addr[i];

        FUZZ_REQUIRE(peer_address(e));
        FUZZ_REQUIRE(admits6(&a, e));
        if (IN6_IS_ADDR_V4MAPPED(e))
            FUZZ_REQUIRE(admits4(&a, &e->s6_addr[12]));
        check_v4_peer(&a, &e->s6_addr[12]);
    }
    memcpy(probe, list, len < 4 ? len : 4);
    check_v4_peer(&a, probe);
    memset(&other, 0, sizeof(other));
    other.ss_family = AF_UNIX;
    FUZZ_REQUIRE(listen_allow_admits(&a, &other));
    other.ss_family = AF_PACKET;
    FUZZ_REQUIRE(listen_allow_admits(&a, &other) == (a.n == 0));
}

static void fuzz_one(const char *data, size_t len)
{
    fuzz_spec(data);
    fuzz_allow(data, strlen(data) < len ? strlen(data) : len);
}

FUZZ_MAIN
