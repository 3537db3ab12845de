/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What may cross the wire, stated once: the sizes and counts that the daemon, the store,
 * libtlsid and the adapters check, each with the same number (dbus/org.tlsid.Manager1.xml
 * documents them). */
#pragma once

/* Ids (common/tlsid-ids.h checks them). */
#define TLSID_CONTEXT_MAX 128 /* bytes of a context id */
#define TLSID_IDENTITY_LEN 64 /* hex characters of a SHA-256 fingerprint */
/* "[" + 39 hex/colon characters of an IPv6 literal + "]" would fit; a DNS name is 253. */
#define TLSID_HOST_MAX 253
#define TLSID_ORIGIN_MAX (TLSID_HOST_MAX + 6) /* host, ":" and a port of 5 digits */

/* OpenContext and PutSession. */
#define TLSID_LABEL_MAX 256          /* bytes of a context's label */
#define TLSID_ALPN_MAX 255           /* bytes of a token's ALPN protocol (RFC 7301) */
#define TLSID_TOKEN_MAX (64 * 1024)  /* bytes of one resumption token */
#define TLSID_TOKEN_KEY_LEN 32       /* bytes of GetTokenKey's key: any NSS wrap mechanism */

/* SelectCertificate: the candidates and the CertificateRequest. */
#define TLSID_CERTIFICATE_MAX (64 * 1024) /* bytes of one DER certificate */
#define TLSID_CANDIDATES_MAX 64           /* candidates of one call */
#define TLSID_CHAIN_MAX 8                 /* intermediates of one candidate */
#define TLSID_NICKNAME_MAX 256            /* bytes of a candidate's nickname */
#define TLSID_CA_NAMES_MAX 256            /* CA names of a request (and of a challenge) */
#define TLSID_CA_NAME_MAX 65535           /* bytes of one DER Name */
#define TLSID_CERT_TYPES_MAX 255          /* TLS 1.2 certificate_types */
#define TLSID_SIGNATURE_SCHEMES_MAX 1024  /* signature_algorithms(_cert) entries */
#define TLSID_OID_FILTERS_MAX 64          /* TLS 1.3 oid_filters entries */
#define TLSID_OID_MAX 255                 /* bytes of one filter's OID */
#define TLSID_OID_VALUE_MAX 65535         /* bytes of one filter's values */

/* ListContexts, ListSessions and ListCertificates: one reply is one page of at most
 * TLSID_LIST_PAGE_MAX entries, and the daemon stops adding entries before the page's
 * entries could take more than TLSID_LIST_PAGE_BYTES on the wire, so a reply stays far
 * under any bus's message size limit (dbus-daemon's default is 32 MiB, the protocol
 * allows 128 MiB) whatever the store or the NSS database holds. */
#define TLSID_LIST_PAGE_MAX 1024
#define TLSID_LIST_PAGE_BYTES (128 * 1024)

/* A certificate's description (ListCertificates, "eligible"): its subject, issuer and
 * nickname are at most TLSID_CERT_TEXT_MAX bytes each; a longer one is cut at a character
 * boundary and ends in "...". They are for people to recognise it by; the identity is
 * what names it. */
#define TLSID_CERT_TEXT_MAX 1024
/* SelectCertificate's and AnswerChallenge's "eligible": the best TLSID_ELIGIBLE_MAX (as
 * many as a caller may offer), with the number of all; the descriptions of that many stay
 * within TLSID_ELIGIBLE_BYTES on the wire (the daemon asserts it at build time). */
#define TLSID_ELIGIBLE_MAX TLSID_CANDIDATES_MAX
#define TLSID_ELIGIBLE_BYTES (256 * 1024)

/* The agent interface (dbus/org.tlsid.Agent1.xml): the defaults of tlsidd.conf's [agents]
 * limits, and the longest a caller may ask to wait for a person's answer. */
#define TLSID_AGENTS_MAX 16                  /* agents registered at once */
#define TLSID_AGENT_REQUESTS_MAX 64          /* prompts, one per (context, origin) */
#define TLSID_AGENT_WAITS_PER_CALLER_MAX 8   /* interactive calls waiting per caller */
#define TLSID_INTERACTIVE_TIMEOUT_MAX_MS 600000 /* interactive_timeout_ms */
