/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Memory for secrets: mmap'd arenas out of core dumps, locked within RLIMIT_MEMLOCK,
 * chunks zeroed when freed. */
#include "secret-mem.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

void (*secret_mem_zeroed_hook)(const guint8 *data, gsize len) = NULL;

/* Arenas are aligned to their size, so a chunk finds its arena by masking its address. */
#define ARENA_SIZE ((gsize) 256 * 1024)
/* Chunk sizes: powers of two from 16 to 256 bytes, then STEPS sizes per doubling up to
 * SECRET_MEM_MAX (320, 384, 448, 512, 640, ...), so a chunk past 256 bytes wastes at most
 * a fifth of what it holds (a token of 1,100 bytes takes 1,280, not 2,048). */
#define MIN_SHIFT 4   /* 16-byte chunks */
#define STEP_SHIFT 8  /* 256: the stepped sizes start here */
#define STEPS 4
#define MAX_SHIFT 16  /* SECRET_MEM_MAX */
#define N_POW2 (STEP_SHIFT - MIN_SHIFT + 1)
#define N_CLASSES (N_POW2 + (MAX_SHIFT - STEP_SHIFT) * STEPS)

G_STATIC_ASSERT(((gsize) 1 << MAX_SHIFT) == SECRET_MEM_MAX);
G_STATIC_ASSERT(ARENA_SIZE >= 4 * SECRET_MEM_MAX);

typedef struct {
        guint8 *base;
        guint klass;
        guint n_used;
        guint n_fresh;   /* chunks from here on were never handed out */
        void *free_list; /* freed chunks; each holds the next one's address */
        gboolean locked;
        GList room_link; /* in its class's queue while it has a free chunk */
} Arena;

typedef struct {
        GQueue with_room; /* Arena*: a chunk is free in each */
        Arena *spare;     /* an arena with nothing in use, kept for the next allocation */
} SizeClass;

static struct {
        SizeClass classes[N_CLASSES];
        GHashTable *arenas; /* base address -> Arena* */
        guint64 locked, unlocked, in_use;
} mem;

G_LOCK_DEFINE_STATIC(mem);

static gsize class_chunk_size(guint klass) {
        guint doubling, step;

        if (klass < N_POW2)
                return (gsize) 1 << (klass + MIN_SHIFT);
        doubling = (klass - N_POW2) / STEPS;
        step = (klass - N_POW2) % STEPS + 1;
        return ((gsize) 1 << (STEP_SHIFT + doubling)) +
               step * (((gsize) 1 << (STEP_SHIFT + doubling)) / STEPS);
}

static guint class_of(gsize len) {
        guint klass = 0;

        while (class_chunk_size(klass) < len)
                klass++;
        return klass;
}

gsize secret_mem_chunk_size(gsize len) {
        return class_chunk_size(class_of(MAX(len, 1)));
}

/* Whether locking @size more bytes keeps the locked total within RLIMIT_MEMLOCK. */
static gboolean may_lock(gsize size) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
                return FALSE;
        return rl.rlim_cur == RLIM_INFINITY || mem.locked + size <= (guint64) rl.rlim_cur;
}

static Arena *arena_new(guint klass) {
        guint8 *raw = mmap(NULL, 2 * ARENA_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        guint8 *base;
        Arena *arena;

        if (raw == MAP_FAILED)
                g_error("secret memory: cannot map %" G_GSIZE_FORMAT " bytes", 2 * ARENA_SIZE);
        base = (guint8 *) (((guintptr) raw + ARENA_SIZE - 1) & ~(guintptr) (ARENA_SIZE - 1));
        if (base > raw)
                munmap(raw, (gsize) (base - raw));
        if (raw + 2 * ARENA_SIZE > base + ARENA_SIZE)
                munmap(base + ARENA_SIZE, (gsize) (raw + 2 * ARENA_SIZE - (base + ARENA_SIZE)));
        /* Out of every core dump, the kernel's and gdb's gcore alike; this cannot fail on
         * the kernels the daemon runs on (Linux >= 3.4). */
        madvise(base, ARENA_SIZE, MADV_DONTDUMP);

        arena = g_new0(Arena, 1);
        arena->base = base;
        arena->klass = klass;
        arena->room_link.data = arena;
        /* Locked memory never reaches swap; past the limit the arena is only kept out of
         * dumps, and GetStatistics says how much that is. */
        arena->locked = may_lock(ARENA_SIZE) && mlock(base, ARENA_SIZE) == 0;
        if (arena->locked)
                mem.locked += ARENA_SIZE;
        else
                mem.unlocked += ARENA_SIZE;
        if (!mem.arenas)
                mem.arenas = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_hash_table_insert(mem.arenas, base, arena);
        return arena;
}

static void arena_free(Arena *arena) {
        g_hash_table_remove(mem.arenas, arena->base);
        if (arena->locked) {
                munlock(arena->base, ARENA_SIZE);
                mem.locked -= ARENA_SIZE;
        } else {
                mem.unlocked -= ARENA_SIZE;
        }
        /* Every chunk was zeroed when freed: the pages go back holding nothing. */
        munmap(arena->base, ARENA_SIZE);
        g_free(arena);
}

void *secret_mem_alloc(gsize len) {
        guint klass;
        SizeClass *c;
        Arena *arena;
        gsize size;
        guint8 *p;

        g_return_val_if_fail(len <= SECRET_MEM_MAX, NULL);
        klass = class_of(MAX(len, 1));
        size = class_chunk_size(klass);
        c = &mem.classes[klass];

        G_LOCK(mem);
        if (c->with_room.head) {
                arena = c->with_room.head->data;
        } else {
                arena = arena_new(klass);
                g_queue_push_head_link(&c->with_room, &arena->room_link);
        }
        if (arena == c->spare)
                c->spare = NULL;
        if (arena->free_list) {
                p = arena->free_list;
                memcpy(&arena->free_list, p, sizeof(void *));
                memset(p, 0, sizeof(void *));
        } else {
                p = arena->base + (gsize) arena->n_fresh++ * size;
        }
        arena->n_used++;
        if (!arena->free_list && arena->n_fresh == ARENA_SIZE / size)
                g_queue_unlink(&c->with_room, &arena->room_link);
        mem.in_use += size;
        G_UNLOCK(mem);
        return p;
}

void secret_mem_free(void *p) {
        Arena *arena;
        SizeClass *c;
        gsize size;
        gboolean was_full;

        if (!p)
                return;
        G_LOCK(mem);
        arena = mem.arenas ? g_hash_table_lookup(mem.arenas,
                                                 (gpointer) ((guintptr) p &
                                                             ~(guintptr) (ARENA_SIZE - 1)))
                           : NULL;
        if (!arena)
                g_error("secret_mem_free: %p is not secret memory", p);
        c = &mem.classes[arena->klass];
        size = class_chunk_size(arena->klass);
        explicit_bzero(p, size);
        if (secret_mem_zeroed_hook)
                secret_mem_zeroed_hook(p, size);
        was_full = !arena->free_list && arena->n_fresh == ARENA_SIZE / size;
        memcpy(p, &arena->free_list, sizeof(void *));
        arena->free_list = p;
        arena->n_used--;
        mem.in_use -= size;
        if (was_full)
                g_queue_push_tail_link(&c->with_room, &arena->room_link);
        if (arena->n_used == 0) {
                /* One empty arena per size stays for the next allocation; more go back to
                 * the system. */
                if (!c->spare) {
                        c->spare = arena;
                } else {
                        g_queue_unlink(&c->with_room, &arena->room_link);
                        arena_free(arena);
                }
        }
        G_UNLOCK(mem);
}

void secret_mem_get_statistics(SecretMemStatistics *ret) {
        G_LOCK(mem);
        *ret = (SecretMemStatistics) {
                .locked = mem.locked,
                .unlocked = mem.unlocked,
                .in_use = mem.in_use,
        };
        G_UNLOCK(mem);
}

GBytes *secret_bytes_new_take(guint8 *chunk, gsize len) {
        return g_bytes_new_with_free_func(chunk, len, secret_mem_free, chunk);
}
