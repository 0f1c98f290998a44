/*
 * test_hook.c - unit tests for hook.c: the webhook address policy (which
 * addresses a callback may connect to), the URL check and the signature.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "hook.h"
#include "t.h"

struct addr_case {
    const char *addr;
    bool pub;
};

static const struct addr_case addr_cases[] = {
    /* IPv4 */
    {"8.8.8.8", true},
    {"1.1.1.1", true},
    {"93.184.216.34", true},
    {"0.0.0.0", false},
    {"0.1.2.3", false},
    {"10.0.0.1", false},
    {"127.0.0.1", false},
    {"127.255.255.254", false},
    {"100.64.0.1", false},
    {"100.127.255.255", false},
    {"100.128.0.1", true},
    {"169.254.169.254", false},
    {"172.16.0.1", false},
    {"172.31.255.255", false},
    {"172.32.0.1", true},
    {"192.168.1.1", false},
    {"192.0.0.8", false},
    {"192.0.2.1", false},
    {"192.88.99.1", false},
    {"198.18.0.1", false},
    {"198.19.255.255", false},
    {"198.51.100.7", false},
    {"203.0.113.9", false},
    {"224.0.0.1", false},
    {"240.0.0.1", false},
    {"255.255.255.255", false},
    /* IPv6 global unicast */
    {"2606:4700:4700::1111", true},
    {"2a00:1450:4001:80b::200e", true},
    {"2001:4860:4860::8888", true},
    /* unspecified, loopback, IPv4-compatible ::/96 */
    {"::", false},
    {"::1", false},
    {"::8.8.8.8", false},
    {"::127.0.0.1", false},
    /* IPv4-mapped ::ffff:0:0/96: judged by the IPv4 address */
    {"::ffff:127.0.0.1", false},
    {"::ffff:10.1.2.3", false},
    {"::ffff:8.8.8.8", true},
    /* IPv4-translated ::ffff:0:0:0/96 */
    {"::ffff:0:127.0.0.1", false},
    {"::ffff:0:192.168.0.1", false},
    {"::ffff:0:8.8.8.8", true},
    /* NAT64 64:ff9b::/96 */
    {"64:ff9b::127.0.0.1", false},
    {"64:ff9b::10.0.0.1", false},
    {"64:ff9b::169.254.169.254", false},
    {"64:ff9b::8.8.8.8", true},
    /* local-use NAT64 64:ff9b:1::/48 */
    {"64:ff9b:1::8.8.8.8", false},
    {"64:ff9b:1:ffff::1", false},
    /* 6to4 2002::/16: the IPv4 address in bits 16-47 */
    {"2002:7f00:1::", false},
    {"2002:a00:1::1", false},
    {"2002:a9fe:a9fe::1", false},
    {"2002:808:808::1", true},
    /* Teredo 2001::/32 and the rest of 2001::/23 */
    {"2001::1", false},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
    {"2001:2::1", false},
    {"2001:10::1", false},
    {"2001:1ff::1", false},
    {"2001:200::1", true},
    /* documentation */
    {"2001:db8::1", false},
    {"3fff::1", false},
    {"3fff:fff::1", false},
    /* SRv6 SIDs, discard-only */
    {"5f00::1", false},
    {"100::1", false},
    /* unique local, site-local, link-local, multicast */
    {"fc00::1", false},
    {"fd12:3456:789a::1", false},
    {"fec0::1", false},
    {"feff::1", false},
    {"fe80::1", false},
    {"ff02::1", false},
    {"ff0e::1", false},
    /* outside 2000::/3 */
    {"1000::1", false},
    {"4000::1", false},
};

TEST(address_policy)
{
    for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        const struct addr_case *c = &addr_cases[i];
        struct sockaddr_in v4 = {.sin_family = AF_INET};
        struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
        const struct sockaddr *sa;

        if (inet_pton(AF_INET, c->addr, &v4.sin_addr) == 1) {
            sa = (const struct sockaddr *)&v4;
        } else {
            CHECKF(inet_pton(AF_INET6, c->addr, &v6.sin6_addr) == 1, "%s parses", c->addr);
            sa = (const struct sockaddr *)&v6;
        }
        CHECKF(hook_address_public(sa) == c->pub, "%s is %s", c->addr,
               c->pub ? "public" : "refused");
    }
}

TEST(address_family)
{
    struct sockaddr sa = {.sa_family = AF_UNIX};

    CHECK(!hook_address_public(&sa));
}

struct url_case {
    const char *url;
    bool ok;
};

static const struct url_case url_cases[] = {
    {"https://hooks.example.com/loopgate", true},
    {"http://127.0.0.1:8080/x?y=1", true},
    {"http://[::1]:9000/hook", true},
    {"https://xn--bcher-kva.example/x", true},
    {"https://b\xC3\xBC"
     "cher.example/x",
     false},
    {"https://example.com/caf\xC3\xA9", false},
    {"ftp://example.com/x", false},
    {"file:///etc/passwd", false},
    {"gopher://example.com/", false},
    {"https://", false},
    {"not a url", false},
    {"https://exa mple.com/", false},
    {"https://example.com/\x01", false},
};

TEST(url_check)
{
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        char why[256] = "";
        int rc = hook_url_check(url_cases[i].url, why, sizeof(why));

        CHECKF((rc == 0) == url_cases[i].ok, "%s: %s (%s)", url_cases[i].url,
               url_cases[i].ok ? "accepted" : "refused", why);
        if (rc < 0)
            CHECKF(why[0] != '\0', "%s: a reason is given", url_cases[i].url);
    }
}

TEST(signature)
{
    char sig[65], again[65];
    const unsigned char *k = (const unsigned char *)"secret";

    /* printf '1700000000.{}' | openssl dgst -sha256 -hmac secret */
    hook_sign(k, 6, "1700000000", "{}", sig);
    CHECK_EQ_STR(sig, "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
    hook_sign(k, 6, "1700000001", "{}", again);
    CHECK(strcmp(sig, again) != 0);
}

/* The Standard Webhooks libraries' own test vector. */
TEST(standard_webhooks)
{
    unsigned char key[HOOK_KEY_MAX];
    char sig[48], shown[HOOK_SECRET_SHOWN_MAX], fresh[HOOK_SECRET_SHOWN_MAX];
    int n = hook_secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key);

    CHECK(n == 24);
    hook_sign_v1(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                 "{\"test\": 2432232314}", sig);
    CHECK_EQ_STR(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    CHECK(hook_secret_shown("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", shown) == 0);
    CHECK_EQ_STR(shown, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    /* A secret from before: its text is the key, shown as base64 of it. */
    n = hook_secret_key("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", key);
    CHECK(n == 64 && !memcmp(key, "0123456789abcdef", 16));
    CHECK(hook_secret_shown("abc", shown) == 0);
    CHECK_EQ_STR(shown, "whsec_YWJj");

    /* Not base64, padding in the middle, empty, longer than 64 bytes. */
    CHECK(hook_secret_key("whsec_not base64!", key) < 0);
    CHECK(hook_secret_key("whsec_YW=j", key) < 0);
    CHECK(hook_secret_key("whsec_", key) < 0);
    CHECK(hook_secret_key("whsec_YWJjZA", key) < 0);
    CHECK(hook_secret_key("whsec_YWJjZA==", key) == 4);
    CHECK(hook_secret_key("whsec_"
                          "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEy"
                          "MzQ1Njc4OWFiY2RlZjA=",
                          key) < 0);
    CHECK(hook_secret_key("", key) < 0);

    CHECK(hook_secret_new(fresh) == 0);
    CHECK(!strncmp(fresh, "whsec_", 6) && strlen(fresh) == 6 + 44);
    CHECK(hook_secret_key(fresh, key) == 32);
}

int main(int argc, char **argv)
{
    t_begin(argc, argv);
    RUN(address_policy);
    RUN(address_family);
    RUN(url_check);
    RUN(signature);
    RUN(standard_webhooks);
    return t_end();
}
