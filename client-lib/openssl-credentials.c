/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtlsid-openssl's credentials: the certificates the application can use, each with its
 * key and chain (added as objects, or loaded from PEM or PKCS#12 files), the only
 * candidates a CertificateRequest is answered from. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtlsid-openssl-private.h"

struct TlsidOpensslCredentials {
        int refs;                       /* atomic */
        pthread_mutex_t lock;
        OsslCredential *items[TLSID_CANDIDATES_MAX];    /* under lock; only ever added */
        size_t n;                       /* under lock */
};

int certificate_identity(X509 *cert, char out[static TLSID_IDENTITY_LEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char digest[32];
        unsigned int len = 0;

        if (!X509_digest(cert, EVP_sha256(), digest, &len) || len != sizeof digest)
                return -EINVAL;
        for (size_t i = 0; i < sizeof digest; i++) {
                out[2 * i] = hex[digest[i] >> 4];
                out[2 * i + 1] = hex[digest[i] & 0xf];
        }
        out[TLSID_IDENTITY_LEN] = '\0';
        return 0;
}

_public_ int tlsid_openssl_credentials_new(TlsidOpensslCredentials **ret) {
        TlsidOpensslCredentials *creds;

        if (!ret)
                return -EINVAL;
        creds = calloc(1, sizeof *creds);
        if (!creds)
                return -ENOMEM;
        creds->refs = 1;
        pthread_mutex_init(&creds->lock, NULL);
        *ret = creds;
        return 0;
}

_public_ TlsidOpensslCredentials *tlsid_openssl_credentials_ref(
                TlsidOpensslCredentials *credentials) {
        if (credentials)
                __atomic_add_fetch(&credentials->refs, 1, __ATOMIC_RELAXED);
        return credentials;
}

static void credential_free(OsslCredential *item) {
        if (!item)
                return;
        X509_free(item->cert);
        EVP_PKEY_free(item->key);
        sk_X509_pop_free(item->chain, X509_free);
        free(item->nickname);
        OPENSSL_free(item->der);
        for (size_t i = 0; i < item->n_chain; i++)
                OPENSSL_free(item->chain_der[i]);
        free(item);
}

_public_ TlsidOpensslCredentials *tlsid_openssl_credentials_unref(
                TlsidOpensslCredentials *credentials) {
        if (!credentials || __atomic_sub_fetch(&credentials->refs, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        for (size_t i = 0; i < credentials->n; i++)
                credential_free(credentials->items[i]);
        pthread_mutex_destroy(&credentials->lock);
        free(credentials);
        return NULL;
}

_public_ size_t tlsid_openssl_credentials_count(TlsidOpensslCredentials *credentials) {
        size_t n;

        if (!credentials)
                return 0;
        pthread_mutex_lock(&credentials->lock);
        n = credentials->n;
        pthread_mutex_unlock(&credentials->lock);
        return n;
}

/* The DER of @cert (transfer full, OPENSSL_free()), within the daemon's bound. */
static int der_of(X509 *cert, unsigned char **ret, size_t *ret_len) {
        unsigned char *der = NULL;
        int len = i2d_X509(cert, &der);

        if (len <= 0 || len > TLSID_CERTIFICATE_MAX) {
                OPENSSL_free(der);
                return -EINVAL;
        }
        *ret = der;
        *ret_len = (size_t) len;
        return 0;
}

_public_ int tlsid_openssl_credentials_add(TlsidOpensslCredentials *credentials, X509 *cert,
                                           EVP_PKEY *key, STACK_OF(X509) *chain,
                                           const char *nickname, char *ret_identity) {
        OsslCredential *item;
        int r;

        if (!credentials || !cert || !key || (nickname && strlen(nickname) > 1024))
                return -EINVAL;
        if (X509_check_private_key(cert, key) != 1) {
                ERR_clear_error();
                return -EINVAL;
        }
        item = calloc(1, sizeof *item);
        if (!item)
                return -ENOMEM;
        r = certificate_identity(cert, item->identity);
        if (r >= 0)
                r = der_of(cert, &item->der, &item->der_len);
        if (r >= 0 && nickname && !(item->nickname = strdup(nickname)))
                r = -ENOMEM;
        if (r >= 0 && chain) {
                int count = sk_X509_num(chain);

                if (!(item->chain = X509_chain_up_ref(chain)))
                        r = -ENOMEM;
                for (int i = 0; r >= 0 && i < count && item->n_chain < TLSID_CHAIN_MAX; i++) {
                        r = der_of(sk_X509_value(chain, i), &item->chain_der[item->n_chain],
                                   &item->chain_len[item->n_chain]);
                        if (r >= 0)
                                item->n_chain++;
                }
        }
        if (r < 0) {
                credential_free(item);
                return r;
        }
        X509_up_ref(cert);
        item->cert = cert;
        EVP_PKEY_up_ref(key);
        item->key = key;

        pthread_mutex_lock(&credentials->lock);
        for (size_t i = 0; i < credentials->n; i++)
                if (strcmp(credentials->items[i]->identity, item->identity) == 0)
                        r = -EEXIST;
        if (r >= 0 && credentials->n >= TLSID_CANDIDATES_MAX)
                r = -ENOBUFS;
        if (r >= 0)
                credentials->items[credentials->n++] = item;
        pthread_mutex_unlock(&credentials->lock);
        if (r >= 0 && ret_identity)
                memcpy(ret_identity, item->identity, TLSID_IDENTITY_LEN + 1);
        if (r < 0)
                credential_free(item);
        return r;
}

/* fopen()'s errno, or -EINVAL for what is not a file of ours to read. */
static FILE *open_file(const char *path, int *ret_error) {
        FILE *f = fopen(path, "re");

        if (!f)
                *ret_error = errno ? -errno : -EINVAL;
        return f;
}

static int pem_password(char *buf, int size, int rwflag, void *userdata) {
        const char *password = userdata;
        size_t len = password ? strlen(password) : 0;

        if (len > (size_t) size)
                return -1;
        memcpy(buf, password ? password : "", len);
        return (int) len;
}

_public_ int tlsid_openssl_credentials_add_pem_file(TlsidOpensslCredentials *credentials,
                                                    const char *cert_path,
                                                    const char *key_path, const char *password,
                                                    char *ret_identity) {
        STACK_OF(X509) *chain = NULL;
        X509 *cert = NULL, *extra;
        EVP_PKEY *key = NULL;
        FILE *f;
        int r = 0;

        if (!credentials || !cert_path)
                return -EINVAL;
        f = open_file(cert_path, &r);
        if (!f)
                return r;
        cert = PEM_read_X509(f, NULL, pem_password, (void *) password);
        if (cert && !(chain = sk_X509_new_null()))
                r = -ENOMEM;
        while (cert && r >= 0 && (extra = PEM_read_X509(f, NULL, pem_password, (void *) password)))
                if (!sk_X509_push(chain, extra)) {
                        X509_free(extra);
                        r = -ENOMEM;
                }
        ERR_clear_error();
        if (!key_path) {
                rewind(f);
                key = PEM_read_PrivateKey(f, NULL, pem_password, (void *) password);
        }
        fclose(f);
        if (key_path && cert && r >= 0) {
                f = open_file(key_path, &r);
                if (f) {
                        key = PEM_read_PrivateKey(f, NULL, pem_password, (void *) password);
                        fclose(f);
                }
        }
        ERR_clear_error();
        if (r >= 0 && (!cert || !key))
                r = -EINVAL;
        if (r >= 0)
                r = tlsid_openssl_credentials_add(credentials, cert, key,
                                                  sk_X509_num(chain) > 0 ? chain : NULL, NULL,
                                                  ret_identity);
        X509_free(cert);
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        return r;
}

_public_ int tlsid_openssl_credentials_add_pkcs12_file(TlsidOpensslCredentials *credentials,
                                                       const char *path, const char *password,
                                                       char *ret_identity) {
        STACK_OF(X509) *chain = NULL;
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        PKCS12 *p12;
        char *name = NULL;
        FILE *f;
        int r = 0;

        if (!credentials || !path)
                return -EINVAL;
        f = open_file(path, &r);
        if (!f)
                return r;
        p12 = d2i_PKCS12_fp(f, NULL);
        fclose(f);
        if (!p12 || !PKCS12_parse(p12, password ? password : "", &key, &cert, &chain))
                r = -EINVAL;
        ERR_clear_error();
        if (r >= 0 && cert) {
                int len = 0;
                unsigned char *alias = X509_alias_get0(cert, &len);

                if (alias && len > 0)
                        name = strndup((const char *) alias, (size_t) len);
        }
        if (r >= 0)
                r = tlsid_openssl_credentials_add(credentials, cert, key,
                                                  sk_X509_num(chain) > 0 ? chain : NULL, name,
                                                  ret_identity);
        free(name);
        PKCS12_free(p12);
        X509_free(cert);
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        return r;
}

int credentials_snapshot(TlsidOpensslCredentials *credentials, OsslCredential ***ret,
                         size_t *ret_n) {
        OsslCredential **items;
        size_t n = 0;

        *ret = NULL;
        *ret_n = 0;
        if (!credentials)
                return 0;
        items = calloc(TLSID_CANDIDATES_MAX, sizeof *items);
        if (!items)
                return -ENOMEM;
        /* Items are only ever added, and live as long as @credentials: the caller holds a
         * reference to it while it uses the snapshot. */
        pthread_mutex_lock(&credentials->lock);
        n = credentials->n;
        memcpy(items, credentials->items, n * sizeof *items);
        pthread_mutex_unlock(&credentials->lock);
        *ret = items;
        *ret_n = n;
        return 0;
}

void credentials_snapshot_free(OsslCredential **items, size_t n) {
        free(items);
}
