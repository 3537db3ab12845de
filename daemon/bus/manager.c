/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.tlsid.Manager1 object. */
#include "manager.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bus-glib.h"
#include "challenge.h"
#include "eligibility.h"
#include "selection.h"
#include "state-file.h"

#define LABEL_MAX 256
#define ALPN_MAX 255
/* Longest piece of caller input quoted back in an error message. */
#define QUOTE_MAX 64
/* The expiry timer never fires more often than this, nor later than a day after
 * arming (it re-arms then), whatever the store answers. */
#define EXPIRY_MIN_DELAY_S 1
#define EXPIRY_MAX_DELAY_S (24 * 3600)

/* Bounds of one SelectCertificate call (TLS bounds a CertificateRequest, and real ones are
 * far smaller than this). Past them: INVALID_ARGUMENT naming the field. */
#define SELECT_CANDIDATES_MAX 64
#define SELECT_CHAIN_MAX 8
#define SELECT_CA_NAMES_MAX 256
#define SELECT_CA_NAME_BYTES_MAX 65535
#define SELECT_CERT_TYPES_MAX 255
#define SELECT_SCHEMES_MAX 1024
#define SELECT_OID_FILTERS_MAX 64
#define SELECT_OID_BYTES_MAX 255
#define SELECT_OID_VALUE_BYTES_MAX 65535

/* A caller, known by its unique name. Its calls wait in @queue while its uid is being
 * looked up, so that they run in order and the main loop never blocks. */
typedef struct {
        Manager *manager;
        char *name;
        gboolean known;
        uid_t uid;
        GQueue queue;             /* DBusMessage (owned), while !known */
        DBusPendingCall *lookup;  /* GetConnectionUnixUser in flight, while !known */
} Sender;

/* The last "retry" AnswerChallenge gave for a (context, origin): a challenge to a request
 * sent under @generation means the server refused @identity. */
typedef struct {
        guint32 generation;
        char identity[TLSID_IDENTITY_LEN + 1];
} RetryRecord;

/* Loop-guard records kept at most; past it they are all dropped (a stale record only ever
 * costs one more automatic retry). */
#define RETRY_RECORDS_MAX 4096

/* What the worker thread writing the state file shares with the main thread. Reference
 * counted (g_atomic_rc_box), so a write finishing after manager_free() is harmless. */
typedef struct {
        GMutex lock;
        GCond idle;
        gboolean busy;    /* under lock: a worker is writing */
        Manager *manager; /* main thread only; NULL once the manager is gone */
        char *path;
} SaveState;

typedef struct {
        SaveState *state; /* a reference */
        GBytes *data;
} SaveJob;

struct Manager {
        DBusConnection *connection;
        Store *store;
        CertDb *certs;            /* nullable */
        PolicyWatch *policy;      /* nullable */
        Policy *default_policy;   /* in force when there is no watch */
        TlsidConfig config;
        uid_t uid;
        gint64 started; /* monotonic, for the uptime statistic */
        GMainContext *context;

        gboolean registered;
        gboolean filter_added;
        GHashTable *senders; /* unique name -> Sender */
        GHashTable *retries; /* "context\norigin" -> RetryRecord: AnswerChallenge's loop guard */
        guint8 token_key[MANAGER_TOKEN_KEY_LEN]; /* GetTokenKey's, drawn in manager_start() */
        gboolean have_token_key;

        GSource *expiry_source;
        gint64 expiry_at; /* when expiry_source fires, in Unix seconds */

        SaveState *save;
        guint64 saved_serial; /* remembered serial of the last snapshot taken */
        GSource *save_source; /* idle source that takes the next snapshot */
        gboolean save_running;
};

static void oom(void) {
        g_error("out of memory");
}

static DBusMessage *new_reply(DBusMessage *message) {
        DBusMessage *reply = dbus_message_new_method_return(message);
        if (!reply)
                oom();
        return reply;
}

static DBusMessage *new_reply_uint32(DBusMessage *message, guint v) {
        DBusMessage *reply = new_reply(message);
        dbus_uint32_t value = v;

        if (!dbus_message_append_args(reply, DBUS_TYPE_UINT32, &value, DBUS_TYPE_INVALID))
                oom();
        return reply;
}

/* @s shortened to QUOTE_MAX characters for an error message (transfer full). */
static char *quote(const char *s) {
        if (g_utf8_strlen(s, -1) <= QUOTE_MAX)
                return g_strdup(s);
        g_autofree char *head = g_utf8_substring(s, 0, QUOTE_MAX);
        return g_strconcat(head, "...", NULL);
}

/* --- signals --- */

static void emit_signal(Manager *m, DBusMessage *signal) {
        if (!dbus_connection_send(m->connection, signal, NULL))
                oom();
}

static void choice_changed_cb(const char *context, const char *origin, int state,
                              const char *identity, guint32 generation, gpointer user_data) {
        Manager *m = user_data;
        g_autoptr(DBusMessage) signal = dbus_message_new_signal(TLSID_OBJECT_PATH, TLSID_INTERFACE,
                                                                "IdentityChanged");
        const char *state_name = choice_state_to_string(state);
        dbus_uint32_t gen = generation;

        if (!signal || !dbus_message_append_args(signal,
                                                 DBUS_TYPE_STRING, &context,
                                                 DBUS_TYPE_STRING, &origin,
                                                 DBUS_TYPE_STRING, &state_name,
                                                 DBUS_TYPE_STRING, &identity,
                                                 DBUS_TYPE_UINT32, &gen,
                                                 DBUS_TYPE_INVALID))
                oom();
        emit_signal(m, signal);
}

static void emit_sessions_flushed(Manager *m, const char *context, const char *origin,
                                  guint dropped) {
        g_autoptr(DBusMessage) signal = dbus_message_new_signal(TLSID_OBJECT_PATH, TLSID_INTERFACE,
                                                                "SessionsFlushed");
        dbus_uint32_t n = dropped;

        if (!signal || !dbus_message_append_args(signal,
                                                 DBUS_TYPE_STRING, &context,
                                                 DBUS_TYPE_STRING, &origin,
                                                 DBUS_TYPE_UINT32, &n,
                                                 DBUS_TYPE_INVALID))
                oom();
        emit_signal(m, signal);
}

/* --- expiry --- */

static void expiry_rearm(Manager *m);

static gboolean expiry_cb(gpointer data) {
        Manager *m = data;

        g_clear_pointer(&m->expiry_source, g_source_unref);
        store_expire(m->store, g_get_real_time() / G_USEC_PER_SEC);
        expiry_rearm(m);
        return G_SOURCE_REMOVE;
}

/* One timer for all tokens: armed for the earliest expiry, and left alone when it
 * already fires no later than that (it re-arms itself when it fires). */
static void expiry_rearm(Manager *m) {
        gint64 next = store_next_expiry(m->store);

        if (next == 0) {
                if (m->expiry_source) {
                        g_source_destroy(m->expiry_source);
                        g_clear_pointer(&m->expiry_source, g_source_unref);
                }
                return;
        }
        if (m->expiry_source && m->expiry_at <= next)
                return;
        if (m->expiry_source) {
                g_source_destroy(m->expiry_source);
                g_clear_pointer(&m->expiry_source, g_source_unref);
        }

        gint64 now_ms = g_get_real_time() / 1000;
        gint64 delay_ms = next * 1000 - now_ms;
        gint64 delay_s = (delay_ms + 999) / 1000;
        delay_s = CLAMP(delay_s, EXPIRY_MIN_DELAY_S, EXPIRY_MAX_DELAY_S);

        m->expiry_at = now_ms / 1000 + delay_s;
        m->expiry_source = g_timeout_source_new((guint) delay_s * 1000);
        g_source_set_name(m->expiry_source, "tlsid-expiry");
        g_source_set_callback(m->expiry_source, expiry_cb, m, NULL);
        g_source_attach(m->expiry_source, m->context);
}

/* --- persistence --- */

static SaveState *save_state_ref(SaveState *s) {
        return g_atomic_rc_box_acquire(s);
}

static void save_state_clear(SaveState *s) {
        g_mutex_clear(&s->lock);
        g_cond_clear(&s->idle);
        g_free(s->path);
}

static void save_state_unref(SaveState *s) {
        g_atomic_rc_box_release_full(s, (GDestroyNotify) save_state_clear);
}

static void save_job_free(SaveJob *job) {
        save_state_unref(job->state);
        g_bytes_unref(job->data);
        g_free(job);
}

static void save_thread(GTask *task, gpointer source_object, gpointer task_data,
                        GCancellable *cancellable) {
        SaveJob *job = task_data;
        GError *error = NULL;
        gboolean ok = state_file_write(job->state->path, job->data, &error);

        g_mutex_lock(&job->state->lock);
        job->state->busy = FALSE;
        g_cond_broadcast(&job->state->idle);
        g_mutex_unlock(&job->state->lock);
        if (ok)
                g_task_return_boolean(task, TRUE);
        else
                g_task_return_error(task, error);
}

static void save_schedule(Manager *m);

static void save_done(GObject *source_object, GAsyncResult *result, gpointer user_data) {
        SaveState *state = user_data;
        Manager *m = state->manager;
        g_autoptr(GError) error = NULL;

        if (!g_task_propagate_boolean(G_TASK(result), &error) && m)
                g_warning("Failed to save remembered choices to %s: %s", state->path,
                          error->message);
        if (m) {
                m->save_running = FALSE;
                /* Changes that arrived while this save ran. */
                if (store_remembered_serial(m->store) != m->saved_serial)
                        save_schedule(m);
        }
        save_state_unref(state);
}

static gboolean save_idle_cb(gpointer data) {
        Manager *m = data;
        guint64 serial = store_remembered_serial(m->store);

        g_clear_pointer(&m->save_source, g_source_unref);
        /* save_done() schedules again once the running save is finished. */
        if (m->save_running || serial == m->saved_serial)
                return G_SOURCE_REMOVE;

        SaveJob *job = g_new0(SaveJob, 1);
        job->data = state_file_serialize(m->store);
        job->state = save_state_ref(m->save);
        m->saved_serial = serial;
        m->save_running = TRUE;
        g_mutex_lock(&m->save->lock);
        m->save->busy = TRUE;
        g_mutex_unlock(&m->save->lock);

        g_autoptr(GTask) task = g_task_new(NULL, NULL, save_done, save_state_ref(m->save));
        g_task_set_source_tag(task, save_idle_cb);
        g_task_set_task_data(task, job, (GDestroyNotify) save_job_free);
        g_task_run_in_thread(task, save_thread);
        return G_SOURCE_REMOVE;
}

/* Coalesces every change made within one main loop iteration into one save. */
static void save_schedule(Manager *m) {
        if (m->save_source)
                return;
        m->save_source = g_idle_source_new();
        g_source_set_name(m->save_source, "tlsid-save");
        g_source_set_callback(m->save_source, save_idle_cb, m, NULL);
        g_source_attach(m->save_source, m->context);
}

static void after_call(Manager *m) {
        if (store_remembered_serial(m->store) != m->saved_serial)
                save_schedule(m);
}

gboolean manager_flush_save(Manager *m, GError **error) {
        if (m->save_source) {
                g_source_destroy(m->save_source);
                g_clear_pointer(&m->save_source, g_source_unref);
        }
        /* Let a running write finish first, so it cannot overwrite the newer one. */
        g_mutex_lock(&m->save->lock);
        while (m->save->busy)
                g_cond_wait(&m->save->idle, &m->save->lock);
        g_mutex_unlock(&m->save->lock);
        m->save_running = FALSE;

        guint64 serial = store_remembered_serial(m->store);
        if (serial == m->saved_serial)
                return TRUE;
        g_autoptr(GBytes) data = state_file_serialize(m->store);
        m->saved_serial = serial;
        return state_file_write(m->save->path, data, error);
}

/* --- argument helpers --- */

static const char *iter_string(DBusMessageIter *it) {
        const char *s = NULL;

        dbus_message_iter_get_basic(it, &s);
        dbus_message_iter_next(it);
        return s;
}

static guint32 iter_uint32(DBusMessageIter *it) {
        dbus_uint32_t v = 0;

        dbus_message_iter_get_basic(it, &v);
        dbus_message_iter_next(it);
        return v;
}

static gint64 iter_int64(DBusMessageIter *it) {
        dbus_int64_t v = 0;

        dbus_message_iter_get_basic(it, &v);
        dbus_message_iter_next(it);
        return v;
}

/* The leading (s context, s origin) of a call; the dispatcher has checked the signature. */
static void read_context_origin(DBusMessage *message, const char **ret_context,
                                const char **ret_origin) {
        DBusMessageIter it;

        dbus_message_iter_init(message, &it);
        *ret_context = iter_string(&it);
        *ret_origin = iter_string(&it);
}

/* One known key of an a{sv} argument. @value points at a dbus_bool_t for 'b', a
 * const char * for 's', a dbus_uint16_t for 'q'; it is left alone when the key is
 * absent. */
typedef struct {
        const char *key;
        int type;
        void *value;
        gboolean seen;
} DictField;

/* Reads the a{sv} at @it into @fields (and advances @it). Unknown keys, repeated keys
 * and values of the wrong type are INVALID_ARGUMENT naming "@arg.key". */
static gboolean parse_dict(DBusMessageIter *it, const char *arg, DictField *fields,
                           size_t n_fields, GError **error) {
        DBusMessageIter array;

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                DBusMessageIter entry, variant;
                dbus_message_iter_recurse(&array, &entry);
                const char *key = iter_string(&entry);
                dbus_message_iter_recurse(&entry, &variant);

                DictField *field = NULL;
                for (size_t i = 0; i < n_fields; i++)
                        if (strcmp(fields[i].key, key) == 0)
                                field = &fields[i];
                if (!field) {
                        g_autofree char *quoted = quote(key);
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.%s: unknown key", arg, quoted);
                        return FALSE;
                }
                if (field->seen) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.%s: given more than once", arg, key);
                        return FALSE;
                }
                if (dbus_message_iter_get_arg_type(&variant) != field->type) {
                        char *got = dbus_message_iter_get_signature(&variant);
                        if (!got)
                                oom();
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "%s.%s: expected type %c, got %s", arg, key, field->type,
                                    got);
                        dbus_free(got);
                        return FALSE;
                }
                dbus_message_iter_get_basic(&variant, field->value);
                field->seen = TRUE;
        }
        return TRUE;
}

static void dict_append(DBusMessageIter *dict, const char *key, int type, const void *value) {
        DBusMessageIter entry, variant;
        const char signature[2] = { (char) type, '\0' };

        if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
            !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
            !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, signature, &variant) ||
            !dbus_message_iter_append_basic(&variant, type, value) ||
            !dbus_message_iter_close_container(&entry, &variant) ||
            !dbus_message_iter_close_container(dict, &entry))
                oom();
}

static void dict_append_uint32(DBusMessageIter *dict, const char *key, guint v) {
        dbus_uint32_t value = v;
        dict_append(dict, key, DBUS_TYPE_UINT32, &value);
}

static void dict_append_uint64(DBusMessageIter *dict, const char *key, guint64 v) {
        dbus_uint64_t value = v;
        dict_append(dict, key, DBUS_TYPE_UINT64, &value);
}

static void open_container(DBusMessageIter *it, int type, const char *signature,
                           DBusMessageIter *sub) {
        if (!dbus_message_iter_open_container(it, type, signature, sub))
                oom();
}

static void close_container(DBusMessageIter *it, DBusMessageIter *sub) {
        if (!dbus_message_iter_close_container(it, sub))
                oom();
}

static void append_basic(DBusMessageIter *it, int type, const void *value) {
        if (!dbus_message_iter_append_basic(it, type, value))
                oom();
}

/* --- methods --- */

static gboolean method_open_context(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                    GError **error) {
        DBusMessageIter it;
        dbus_bool_t ephemeral = FALSE;
        const char *label = NULL;
        DictField options[] = {
                { "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral },
                { "label", DBUS_TYPE_STRING, &label },
        };

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        if (label && strlen(label) > LABEL_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "options.label: must be at most %d bytes", LABEL_MAX);
                return FALSE;
        }
        /* The caller's unique name keeps an ephemeral context alive until it vanishes. */
        const char *holder = ephemeral ? dbus_message_get_sender(message) : NULL;
        if (!store_open_context(m->store, context, ephemeral, label, holder, error))
                return FALSE;
        *ret_reply = new_reply(message);
        return TRUE;
}

static gboolean method_close_context(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessageIter it;
        guint dropped = 0;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        if (!store_close_context(m->store, context, &dropped, error))
                return FALSE;
        *ret_reply = new_reply_uint32(message, dropped);
        return TRUE;
}

static void list_context_cb(const StoreContextInfo *info, gpointer user_data) {
        DBusMessageIter *array = user_data;
        DBusMessageIter entry, dict;
        dbus_bool_t ephemeral = info->ephemeral;

        open_container(array, DBUS_TYPE_STRUCT, NULL, &entry);
        append_basic(&entry, DBUS_TYPE_STRING, &info->context);
        open_container(&entry, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append(&dict, "label", DBUS_TYPE_STRING, &info->label);
        dict_append(&dict, "ephemeral", DBUS_TYPE_BOOLEAN, &ephemeral);
        dict_append_uint32(&dict, "partitions", info->partitions);
        dict_append_uint32(&dict, "tokens", info->tokens);
        dict_append_uint64(&dict, "bytes", info->bytes);
        dict_append_uint32(&dict, "choices", info->choices);
        close_container(&entry, &dict);
        close_container(array, &entry);
}

static gboolean method_list_contexts(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessage *reply = new_reply(message);
        DBusMessageIter it, array;

        dbus_message_iter_init_append(reply, &it);
        open_container(&it, DBUS_TYPE_ARRAY, "(sa{sv})", &array);
        store_foreach_context(m->store, list_context_cb, &array);
        close_container(&it, &array);
        *ret_reply = reply;
        return TRUE;
}

/* Appends (s state, s identity, u generation, s peer_id) of @partition. */
static void append_partition(Manager *m, DBusMessage *reply, const char *context,
                             const char *origin, const StorePartition *partition) {
        g_autofree char *peer_id = store_peer_id(m->store, context, origin, partition->identity,
                                                 partition->generation);
        const char *state = choice_state_to_string(partition->state);
        const char *peer = peer_id;
        dbus_uint32_t generation = partition->generation;

        if (!dbus_message_append_args(reply,
                                      DBUS_TYPE_STRING, &state,
                                      DBUS_TYPE_STRING, &partition->identity,
                                      DBUS_TYPE_UINT32, &generation,
                                      DBUS_TYPE_STRING, &peer,
                                      DBUS_TYPE_INVALID))
                oom();
}

/* Appends @token (nullable: none) as ay. */
static void append_token(DBusMessage *reply, GBytes *token) {
        DBusMessageIter it, array;

        dbus_message_iter_init_append(reply, &it);
        open_container(&it, DBUS_TYPE_ARRAY, "y", &array);
        if (token) {
                gsize len = 0;
                const guint8 *data = g_bytes_get_data(token, &len);
                if (!dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &data,
                                                          (int) len))
                        oom();
        }
        close_container(&it, &array);
}

static gboolean method_get_partition(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        const char *context, *origin;
        StorePartition partition;

        read_context_origin(message, &context, &origin);
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        DBusMessage *reply = new_reply(message);
        append_partition(m, reply, context, origin, &partition);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_begin_connection(Manager *m, DBusMessage *message,
                                        DBusMessage **ret_reply, GError **error) {
        const char *context, *origin;
        StorePartition partition;
        /* Zeroed when unreffed, right after being copied into the reply. */
        g_autoptr(GBytes) token = NULL;

        read_context_origin(message, &context, &origin);
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        /* The identity and generation are copied: taking may change the store. */
        char identity[TLSID_IDENTITY_LEN + 1];
        g_strlcpy(identity, partition.identity, sizeof identity);
        partition.identity = identity;
        if (!*identity) {
                if (!store_take_session(m->store, context, origin, identity,
                                        partition.generation,
                                        g_get_real_time() / G_USEC_PER_SEC, &token, error))
                        return FALSE;
                expiry_rearm(m);
        }
        DBusMessage *reply = new_reply(message);
        append_partition(m, reply, context, origin, &partition);
        append_token(reply, token);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_put_session(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                   GError **error) {
        DBusMessageIter it, array;
        dbus_uint16_t tls_version = 0;
        const char *alpn = NULL;
        DictField meta[] = {
                { "tls_version", DBUS_TYPE_UINT16, &tls_version },
                { "alpn", DBUS_TYPE_STRING, &alpn },
        };
        const guint8 *token = NULL;
        int len = 0;
        StorePutResult result;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *identity = iter_string(&it);
        guint32 generation = iter_uint32(&it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_get_fixed_array(&array, &token, &len);
        dbus_message_iter_next(&it);
        gint64 expires = iter_int64(&it);
        if (!parse_dict(&it, "meta", meta, G_N_ELEMENTS(meta), error))
                return FALSE;
        /* ALPN is accepted for later use and checked now, so clients cannot come to
         * depend on sending garbage. */
        if (alpn && strlen(alpn) > ALPN_MAX) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "meta.alpn: must be at most %d bytes", ALPN_MAX);
                return FALSE;
        }
        if (!store_put_session(m->store, context, origin, identity, generation, token,
                               (gsize) len, expires, tls_version,
                               g_get_real_time() / G_USEC_PER_SEC, &result, error))
                return FALSE;
        expiry_rearm(m);
        *ret_reply = new_reply(message);
        return TRUE;
}

static gboolean method_take_session(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                    GError **error) {
        DBusMessageIter it;
        /* Zeroed when unreffed, right after being copied into the reply. */
        g_autoptr(GBytes) token = NULL;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *identity = iter_string(&it);
        guint32 generation = iter_uint32(&it);
        if (!store_take_session(m->store, context, origin, identity, generation,
                                g_get_real_time() / G_USEC_PER_SEC, &token, error))
                return FALSE;
        expiry_rearm(m);

        DBusMessage *reply = new_reply(message);
        append_token(reply, token);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_flush_sessions(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        const char *context, *origin;
        guint dropped = 0;

        read_context_origin(message, &context, &origin);
        if (!store_flush(m->store, context, origin, &dropped, error))
                return FALSE;
        emit_sessions_flushed(m, context, origin, dropped);
        *ret_reply = new_reply_uint32(message, dropped);
        return TRUE;
}

static void list_session_cb(const StoreSessionInfo *info, gpointer user_data) {
        DBusMessageIter *array = user_data;
        DBusMessageIter entry;
        dbus_uint32_t generation = info->generation;
        dbus_uint32_t tokens = info->tokens;
        dbus_int64_t earliest = info->earliest_expiry;
        dbus_uint64_t bytes = info->bytes;

        open_container(array, DBUS_TYPE_STRUCT, NULL, &entry);
        append_basic(&entry, DBUS_TYPE_STRING, &info->context);
        append_basic(&entry, DBUS_TYPE_STRING, &info->origin);
        append_basic(&entry, DBUS_TYPE_STRING, &info->identity);
        append_basic(&entry, DBUS_TYPE_UINT32, &generation);
        append_basic(&entry, DBUS_TYPE_UINT32, &tokens);
        append_basic(&entry, DBUS_TYPE_INT64, &earliest);
        append_basic(&entry, DBUS_TYPE_UINT64, &bytes);
        close_container(array, &entry);
}

static gboolean method_list_sessions(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessageIter it, out, array;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);

        g_autoptr(DBusMessage) reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "(sssuuxt)", &array);
        if (!store_foreach_session(m->store, context, list_session_cb, &array, error)) {
                dbus_message_iter_abandon_container(&out, &array);
                return FALSE;
        }
        close_container(&out, &array);
        *ret_reply = g_steal_pointer(&reply);
        return TRUE;
}

static gboolean method_set_choice(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        DBusMessageIter it;
        dbus_bool_t remember = FALSE;
        DictField options[] = {
                { "remember", DBUS_TYPE_BOOLEAN, &remember },
        };

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        const char *state_name = iter_string(&it);
        const char *identity = iter_string(&it);
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        int state = choice_state_from_string(state_name);
        if (state < 0) {
                g_autofree char *quoted = quote(state_name);
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "state: must be undecided, none or certificate, not \"%s\"", quoted);
                return FALSE;
        }
        /* A certificate of the daemon's database: its tokens expire with it. */
        gint64 not_after = 0;
        if (state == TLSID_STATE_CERTIFICATE && m->certs) {
                g_autoptr(Candidate) known = cert_db_find(m->certs, identity);
                if (known)
                        not_after = known->leaf->not_after;
        }
        /* IdentityChanged is emitted by the store's choice-changed callback. */
        if (!store_set_choice(m->store, context, origin, state, identity, not_after, remember,
                              NULL, error))
                return FALSE;
        *ret_reply = new_reply(message);
        return TRUE;
}

static gboolean method_forget_choices(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        const char *context, *origin;
        guint forgotten = 0;

        read_context_origin(message, &context, &origin);
        if (!store_forget_choices(m->store, context, origin, &forgotten, error))
                return FALSE;
        *ret_reply = new_reply_uint32(message, forgotten);
        return TRUE;
}

static gboolean method_get_statistics(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                      GError **error) {
        StoreStatistics stats;
        DBusMessageIter it, dict;

        store_get_statistics(m->store, &stats);
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &it);
        open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append_uint32(&dict, "contexts", stats.contexts);
        dict_append_uint32(&dict, "partitions", stats.partitions);
        dict_append_uint32(&dict, "tokens", stats.tokens);
        dict_append_uint64(&dict, "bytes", stats.bytes);
        dict_append_uint64(&dict, "takes", stats.counters.takes);
        dict_append_uint64(&dict, "hits", stats.counters.hits);
        dict_append_uint64(&dict, "misses", stats.counters.misses);
        dict_append_uint64(&dict, "puts", stats.counters.puts);
        dict_append_uint64(&dict, "stale_puts", stats.counters.stale_puts);
        dict_append_uint64(&dict, "evictions", stats.counters.evictions);
        dict_append_uint64(&dict, "expirations", stats.counters.expirations);
        dict_append_uint64(&dict, "flushes", stats.counters.flushes);
        dict_append_uint64(&dict, "uptime",
                           (guint64) ((g_get_monotonic_time() - m->started) / G_USEC_PER_SEC));
        close_container(&it, &dict);
        *ret_reply = reply;
        return TRUE;
}

/* --- certificates --- */

static const char *key_type_name(CertKeyType type) {
        switch (type) {
        case CERT_KEY_RSA:
                return "rsa";
        case CERT_KEY_RSA_PSS:
                return "rsa-pss";
        case CERT_KEY_EC:
                return "ec";
        case CERT_KEY_ED25519:
                return "ed25519";
        case CERT_KEY_DSA:
                return "dsa";
        case CERT_KEY_DH:
                return "dh";
        case CERT_KEY_UNKNOWN:
        default:
                return "unknown";
        }
}

/* Names come from certificates anyone can make: libdbus refuses invalid UTF-8. */
static void dict_append_text(DBusMessageIter *dict, const char *key, const char *text) {
        g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
        const char *value = valid;

        dict_append(dict, key, DBUS_TYPE_STRING, &value);
}

/* One certificate as SelectCertificate's eligible and ListCertificates describe it. */
static void append_cert_info(DBusMessageIter *array, const CertInfo *info) {
        DBusMessageIter dict;
        const char *identity = info->identity;
        const char *key_type = key_type_name(info->key_type);
        dbus_int64_t not_before = info->not_before, not_after = info->not_after;

        open_container(array, DBUS_TYPE_ARRAY, "{sv}", &dict);
        dict_append(&dict, "identity", DBUS_TYPE_STRING, &identity);
        dict_append_text(&dict, "subject", info->subject);
        dict_append_text(&dict, "issuer", info->issuer);
        dict_append(&dict, "not_before", DBUS_TYPE_INT64, &not_before);
        dict_append(&dict, "not_after", DBUS_TYPE_INT64, &not_after);
        dict_append(&dict, "key_type", DBUS_TYPE_STRING, &key_type);
        if (info->nickname)
                dict_append_text(&dict, "nickname", info->nickname);
        close_container(array, &dict);
}

static gboolean no_cert_support(GError **error) {
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                    "certificates cannot be parsed: NSS could not be initialised");
        return FALSE;
}

static gboolean too_many(GError **error, const char *field, guint max) {
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                    "%s: at most %u entries", field, max);
        return FALSE;
}

static guint iter_count(DBusMessageIter *array) {
        DBusMessageIter it = *array;
        guint n = 0;

        for (; dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_INVALID;
             dbus_message_iter_next(&it))
                n++;
        return n;
}

/* The bytes of the ay at @it (not advanced); they live as long as the message. */
static const guint8 *iter_bytes(DBusMessageIter *it, int *ret_len) {
        DBusMessageIter array;
        const guint8 *data = NULL;

        dbus_message_iter_recurse(it, &array);
        *ret_len = 0;
        dbus_message_iter_get_fixed_array(&array, &data, ret_len);
        return data;
}

/* The request keys of SelectCertificate and their signatures, in parse order. */
typedef enum {
        REQUEST_TLS_VERSION,
        REQUEST_CA_NAMES,
        REQUEST_CERTIFICATE_TYPES,
        REQUEST_SIGNATURE_SCHEMES,
        REQUEST_SIGNATURE_SCHEMES_CERT,
        REQUEST_OID_FILTERS,
        REQUEST_SERVER_CERTIFICATE,
        REQUEST_CIPHER_SUITE,
        REQUEST_POST_HANDSHAKE,
        _REQUEST_MAX,
} RequestKey;

static const struct {
        const char *name;
        const char *signature;
} request_keys[_REQUEST_MAX] = {
        [REQUEST_TLS_VERSION] = { "tls_version", "q" },
        [REQUEST_CA_NAMES] = { "ca_names", "aay" },
        [REQUEST_CERTIFICATE_TYPES] = { "certificate_types", "ay" },
        [REQUEST_SIGNATURE_SCHEMES] = { "signature_schemes", "aq" },
        [REQUEST_SIGNATURE_SCHEMES_CERT] = { "signature_schemes_cert", "aq" },
        [REQUEST_OID_FILTERS] = { "oid_filters", "a(ayay)" },
        [REQUEST_SERVER_CERTIFICATE] = { "server_certificate", "ay" },
        [REQUEST_CIPHER_SUITE] = { "cipher_suite", "q" },
        [REQUEST_POST_HANDSHAKE] = { "post_handshake", "b" },
};

static gboolean read_ca_names(DBusMessageIter *value, CertRequest *request, GError **error) {
        DBusMessageIter array;

        dbus_message_iter_recurse(value, &array);
        if (iter_count(&array) > SELECT_CA_NAMES_MAX)
                return too_many(error, "request.ca_names", SELECT_CA_NAMES_MAX);
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_ARRAY;
             dbus_message_iter_next(&array), i++) {
                int len;
                const guint8 *der = iter_bytes(&array, &len);

                if (len < 1 || len > SELECT_CA_NAME_BYTES_MAX) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.ca_names[%u]: a DER name is 1 to %d bytes, not %d",
                                    i, SELECT_CA_NAME_BYTES_MAX, len);
                        return FALSE;
                }
                g_ptr_array_add(request->ca_names, g_bytes_new(der, (gsize) len));
        }
        return TRUE;
}

static gboolean read_schemes(DBusMessageIter *value, const char *field, GArray *out,
                             GError **error) {
        DBusMessageIter array;
        const dbus_uint16_t *schemes = NULL;
        int n = 0;

        dbus_message_iter_recurse(value, &array);
        dbus_message_iter_get_fixed_array(&array, &schemes, &n);
        if (n > SELECT_SCHEMES_MAX)
                return too_many(error, field, SELECT_SCHEMES_MAX);
        for (int i = 0; i < n; i++) {
                guint16 scheme = schemes[i];
                g_array_append_val(out, scheme);
        }
        return TRUE;
}

static gboolean read_oid_filters(DBusMessageIter *value, CertRequest *request,
                                 GError **error) {
        DBusMessageIter array, pair;

        dbus_message_iter_recurse(value, &array);
        if (iter_count(&array) > SELECT_OID_FILTERS_MAX)
                return too_many(error, "request.oid_filters", SELECT_OID_FILTERS_MAX);
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRUCT;
             dbus_message_iter_next(&array), i++) {
                int oid_len, values_len;

                dbus_message_iter_recurse(&array, &pair);
                const guint8 *oid = iter_bytes(&pair, &oid_len);
                dbus_message_iter_next(&pair);
                const guint8 *values = iter_bytes(&pair, &values_len);
                g_autofree char *dotted = oid_len >= 1 && oid_len <= SELECT_OID_BYTES_MAX
                                                  ? cert_oid_to_dotted(oid, (gsize) oid_len)
                                                  : NULL;

                if (!dotted) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.oid_filters[%u]: the OID must be 1 to %d bytes "
                                    "of DER contents octets", i, SELECT_OID_BYTES_MAX);
                        return FALSE;
                }
                if (values_len > SELECT_OID_VALUE_BYTES_MAX) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.oid_filters[%u]: the values are at most %d bytes",
                                    i, SELECT_OID_VALUE_BYTES_MAX);
                        return FALSE;
                }
                CertOidFilter *filter = g_new0(CertOidFilter, 1);
                filter->oid = g_bytes_new(oid, (gsize) oid_len);
                filter->values = g_bytes_new(values, (gsize) values_len);
                g_ptr_array_add(request->oid_filters, filter);
        }
        return TRUE;
}

/* Reads SelectCertificate's request a{sv} at @it (and advances @it). */
static gboolean read_request(Manager *m, DBusMessageIter *it, CertRequest *request,
                             GError **error) {
        DBusMessageIter array;
        gboolean seen[_REQUEST_MAX] = { FALSE };

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        for (; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&array)) {
                DBusMessageIter entry, value;
                int key = -1;

                dbus_message_iter_recurse(&array, &entry);
                const char *name = iter_string(&entry);
                dbus_message_iter_recurse(&entry, &value);
                for (int k = 0; k < _REQUEST_MAX; k++)
                        if (strcmp(request_keys[k].name, name) == 0)
                                key = k;
                if (key < 0) {
                        g_autofree char *quoted = quote(name);
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.%s: unknown key", quoted);
                        return FALSE;
                }
                if (seen[key]) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.%s: given more than once", name);
                        return FALSE;
                }
                seen[key] = TRUE;
                char *got = dbus_message_iter_get_signature(&value);
                if (!got)
                        oom();
                if (strcmp(got, request_keys[key].signature) != 0) {
                        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                                    "request.%s: expected type %s, got %s", name,
                                    request_keys[key].signature, got);
                        dbus_free(got);
                        return FALSE;
                }
                dbus_free(got);

                switch ((RequestKey) key) {
                case REQUEST_TLS_VERSION: {
                        dbus_uint16_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->tls_version = v;
                        break;
                }
                case REQUEST_CIPHER_SUITE: {
                        dbus_uint16_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->cipher_suite = v;
                        break;
                }
                case REQUEST_POST_HANDSHAKE: {
                        dbus_bool_t v;
                        dbus_message_iter_get_basic(&value, &v);
                        request->post_handshake = v != 0;
                        break;
                }
                case REQUEST_CA_NAMES:
                        if (!read_ca_names(&value, request, error))
                                return FALSE;
                        break;
                case REQUEST_CERTIFICATE_TYPES: {
                        int n;
                        const guint8 *types = iter_bytes(&value, &n);
                        if (n > SELECT_CERT_TYPES_MAX)
                                return too_many(error, "request.certificate_types",
                                                SELECT_CERT_TYPES_MAX);
                        g_byte_array_append(request->certificate_types, types, (guint) n);
                        break;
                }
                case REQUEST_SIGNATURE_SCHEMES:
                        if (!read_schemes(&value, "request.signature_schemes",
                                          request->signature_schemes, error))
                                return FALSE;
                        break;
                case REQUEST_SIGNATURE_SCHEMES_CERT:
                        if (!read_schemes(&value, "request.signature_schemes_cert",
                                          request->signature_schemes_cert, error))
                                return FALSE;
                        break;
                case REQUEST_OID_FILTERS:
                        if (!read_oid_filters(&value, request, error))
                                return FALSE;
                        break;
                case REQUEST_SERVER_CERTIFICATE: {
                        int n;
                        const guint8 *der = iter_bytes(&value, &n);
                        g_autoptr(GBytes) bytes = g_bytes_new(der, (gsize) n);
                        if (!m->certs)
                                return no_cert_support(error);
                        request->server_certificate =
                                cert_db_parse(m->certs, bytes, "request.server_certificate",
                                              error);
                        if (!request->server_certificate)
                                return FALSE;
                        break;
                }
                case _REQUEST_MAX:
                default:
                        g_assert_not_reached();
                }
        }
        return TRUE;
}

/* Checks the size of one certificate a caller passed, naming it @field. */
static gboolean check_cert_size(int len, GError **error, const char *format, ...)
        G_GNUC_PRINTF(3, 4);

static gboolean check_cert_size(int len, GError **error, const char *format, ...) {
        g_autofree char *field = NULL;
        va_list ap;

        if (len >= 1 && (guint) len <= CERT_DB_DER_MAX)
                return TRUE;
        va_start(ap, format);
        field = g_strdup_vprintf(format, ap);
        va_end(ap);
        g_set_error(error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                    "%s: a certificate is 1 to %u bytes of DER, not %d", field, CERT_DB_DER_MAX,
                    len);
        return FALSE;
}

/* Reads SelectCertificate's candidates a(ayaay) at @it as Candidate* (transfer full). */
static GPtrArray *read_candidates(Manager *m, DBusMessageIter *it, GError **error) {
        g_autoptr(GPtrArray) candidates =
                g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
        DBusMessageIter array, pair, chain_iter;

        dbus_message_iter_recurse(it, &array);
        dbus_message_iter_next(it);
        if (iter_count(&array) > SELECT_CANDIDATES_MAX) {
                too_many(error, "candidates", SELECT_CANDIDATES_MAX);
                return NULL;
        }
        for (guint i = 0; dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRUCT;
             dbus_message_iter_next(&array), i++) {
                g_autoptr(GPtrArray) chain = g_ptr_array_new_with_free_func(
                        (GDestroyNotify) g_bytes_unref);
                g_autofree char *field = g_strdup_printf("candidates[%u]", i);
                int len;

                dbus_message_iter_recurse(&array, &pair);
                const guint8 *leaf_der = iter_bytes(&pair, &len);
                if (!check_cert_size(len, error, "%s", field))
                        return NULL;
                g_autoptr(GBytes) leaf = g_bytes_new(leaf_der, (gsize) len);
                dbus_message_iter_next(&pair);
                dbus_message_iter_recurse(&pair, &chain_iter);
                if (iter_count(&chain_iter) > SELECT_CHAIN_MAX) {
                        g_autofree char *chain_field = g_strdup_printf("%s.chain", field);
                        too_many(error, chain_field, SELECT_CHAIN_MAX);
                        return NULL;
                }
                for (guint k = 0; dbus_message_iter_get_arg_type(&chain_iter) == DBUS_TYPE_ARRAY;
                     dbus_message_iter_next(&chain_iter), k++) {
                        const guint8 *der = iter_bytes(&chain_iter, &len);
                        if (!check_cert_size(len, error, "%s.chain[%u]", field, k))
                                return NULL;
                        g_ptr_array_add(chain, g_bytes_new(der, (gsize) len));
                }
                if (!m->certs) {
                        no_cert_support(error);
                        return NULL;
                }
                Candidate *candidate = cert_db_parse_candidate(m->certs, leaf, chain, field,
                                                               error);
                if (!candidate)
                        return NULL;
                g_ptr_array_add(candidates, candidate);
        }
        return g_steal_pointer(&candidates);
}

static const Policy *policy_in_force(Manager *m) {
        return m->policy ? policy_watch_get(m->policy) : m->default_policy;
}

/* The decision for (context, origin) in @partition: the certificates of @candidates that
 * @request and the key-types hint @key_types (0: any) allow, best first, go to @ret_leaves
 * (CertInfo*, borrowed from @candidates), then the choice, the policy's auto_select and
 * its mode decide. With @auto_single, mode "auto" picks only a single eligible
 * certificate and asks otherwise. */
static Selection decide(Manager *m, const char *context, const char *origin,
                        const StorePartition *partition, const CertRequest *request,
                        GPtrArray *candidates, guint key_types, gboolean auto_single,
                        GPtrArray **ret_leaves) {
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        g_autoptr(GPtrArray) eligible = cert_select_eligible(request, candidates, now);
        GPtrArray *leaves = g_ptr_array_sized_new(eligible->len + 1);

        for (guint i = 0; i < eligible->len; i++) {
                CertInfo *leaf = ((Candidate *) eligible->pdata[i])->leaf;

                if (challenge_key_type_allowed(key_types, leaf->key_type))
                        g_ptr_array_add(leaves, leaf);
        }
        const Policy *policy = policy_in_force(m);
        int auto_select = -1;
        if (partition->state == TLSID_STATE_UNDECIDED && leaves->len > 0)
                auto_select = policy_auto_select(policy, origin, (CertInfo **) leaves->pdata,
                                                 leaves->len);
        Selection selection = selection_decide(partition->state, partition->identity,
                                               (CertInfo **) leaves->pdata, leaves->len,
                                               policy_mode_for(policy, context), auto_select);
        if (auto_single && selection.reason == SELECTION_BY_MODE &&
            selection.decision == SELECTION_CERTIFICATE && leaves->len > 1)
                selection = (Selection) { SELECTION_ASK, -1, SELECTION_BY_MODE };
        *ret_leaves = leaves;
        return selection;
}

/* Makes @chosen the choice of (context, origin), as SetChoice does: a change drops the
 * tokens, bumps the generation and emits IdentityChanged (from the store's callback)
 * before the reply. The remembered choice stays remembered; a policy's pick is not. */
static gboolean apply_choice(Manager *m, const char *context, const char *origin,
                             const StorePartition *partition, const Selection *selection,
                             const CertInfo *chosen, gboolean *ret_changed, GError **error) {
        gboolean remember = selection->reason == SELECTION_BY_CHOICE && partition->remembered;

        return store_set_choice(m->store, context, origin, TLSID_STATE_CERTIFICATE,
                                chosen->identity, chosen->not_after, remember, ret_changed,
                                error);
}

/* The certificates to choose from: the caller's, or when it passed none the user's
 * certificates in the daemon's database (transfer full; NULL exactly on error). */
static GPtrArray *user_candidates(Manager *m, GPtrArray *given, GError **error) {
        if (given && given->len > 0)
                return g_ptr_array_ref(given);
        if (m->certs)
                return cert_db_list_user(m->certs, error);
        return g_ptr_array_new_with_free_func((GDestroyNotify) candidate_free);
}

static gboolean method_select_certificate(Manager *m, DBusMessage *message,
                                          DBusMessage **ret_reply, GError **error) {
        DBusMessageIter it, out, array;
        StorePartition partition;
        g_autoptr(CertRequest) request = cert_request_new();
        g_autoptr(GPtrArray) candidates = NULL;

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        /* Also checks the ids, and that the context is open, before any parsing. */
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;
        if (!read_request(m, &it, request, error))
                return FALSE;
        g_autoptr(GPtrArray) given = read_candidates(m, &it, error);
        if (!given)
                return FALSE;
        candidates = user_candidates(m, given, error);
        if (!candidates)
                return FALSE;

        g_autoptr(GPtrArray) leaves = NULL;
        Selection selection = decide(m, context, origin, &partition, request, candidates, 0,
                                     FALSE, &leaves);
        const char *identity = "";
        if (selection.decision == SELECTION_CERTIFICATE) {
                const CertInfo *chosen = leaves->pdata[selection.index];

                if (!apply_choice(m, context, origin, &partition, &selection, chosen, NULL,
                                  error))
                        return FALSE;
                identity = chosen->identity;
        }

        const char *decision = selection_decision_to_string(selection.decision);
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        append_basic(&out, DBUS_TYPE_STRING, &decision);
        append_basic(&out, DBUS_TYPE_STRING, &identity);
        open_container(&out, DBUS_TYPE_ARRAY, "a{sv}", &array);
        for (guint i = 0; i < leaves->len; i++)
                append_cert_info(&array, leaves->pdata[i]);
        close_container(&out, &array);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_list_certificates(Manager *m, DBusMessage *message,
                                         DBusMessage **ret_reply, GError **error) {
        g_autoptr(GPtrArray) certs = NULL;
        DBusMessageIter out, array;

        if (m->certs) {
                certs = cert_db_list_user(m->certs, error);
                if (!certs)
                        return FALSE;
        }
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "a{sv}", &array);
        for (guint i = 0; certs && i < certs->len; i++)
                append_cert_info(&array, ((Candidate *) certs->pdata[i])->leaf);
        close_container(&out, &array);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_get_policy(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        g_autofree char *json = policy_to_json(policy_in_force(m));
        const char *problem = m->policy ? policy_watch_get_error(m->policy) : NULL;
        /* The error may quote the file, which may hold anything. */
        g_autofree char *valid_json = g_utf8_make_valid(json, -1);
        g_autofree char *valid_problem = g_utf8_make_valid(problem ? problem : "", -1);
        const char *a = valid_json, *b = valid_problem;
        DBusMessage *reply = new_reply(message);

        if (!dbus_message_append_args(reply, DBUS_TYPE_STRING, &a, DBUS_TYPE_STRING, &b,
                                      DBUS_TYPE_INVALID))
                oom();
        *ret_reply = reply;
        return TRUE;
}

/* --- transport challenges --- */

/* The answer being built: what goes into AnswerChallenge's details. */
typedef struct {
        const char *action;
        const char *identity;
        guint32 generation;
        const char *status;       /* declined */
        GPtrArray *eligible;      /* ask: CertInfo*, borrowed */
        gboolean proxy;
} Answer;

static DBusMessage *answer_reply(DBusMessage *message, const Answer *a,
                                 const TransportChallenge *tc) {
        DBusMessage *reply = new_reply(message);
        DBusMessageIter out, dict, entry, variant, array;
        dbus_uint32_t generation = a->generation;

        dbus_message_iter_init_append(reply, &out);
        append_basic(&out, DBUS_TYPE_STRING, &a->action);
        append_basic(&out, DBUS_TYPE_STRING, &a->identity);
        append_basic(&out, DBUS_TYPE_UINT32, &generation);
        open_container(&out, DBUS_TYPE_ARRAY, "{sv}", &dict);

        open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
        const char *key = "schemes";
        append_basic(&entry, DBUS_TYPE_STRING, &key);
        open_container(&entry, DBUS_TYPE_VARIANT, "as", &variant);
        open_container(&variant, DBUS_TYPE_ARRAY, "s", &array);
        for (guint i = 0; i < tc->schemes->len; i++) {
                g_autofree char *scheme = g_utf8_make_valid(tc->schemes->pdata[i], -1);
                const char *v = scheme;
                append_basic(&array, DBUS_TYPE_STRING, &v);
        }
        close_container(&variant, &array);
        close_container(&entry, &variant);
        close_container(&dict, &entry);

        /* Hints come from the server: they may hold anything. */
        if (tc->error)
                dict_append_text(&dict, "error", tc->error);
        if (tc->realm)
                dict_append_text(&dict, "realm", tc->realm);
        if (tc->url && g_str_equal(a->action, "retry"))
                dict_append_text(&dict, "url", tc->url);
        if (a->status) {
                g_autofree char *value = challenge_decline_value(a->status);
                const char *header = a->proxy ? "Proxy-Authorization" : "Authorization";
                const char *v = value;

                dict_append(&dict, "authorization", DBUS_TYPE_STRING, &v);
                dict_append(&dict, "header", DBUS_TYPE_STRING, &header);
                dict_append(&dict, "status", DBUS_TYPE_STRING, &a->status);
        }
        if (a->eligible) {
                open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry);
                key = "eligible";
                append_basic(&entry, DBUS_TYPE_STRING, &key);
                open_container(&entry, DBUS_TYPE_VARIANT, "aa{sv}", &variant);
                open_container(&variant, DBUS_TYPE_ARRAY, "a{sv}", &array);
                for (guint i = 0; i < a->eligible->len; i++)
                        append_cert_info(&array, a->eligible->pdata[i]);
                close_container(&variant, &array);
                close_container(&entry, &variant);
                close_container(&dict, &entry);
        }
        close_container(&out, &dict);
        return reply;
}

static void remember_retry(Manager *m, const char *key, guint32 generation,
                           const char *identity) {
        RetryRecord *record = g_new0(RetryRecord, 1);

        if (g_hash_table_size(m->retries) >= RETRY_RECORDS_MAX &&
            !g_hash_table_contains(m->retries, key))
                g_hash_table_remove_all(m->retries);
        record->generation = generation;
        g_strlcpy(record->identity, identity, sizeof record->identity);
        g_hash_table_replace(m->retries, g_strdup(key), record);
}

static gboolean method_answer_challenge(Manager *m, DBusMessage *message,
                                        DBusMessage **ret_reply, GError **error) {
        DBusMessageIter it, array;
        StorePartition partition;
        dbus_uint32_t sent_generation = 0;
        dbus_bool_t proxy = FALSE;
        DictField options[] = {
                { "generation", DBUS_TYPE_UINT32, &sent_generation },
                { "proxy", DBUS_TYPE_BOOLEAN, &proxy },
        };
        g_autoptr(GPtrArray) values = g_ptr_array_new();

        dbus_message_iter_init(message, &it);
        const char *context = iter_string(&it);
        const char *origin = iter_string(&it);
        dbus_message_iter_recurse(&it, &array);
        dbus_message_iter_next(&it);
        /* One past the bound, so the challenge code can say values were ignored. */
        while (dbus_message_iter_get_arg_type(&array) == DBUS_TYPE_STRING &&
               values->len <= CHALLENGE_VALUES_MAX)
                g_ptr_array_add(values, (gpointer) iter_string(&array));
        if (!parse_dict(&it, "options", options, G_N_ELEMENTS(options), error))
                return FALSE;
        if (!store_get_partition(m->store, context, origin, &partition, error))
                return FALSE;

        g_autoptr(TransportChallenge) tc =
                transport_challenge_find((const char *const *) values->pdata, values->len);
        Answer a = { .action = "not-transport", .identity = "",
                     .generation = partition.generation, .proxy = proxy };
        if (!tc->found) {
                *ret_reply = answer_reply(message, &a, tc);
                return TRUE;
        }

        /* A request sent under another generation (before a switch, a flush, or a daemon
         * restart) is simply sent again under the current one. */
        gboolean current = !options[0].seen || sent_generation == partition.generation;
        g_autofree char *key = g_strconcat(context, "\n", origin, NULL);
        const RetryRecord *record = g_hash_table_lookup(m->retries, key);
        if (current && record && record->generation == partition.generation) {
                a.action = "rejected";
                a.identity = record->identity;
                g_message("%s %s: the server refused %s; not retrying", context, origin,
                          record->identity);
                *ret_reply = answer_reply(message, &a, tc);
                return TRUE;
        }

        g_autoptr(CertRequest) request = cert_request_new();
        for (guint i = 0; i < tc->ca_names->len; i++)
                g_ptr_array_add(request->ca_names, g_bytes_ref(tc->ca_names->pdata[i]));
        g_autoptr(GPtrArray) candidates = user_candidates(m, NULL, error);
        if (!candidates)
                return FALSE;
        g_autoptr(GPtrArray) leaves = NULL;
        Selection selection = decide(m, context, origin, &partition, request, candidates,
                                     tc->key_types, TRUE, &leaves);

        switch (selection.decision) {
        case SELECTION_NONE:
                a.action = "declined";
                a.status = selection.reason == SELECTION_BY_NOTHING_ELIGIBLE ? "unavailable"
                                                                             : "declined";
                break;
        case SELECTION_ASK:
                a.action = "ask";
                a.eligible = leaves;
                break;
        case SELECTION_CERTIFICATE: {
                const CertInfo *chosen = leaves->pdata[selection.index];
                gboolean changed = FALSE;

                if (!apply_choice(m, context, origin, &partition, &selection, chosen,
                                  &changed, error))
                        return FALSE;
                /* The same identity under the generation the request went out under: move
                 * the partition on anyway, so that no pooled connection or cached session
                 * (which may not carry the certificate) serves the re-sent request. */
                if (!changed && current) {
                        guint dropped = 0;

                        if (!store_flush(m->store, context, origin, &dropped, error))
                                return FALSE;
                        emit_sessions_flushed(m, context, origin, dropped);
                }
                if (!store_get_partition(m->store, context, origin, &partition, error))
                        return FALSE;
                remember_retry(m, key, partition.generation, chosen->identity);
                a.action = "retry";
                a.identity = chosen->identity;
                a.generation = partition.generation;
                break;
        }
        }
        *ret_reply = answer_reply(message, &a, tc);
        return TRUE;
}

/* --- the token key --- */

static gboolean method_get_token_key(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                     GError **error) {
        DBusMessageIter out, array;
        const guint8 *key = m->token_key;

        if (!m->have_token_key) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED, "no token key");
                return FALSE;
        }
        /* libdbus copies the bytes into the reply; it frees that buffer without zeroing
         * it (as with TakeSession's tokens). */
        DBusMessage *reply = new_reply(message);
        dbus_message_iter_init_append(reply, &out);
        open_container(&out, DBUS_TYPE_ARRAY, "y", &array);
        if (!dbus_message_iter_append_fixed_array(&array, DBUS_TYPE_BYTE, &key,
                                                  MANAGER_TOKEN_KEY_LEN))
                oom();
        close_container(&out, &array);
        *ret_reply = reply;
        return TRUE;
}

static gboolean method_introspect(Manager *m, DBusMessage *message, DBusMessage **ret_reply,
                                  GError **error) {
        DBusMessage *reply = new_reply(message);
        const char *xml = interface_xml;

        if (!dbus_message_append_args(reply, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID))
                oom();
        *ret_reply = reply;
        return TRUE;
}

static const ManagerMethod methods[] = {
        { TLSID_INTERFACE, "OpenContext", "sa{sv}", "", method_open_context },
        { TLSID_INTERFACE, "CloseContext", "s", "u", method_close_context },
        { TLSID_INTERFACE, "ListContexts", "", "a(sa{sv})", method_list_contexts },
        { TLSID_INTERFACE, "GetPartition", "ss", "ssus", method_get_partition },
        { TLSID_INTERFACE, "PutSession", "sssuayxa{sv}", "", method_put_session },
        { TLSID_INTERFACE, "TakeSession", "sssu", "ay", method_take_session },
        { TLSID_INTERFACE, "BeginConnection", "ss", "ssusay", method_begin_connection },
        { TLSID_INTERFACE, "FlushSessions", "ss", "u", method_flush_sessions },
        { TLSID_INTERFACE, "ListSessions", "s", "a(sssuuxt)", method_list_sessions },
        { TLSID_INTERFACE, "SetChoice", "ssssa{sv}", "", method_set_choice },
        { TLSID_INTERFACE, "ForgetChoices", "ss", "u", method_forget_choices },
        { TLSID_INTERFACE, "GetStatistics", "", "a{sv}", method_get_statistics },
        { TLSID_INTERFACE, "SelectCertificate", "ssa{sv}a(ayaay)", "ssaa{sv}",
          method_select_certificate },
        { TLSID_INTERFACE, "ListCertificates", "", "aa{sv}", method_list_certificates },
        { TLSID_INTERFACE, "GetPolicy", "", "ss", method_get_policy },
        { TLSID_INTERFACE, "AnswerChallenge", "ssasa{sv}", "ssua{sv}",
          method_answer_challenge },
        { TLSID_INTERFACE, "GetTokenKey", "", "ay", method_get_token_key },
        { DBUS_INTERFACE_INTROSPECTABLE, "Introspect", "", "s", method_introspect },
};

static const ManagerSignal signals[] = {
        { TLSID_INTERFACE, "IdentityChanged", "ssssu" },
        { TLSID_INTERFACE, "SessionsFlushed", "ssu" },
};

const ManagerMethod *manager_get_methods(size_t *ret_n) {
        *ret_n = G_N_ELEMENTS(methods);
        return methods;
}

const ManagerSignal *manager_get_signals(size_t *ret_n) {
        *ret_n = G_N_ELEMENTS(signals);
        return signals;
}

/* --- dispatching --- */

static const ManagerMethod *find_method(const char *interface, const char *member) {
        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++)
                /* The interface is optional in a method call. */
                if (strcmp(methods[i].name, member) == 0 &&
                    (!interface || strcmp(methods[i].interface, interface) == 0))
                        return &methods[i];
        return NULL;
}

/* The one place errors become error replies. */
static void reply_error(Manager *m, DBusMessage *message, const char *name, const char *text) {
        if (dbus_message_get_no_reply(message))
                return;
        /* Store messages may quote caller input: never send invalid UTF-8 back. */
        g_autofree char *valid = g_utf8_make_valid(text, -1);
        g_autoptr(DBusMessage) reply = dbus_message_new_error(message, name, valid);
        if (!reply || !dbus_connection_send(m->connection, reply, NULL))
                oom();
}

static void reply_gerror(Manager *m, DBusMessage *message, const GError *error) {
        int code = error->domain == TLSID_ERROR ? error->code : TLSID_ERROR_FAILED;

        reply_error(m, message, error_code_to_dbus_name(code), error->message);
}

/* Runs a method call whose caller's uid is known. */
static void process_call(Manager *m, DBusMessage *message, uid_t uid) {
        const char *interface = dbus_message_get_interface(message);
        const char *member = dbus_message_get_member(message);
        g_autoptr(GError) error = NULL;
        g_autoptr(DBusMessage) reply = NULL;

        if (uid != m->uid) {
                g_set_error(&error, TLSID_ERROR, TLSID_ERROR_ACCESS_DENIED,
                            "uid %lu may not use the tlsid daemon of uid %lu",
                            (unsigned long) uid, (unsigned long) m->uid);
                reply_gerror(m, message, error);
                return;
        }

        const ManagerMethod *method = find_method(interface, member);
        if (!method) {
                g_autofree char *text = g_strdup_printf("Unknown method %s on interface %s",
                                                        member, interface ? interface : "(none)");
                reply_error(m, message, DBUS_ERROR_UNKNOWN_METHOD, text);
                return;
        }
        if (!dbus_message_has_signature(message, method->in_signature)) {
                g_set_error(&error, TLSID_ERROR, TLSID_ERROR_INVALID_ARGUMENT,
                            "%s: expected signature \"%s\", got \"%s\"", method->name,
                            method->in_signature, dbus_message_get_signature(message));
                reply_gerror(m, message, error);
                return;
        }

        gboolean ok = method->handler(m, message, &reply, &error);
        /* A FALSE without an error is a bug somewhere below: answer rather than crash. */
        if (!ok && !error) {
                g_critical("%s failed without saying why", method->name);
                error = g_error_new(TLSID_ERROR, TLSID_ERROR_FAILED, "%s failed", method->name);
        }
        after_call(m);
        if (!ok)
                reply_gerror(m, message, error);
        else if (reply && !dbus_message_get_no_reply(message) &&
                 !dbus_connection_send(m->connection, reply, NULL))
                oom();
}

static void sender_free(Sender *s) {
        if (s->lookup) {
                dbus_pending_call_cancel(s->lookup);
                dbus_pending_call_unref(s->lookup);
        }
        g_queue_clear_full(&s->queue, (GDestroyNotify) dbus_message_unref);
        g_free(s->name);
        g_free(s);
}

static void sender_lookup_done(DBusPendingCall *pending, void *user_data) {
        Sender *s = user_data;
        Manager *m = s->manager;
        g_autoptr(DBusMessage) reply = dbus_pending_call_steal_reply(pending);
        dbus_uint32_t uid = 0;
        DBusMessage *message;

        g_clear_pointer(&s->lookup, dbus_pending_call_unref);
        if (reply && dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_METHOD_RETURN &&
            dbus_message_get_args(reply, NULL, DBUS_TYPE_UINT32, &uid, DBUS_TYPE_INVALID)) {
                s->known = TRUE;
                s->uid = uid;
                /* Nothing in process_call() dispatches, so @s stays valid meanwhile. */
                while ((message = g_queue_pop_head(&s->queue))) {
                        process_call(m, message, uid);
                        dbus_message_unref(message);
                }
                return;
        }

        /* Usually the caller is gone already; answer anyway, in case it is not. */
        g_autoptr(GError) error = g_error_new(TLSID_ERROR, TLSID_ERROR_FAILED,
                                              "cannot determine the uid of caller %s", s->name);
        while ((message = g_queue_pop_head(&s->queue))) {
                reply_gerror(m, message, error);
                dbus_message_unref(message);
        }
        g_hash_table_remove(m->senders, s->name);
}

/* A new sender entry whose uid lookup is on its way, or NULL when the connection
 * cannot send any more. */
static Sender *sender_new(Manager *m, const char *name) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "GetConnectionUnixUser");
        DBusPendingCall *pending = NULL;

        if (!call || !dbus_message_append_args(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
                oom();
        if (!dbus_connection_send_with_reply(m->connection, call, &pending,
                                             DBUS_TIMEOUT_USE_DEFAULT) || !pending)
                return NULL;

        Sender *s = g_new0(Sender, 1);
        s->manager = m;
        s->name = g_strdup(name);
        s->lookup = pending;
        g_queue_init(&s->queue);
        if (!dbus_pending_call_set_notify(pending, sender_lookup_done, s, NULL))
                oom();
        g_hash_table_insert(m->senders, s->name, s);
        return s;
}

static DBusHandlerResult object_message_cb(DBusConnection *connection, DBusMessage *message,
                                           void *user_data) {
        Manager *m = user_data;

        if (dbus_message_get_type(message) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        const char *sender = dbus_message_get_sender(message);
        if (!sender) {
                /* A peer-to-peer connection: the peer is whoever is on the socket. */
                unsigned long uid;
                if (!dbus_connection_get_unix_user(connection, &uid))
                        uid = (unsigned long) -1;
                process_call(m, message, (uid_t) uid);
                return DBUS_HANDLER_RESULT_HANDLED;
        }

        Sender *s = g_hash_table_lookup(m->senders, sender);
        if (s && s->known) {
                process_call(m, message, s->uid);
                return DBUS_HANDLER_RESULT_HANDLED;
        }

        g_autoptr(GError) error = NULL;
        if (!s) {
                if (g_hash_table_size(m->senders) >= m->config.max_senders)
                        g_set_error(&error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                                    "too many callers at once (max_senders is %u)",
                                    m->config.max_senders);
                else if (!(s = sender_new(m, sender)))
                        g_set_error(&error, TLSID_ERROR, TLSID_ERROR_FAILED,
                                    "cannot look up the caller's uid");
        } else if (g_queue_get_length(&s->queue) >= m->config.max_pending_per_sender) {
                g_set_error(&error, TLSID_ERROR, TLSID_ERROR_LIMIT_EXCEEDED,
                            "too many calls waiting (max_pending_per_sender is %u)",
                            m->config.max_pending_per_sender);
        }
        if (error) {
                reply_gerror(m, message, error);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        g_queue_push_tail(&s->queue, dbus_message_ref(message));
        return DBUS_HANDLER_RESULT_HANDLED;
}

static const DBusObjectPathVTable object_vtable = {
        .message_function = object_message_cb,
};

/* Follows callers going away: their uid cache entries and ephemeral contexts go too. */
static DBusHandlerResult filter_cb(DBusConnection *connection, DBusMessage *message,
                                   void *user_data) {
        Manager *m = user_data;
        const char *name, *old_owner, *new_owner;

        if (!dbus_message_is_signal(message, DBUS_INTERFACE_DBUS, "NameOwnerChanged") ||
            g_strcmp0(dbus_message_get_sender(message), DBUS_SERVICE_DBUS) != 0 ||
            !dbus_message_get_args(message, NULL,
                                   DBUS_TYPE_STRING, &name,
                                   DBUS_TYPE_STRING, &old_owner,
                                   DBUS_TYPE_STRING, &new_owner,
                                   DBUS_TYPE_INVALID))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (name[0] == ':' && new_owner[0] == '\0') {
                g_hash_table_remove(m->senders, name);
                store_drop_holder(m->store, name);
                after_call(m);
        }
        /* Other filters (the main program's) may want it too. */
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void add_match_done(DBusPendingCall *pending, void *user_data) {
        g_autoptr(DBusMessage) reply = dbus_pending_call_steal_reply(pending);
        g_auto(DBusError) error = DBUS_ERROR_INIT;

        if (reply && dbus_set_error_from_message(&error, reply))
                g_warning("Cannot follow callers disconnecting (AddMatch failed): %s: %s",
                          error.name, error.message);
}

/* --- life cycle --- */

Manager *manager_new(DBusConnection *connection, Store *store, const TlsidConfig *config,
                     const char *state_path, CertDb *certs, PolicyWatch *policy) {
        Manager *m = g_new0(Manager, 1);

        m->connection = connection;
        m->store = store;
        m->certs = certs;
        m->policy = policy;
        m->default_policy = policy_new_default();
        m->config = *config;
        m->uid = getuid();
        m->started = g_get_monotonic_time();
        m->context = g_main_context_ref_thread_default();
        m->senders = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                           (GDestroyNotify) sender_free);
        m->retries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        m->save = g_atomic_rc_box_new0(SaveState);
        g_mutex_init(&m->save->lock);
        g_cond_init(&m->save->idle);
        m->save->manager = m;
        m->save->path = g_strdup(state_path);
        /* What was just loaded is on disk already. */
        m->saved_serial = store_remembered_serial(store);
        return m;
}

/* Sent without waiting: the bus handles it before any later request of ours, such as
 * the name request that lets callers find us. */
static gboolean subscribe_name_owner_changed(Manager *m, GError **error) {
        g_autoptr(DBusMessage) call = dbus_message_new_method_call(
                DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "AddMatch");
        const char *rule = "type='signal',sender='" DBUS_SERVICE_DBUS "',path='" DBUS_PATH_DBUS
                           "',interface='" DBUS_INTERFACE_DBUS "',member='NameOwnerChanged'";
        DBusPendingCall *pending = NULL;

        if (!call || !dbus_message_append_args(call, DBUS_TYPE_STRING, &rule, DBUS_TYPE_INVALID))
                oom();
        if (!dbus_connection_send_with_reply(m->connection, call, &pending,
                                             DBUS_TIMEOUT_USE_DEFAULT) || !pending) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot subscribe to NameOwnerChanged: not connected");
                return FALSE;
        }
        if (!dbus_pending_call_set_notify(pending, add_match_done, NULL, NULL))
                oom();
        /* libdbus keeps its own reference until the reply arrives. */
        dbus_pending_call_unref(pending);
        return TRUE;
}

gboolean manager_start(Manager *m, GError **error) {
        if (getrandom(m->token_key, sizeof m->token_key, 0) != (ssize_t) sizeof m->token_key) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot draw the token key: %s", g_strerror(errno));
                return FALSE;
        }
        m->have_token_key = TRUE;
        g_auto(DBusError) derror = DBUS_ERROR_INIT;

        if (!dbus_connection_add_filter(m->connection, filter_cb, m, NULL))
                oom();
        m->filter_added = TRUE;
        /* A peer-to-peer connection (as in the unit tests) has no bus driver to ask. */
        if (dbus_bus_get_unique_name(m->connection) && !subscribe_name_owner_changed(m, error))
                return FALSE;
        if (!dbus_connection_try_register_object_path(m->connection, TLSID_OBJECT_PATH,
                                                      &object_vtable, m, &derror)) {
                g_set_error(error, TLSID_ERROR, TLSID_ERROR_FAILED,
                            "cannot register %s: %s", TLSID_OBJECT_PATH, derror.message);
                return FALSE;
        }
        m->registered = TRUE;
        store_set_choice_changed_fn(m->store, choice_changed_cb, m);
        return TRUE;
}

void manager_free(Manager *m) {
        if (!m)
                return;
        store_set_choice_changed_fn(m->store, NULL, NULL);
        if (m->registered)
                dbus_connection_unregister_object_path(m->connection, TLSID_OBJECT_PATH);
        if (m->filter_added)
                dbus_connection_remove_filter(m->connection, filter_cb, m);
        g_hash_table_destroy(m->senders);
        g_hash_table_destroy(m->retries);
        explicit_bzero(m->token_key, sizeof m->token_key);
        if (m->expiry_source) {
                g_source_destroy(m->expiry_source);
                g_source_unref(m->expiry_source);
        }
        if (m->save_source) {
                g_source_destroy(m->save_source);
                g_source_unref(m->save_source);
        }
        /* A save still running finishes on its own and then finds no manager. */
        m->save->manager = NULL;
        save_state_unref(m->save);
        policy_free(m->default_policy);
        g_main_context_unref(m->context);
        g_free(m);
}
