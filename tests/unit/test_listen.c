/*
 * test_listen.c - unit tests for listen.c's parsers: the `socket` value
 * (unix path, host:port, [v6]:port, :port, *:port and the forms refused) and
 * FCGI_WEB_SERVER_ADDRS (the allow-list, and which peers it admits). No
 * socket is opened.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "listen.h"
#include "t.h"

struct spec_case {
    const char *value;
    const char *refused; /* part of the reason, or NULL: accepted */
    bool unix_path;
    const char *host; /* TCP: the host read */
    const char *port;
    bool numeric;
};

static const struct spec_case spec_cases[] = {
    /* unix socket paths: anything with a '/' */
    {"/run/loopgate/loopgate.sock", NULL, true, "", "", false},
    {"./loopgate.sock", NULL, true, "", "", false},
    {"run/x:9000", NULL, true, "", "", false},
    /* TCP */
    {"127.0.0.1:9000", NULL, false, "127.0.0.1", "9000", true},
    {"10.0.0.11:1", NULL, false, "10.0.0.11", "1", true},
    {"0.0.0.0:65535", NULL, false, "0.0.0.0", "65535", true},
    {":9000", NULL, false, "", "9000", true},
    {"*:9000", NULL, false, "", "9000", true},
    {"[::1]:9000", NULL, false, "::1", "9000", true},
    {"[::]:9000", NULL, false, "::", "9000", true},
    {"[fd00::11]:9000", NULL, false, "fd00::11", "9000", true},
    {"localhost:9000", NULL, false, "localhost", "9000", false},
    {"fcgi-1.example.org:9000", NULL, false, "fcgi-1.example.org", "9000", false},
    /* refused */
    {"", "nor host:port", false, "", "", false},
    {"loopgate.sock", "nor host:port", false, "", "", false},
    {"127.0.0.1", "nor host:port", false, "", "", false},
    {"127.0.0.1:", "nor host:port", false, "", "", false},
    {"127.0.0.1:0", "port 1-65535", false, "", "", false},
    {"127.0.0.1:65536", "port 1-65535", false, "", "", false},
    {"127.0.0.1:99999", "port 1-65535", false, "", "", false},
    {"127.0.0.1:-1", "port 1-65535", false, "", "", false},
    {"127.0.0.1:+80", "port 1-65535", false, "", "", false},
    {"127.0.0.1: 80", "port 1-65535", false, "", "", false},
    {"127.0.0.1:123456789", "port 1-65535", false, "", "", false},
    {"::1:9000", "in brackets", false, "", "", false},
    {"[::1:9000", "in brackets", false, "", "", false},
    {"[::1]]:9000", "in brackets", false, "", "", false},
    {"[[::1]:9000", "in brackets", false, "", "", false},
    {"[:9000", "in brackets", false, "", "", false},
    {"a]:9000", "in brackets", false, "", "", false},
    {"[]:9000", "empty brackets", false, "", "", false},
    {"[localhost]:9000", "brackets hold an IPv6 address", false, "", "", false},
    {"[10.0.0.1]:9000", "brackets hold an IPv6 address", false, "", "", false},
    {"[fe80::1%lo]:9000", "brackets hold an IPv6 address", false, "", "", false},
    {"[::ffff:127.0.0.1]:9000", "IPv4 address written as IPv6", false, "", "", false},
    {"[::127.0.0.1]:9000", "IPv4 address written as IPv6", false, "", "", false},
    {"0:9000", "four decimal numbers", false, "", "", false},
    {"127.1:9000", "four decimal numbers", false, "", "", false},
    {"010.0.0.1:9000", "four decimal numbers", false, "", "", false},
    {"0x7f000001:9000", "four decimal numbers", false, "", "", false},
    {"host name:9000", "a host name has", false, "", "", false},
    {"-host:9000", "a host name has", false, "", "", false},
    {".host:9000", "a host name has", false, "", "", false},
    {"h@st:9000", "a host name has", false, "", "", false},
};

TEST(spec)
{
    for (size_t i = 0; i < sizeof(spec_cases) / sizeof(spec_cases[0]); i++) {
        const struct spec_case *c = &spec_cases[i];
        struct listen_spec s;
        const char *why;

        memset(&s, 0x5a, sizeof(s));
        why = listen_spec_parse(c->value, &s);
        if (c->refused) {
            CHECKF(why && strstr(why, c->refused), "\"%s\": refused with \"%s\" (got \"%s\")",
                   c->value, c->refused, why ? why : "(accepted)");
            CHECKF(!s.unix_path && !s.numeric && !s.path[0] && !s.host[0] && !s.port[0],
                   "\"%s\": a refused value leaves *s empty", c->value);
            continue;
        }
        CHECKF(why == NULL, "\"%s\": accepted (got \"%s\")", c->value, why ? why : "");
        CHECKF(s.unix_path == c->unix_path, "\"%s\": unix_path %d", c->value, s.unix_path);
        if (c->unix_path) {
            CHECKF(!strcmp(s.path, c->value), "\"%s\": path \"%s\"", c->value, s.path);
            continue;
        }
        CHECKF(!strcmp(s.host, c->host), "\"%s\": host \"%s\", not \"%s\"", c->value, s.host,
               c->host);
        CHECKF(!strcmp(s.port, c->port), "\"%s\": port \"%s\", not \"%s\"", c->value, s.port,
               c->port);
        CHECKF(s.numeric == c->numeric, "\"%s\": numeric %d", c->value, s.numeric);
    }
}

TEST(spec_lengths)
{
    char v[400];
    struct listen_spec s;

    /* A unix path: at most 107 bytes (sun_path with its NUL). */
    memset(v, 'a', sizeof(v));
    v[0] = '/';
    v[107] = '\0';
    CHECK(listen_spec_parse(v, &s) == NULL && s.unix_path && strlen(s.path) == 107);
    v[107] = 'a';
    v[108] = '\0';
    CHECK_CONTAINS(listen_spec_parse(v, &s), "socket path too long");
    CHECK(!s.unix_path && !s.path[0]);
    /* A host name: at most 255 bytes. */
    memset(v, 'a', sizeof(v));
    memcpy(v + 255, ":80", 4);
    CHECK(listen_spec_parse(v, &s) == NULL && strlen(s.host) == 255 && !s.numeric);
    memset(v, 'a', sizeof(v));
    memcpy(v + 256, ":80", 4);
    CHECK_CONTAINS(listen_spec_parse(v, &s), "its host is too long");
}

/* Whether `a` admits the IPv4 peer `addr` (as accept() gives it on an IPv4 socket). */
static bool admits4(const struct listen_allow *a, const char *addr)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    in->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
        return false;
    return listen_allow_admits(a, &ss);
}

/* Whether `a` admits the IPv6 peer `addr` (as accept() gives it on an IPv6 socket). */
static bool admits6(const struct listen_allow *a, const char *addr)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    in6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
        return false;
    return listen_allow_admits(a, &ss);
}

TEST(allow_parse)
{
    static const char *const good[] = {"10.0.0.10", " 10.0.0.10 , fd00::10\t", "::1,127.0.0.1",
                                       "::ffff:10.0.0.1"};
    static const char *const bad[] = {"nginx",         "127.0.0.1, nginx", "10.0.0.1,", ",10.0.0.1",
                                      "10.0.0.1,,::1", "10.0.0.1 ::1",     "127.1",     "010.0.0.1",
                                      "fe80::1%lo",    "10.0.0.0/8",       "[::1]"};
    static const int counts[] = {1, 2, 2, 1};
    struct listen_allow a;
    const char *why;
    char many[64 * 12 + 16];
    size_t used = 0;

    CHECK(listen_allow_parse(NULL, &a, &why) == 0 && a.n == 0 && why == NULL);
    CHECK(listen_allow_parse("", &a, &why) == 0 && a.n == 0);
    CHECK(listen_allow_parse(" \t ", &a, &why) == 0 && a.n == 0);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        CHECKF(listen_allow_parse(good[i], &a, &why) == 0 && a.n == counts[i],
               "\"%s\": accepted, %d addresses (got n=%d, %s)", good[i], counts[i], a.n,
               why ? why : "");
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(listen_allow_parse(bad[i], &a, &why) < 0 && a.n == 0 && why &&
                   strstr(why, "not an IPv4 or IPv6 address"),
               "\"%s\": refused, the list left empty", bad[i]);
    }
    for (int i = 0; i < 64; i++)
        used += (size_t)snprintf(many + used, sizeof(many) - used, "%s10.0.0.%d", i ? "," : "", i);
    CHECK(listen_allow_parse(many, &a, &why) == 0 && a.n == 64);
    snprintf(many + used, sizeof(many) - used, ",10.0.1.0");
    CHECK(listen_allow_parse(many, &a, &why) < 0 && a.n == 0);
    CHECK_CONTAINS(why, "too many addresses");
}

TEST(allow_no_peer_address)
{
    /* Addresses no TCP peer connects from: 0.0.0.0 taken for "any" would
     * refuse every nginx, ::a.b.c.d would never match the IPv4 peer. */
    static const char *const none[] = {
        "0.0.0.0",         "::",          "10.0.0.10, 0.0.0.0",  "::ffff:0.0.0.0",
        "255.255.255.255", "224.0.0.1",   "239.255.255.250",     "::ffff:224.0.0.1",
        "ff02::1",         "::10.0.0.10", "fd00::10,::127.0.0.1"};
    static const char *const peers[] = {"0.0.0.1", "223.255.255.255",  "240.0.0.1",
                                        "::1",     "::ffff:10.0.0.10", "::2:0:0:1"};
    struct listen_allow a;
    const char *why;

    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        why = NULL;
        CHECKF(listen_allow_parse(none[i], &a, &why) < 0 && a.n == 0 && why &&
                   strstr(why, "no peer connects from"),
               "\"%s\": refused as no peer's address (got %s)", none[i], why ? why : "accepted");
    }
    for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++)
        CHECKF(listen_allow_parse(peers[i], &a, &why) == 0 && a.n == 1, "\"%s\": accepted",
               peers[i]);
}

TEST(allow_admits)
{
    struct listen_allow a;
    const char *why;
    struct sockaddr_storage un, other;

    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    memset(&other, 0, sizeof(other));
    other.ss_family = AF_PACKET;

    /* Empty: every peer. */
    CHECK(listen_allow_parse("", &a, &why) == 0);
    CHECK(admits4(&a, "192.0.2.1"));
    CHECK(admits6(&a, "2001:db8::1"));

    /* An IPv4 entry admits that IPv4 peer on an IPv4 and on a dual-stack socket. */
    CHECK(listen_allow_parse("10.0.0.10,fd00::10", &a, &why) == 0);
    CHECK(admits4(&a, "10.0.0.10"));
    CHECK(admits6(&a, "::ffff:10.0.0.10"));
    CHECK(admits6(&a, "fd00::10"));
    CHECK(!admits4(&a, "10.0.0.11"));
    CHECK(!admits6(&a, "::ffff:10.0.0.11"));
    CHECK(!admits6(&a, "fd00::11"));
    CHECK(listen_allow_admits(&a, &un));
    CHECK(!listen_allow_admits(&a, &other));

    /* An IPv4-mapped entry is the IPv4 address. */
    CHECK(listen_allow_parse("::ffff:127.0.0.1", &a, &why) == 0);
    CHECK(admits4(&a, "127.0.0.1"));
    CHECK(!admits6(&a, "::1"));

    /* An IPv6 entry admits no IPv4 peer. */
    CHECK(listen_allow_parse("::1", &a, &why) == 0);
    CHECK(!admits4(&a, "127.0.0.1"));
    CHECK(admits6(&a, "::1"));
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(spec);
    RUN(spec_lengths);
    RUN(allow_parse);
    RUN(allow_no_peer_address);
    RUN(allow_admits);
    return t_end();
}
