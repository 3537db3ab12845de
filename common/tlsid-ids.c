/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of context ids, origins and identities. */
#include "tlsid-ids.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static bool is_context_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                strchr("._:/@+-", c) != NULL;
}

const char *id_context_check(const char *s) {
        size_t n;

        if (!s)
                return "is missing";
        n = strlen(s);
        if (n == 0 || n > TLSID_CONTEXT_MAX)
                return "must be 1 to 128 bytes";
        for (size_t i = 0; i < n; i++)
                if (!is_context_char(s[i]))
                        return "may hold only A-Z a-z 0-9 and . _ : / @ + -";
        return NULL;
}

static bool is_ldh(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* LDH labels of 1 to 63 bytes, not starting or ending with '-', total at most 253. A
 * final label of digits only would be mistaken for an IPv4 literal: refuse it. */
static const char *dns_name_check(const char *s, size_t n) {
        size_t label = 0;
        bool all_digits = true;

        if (n == 0)
                return "has an empty host";
        if (n > TLSID_HOST_MAX)
                return "has a host name longer than 253 bytes";
        for (size_t i = 0; i <= n; i++) {
                if (i == n || s[i] == '.') {
                        if (label == 0)
                                return "has an empty DNS label";
                        if (s[i - 1] == '-')
                                return "has a DNS label ending in '-'";
                        if (i == n && all_digits)
                                return "has a host that is neither a DNS name nor an IPv4 literal";
                        label = 0;
                        all_digits = true;
                        continue;
                }
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return "must be lower case";
                if (!is_ldh(s[i]))
                        return "has a host character outside a-z 0-9 - .";
                if (label == 0 && s[i] == '-')
                        return "has a DNS label starting with '-'";
                if (s[i] < '0' || s[i] > '9')
                        all_digits = false;
                if (++label > 63)
                        return "has a DNS label longer than 63 bytes";
        }
        return NULL;
}

/* A dotted-quad IPv4 literal in canonical form (no leading zeros). */
static bool ipv4_literal(const char *s, size_t n) {
        char buf[16];
        struct in_addr a;
        char back[INET_ADDRSTRLEN];

        if (n == 0 || n >= sizeof buf)
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (inet_pton(AF_INET, buf, &a) != 1)
                return false;
        return inet_ntop(AF_INET, &a, back, sizeof back) && strcmp(back, buf) == 0;
}

static bool all_digits_or_dots(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
                        return false;
        return true;
}

/* The RFC 5952 text of @a in hex only: lower case, no leading zeros, the longest
 * (leftmost) run of two or more zero fields as "::". @out holds INET6_ADDRSTRLEN. */
static void ipv6_hex_form(const struct in6_addr *a, char *out) {
        unsigned int words[8];
        int best = -1, best_len = 0;
        char *p = out;

        for (int i = 0; i < 8; i++)
                words[i] = (unsigned int) a->s6_addr[2 * i] << 8 | a->s6_addr[2 * i + 1];
        for (int i = 0; i < 8;) {
                int j = i;

                while (j < 8 && words[j] == 0)
                        j++;
                if (j - i > best_len && j - i >= 2) {
                        best = i;
                        best_len = j - i;
                }
                i = j > i ? j : i + 1;
        }
        for (int i = 0; i < 8; i++) {
                if (i == best) {
                        *p++ = ':';
                        if (i == 0)
                                *p++ = ':';
                        i += best_len - 1;
                        continue;
                }
                p += sprintf(p, "%x%s", words[i], i < 7 ? ":" : "");
        }
        *p = 0;
}

const char *id_origin_check(const char *s) {
        const char *colon;
        size_t host_len;
        unsigned long port = 0;

        if (!s || !*s)
                return "is empty";
        if (strlen(s) > TLSID_ORIGIN_MAX)
                return "is too long";
        colon = strrchr(s, ':');
        if (!colon)
                return "must be host:port";
        host_len = (size_t) (colon - s);

        if (colon[1] == 0)
                return "has no port";
        if (colon[1] == '0')
                return "must have a port from 1 to 65535 without leading zeros";
        for (const char *p = colon + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return "has a port that is not a number";
                port = port * 10 + (unsigned long) (*p - '0');
                if (port > 65535)
                        return "must have a port from 1 to 65535";
        }

        if (s[0] == '[') {
                char buf[INET6_ADDRSTRLEN + 1];
                char back[INET6_ADDRSTRLEN];
                struct in6_addr a;

                if (host_len < 3 || s[host_len - 1] != ']')
                        return "has an IPv6 literal without its closing ']'";
                if (host_len - 2 >= sizeof buf)
                        return "has an IPv6 literal that is too long";
                memcpy(buf, s + 1, host_len - 2);
                buf[host_len - 2] = 0;
                for (const char *p = buf; *p; p++)
                        if (*p >= 'A' && *p <= 'F')
                                return "must be lower case";
                if (inet_pton(AF_INET6, buf, &a) != 1)
                        return "has an invalid IPv6 literal";
                /* One address, one spelling (RFC 5952), as for IPv4: otherwise two
                 * spellings of one server would get two partitions. An embedded IPv4
                 * address may be written dotted (inet_ntop) or in hex (URL parsers). */
                ipv6_hex_form(&a, back);
                if (strcmp(back, buf) == 0)
                        return NULL;
                if (inet_ntop(AF_INET6, &a, back, sizeof back) && strcmp(back, buf) == 0)
                        return NULL;
                return "has an IPv6 literal not in canonical form (RFC 5952)";
        }
        if (memchr(s, ':', host_len))
                return "has an IPv6 literal without brackets";
        if (all_digits_or_dots(s, host_len))
                return ipv4_literal(s, host_len) ? NULL : "has an invalid IPv4 literal";
        return dns_name_check(s, host_len);
}

const char *id_fingerprint_check(const char *s) {
        if (!s)
                return "is missing";
        if (strlen(s) != TLSID_IDENTITY_LEN)
                return "must be 64 lower-case hex characters (SHA-256)";
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return "must be 64 lower-case hex characters (SHA-256)";
        return NULL;
}

const char *id_identity_check(const char *s) {
        if (s && *s == 0)
                return NULL;
        return id_fingerprint_check(s);
}

static const char *const state_names[] = {
        [TLSID_STATE_UNDECIDED] = "undecided",
        [TLSID_STATE_NONE] = "none",
        [TLSID_STATE_CERTIFICATE] = "certificate",
};

const char *choice_state_to_string(int state) {
        if (state < 0 || state > TLSID_STATE_CERTIFICATE)
                return NULL;
        return state_names[state];
}

int choice_state_from_string(const char *s) {
        if (!s)
                return -1;
        for (int i = 0; i <= TLSID_STATE_CERTIFICATE; i++)
                if (strcmp(state_names[i], s) == 0)
                        return i;
        return -1;
}
