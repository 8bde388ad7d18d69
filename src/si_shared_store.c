/* si_shared_store.c — the pool-wide cache and queues (see si_shared_store.h).
 *
 * The cache is split into shards (16 for a limit of 16 MiB or more, else 1), each a hash table
 * with its own lock, LRU list and share of the byte limit, so interpreters on different cores
 * rarely meet on one lock.  Keys hash with SipHash-1-3 under a per-store random key: keys often
 * come from clients (an IP to rate-limit), and a guessable hash would let them pile into one
 * bucket.  Entries are reference counted: a reader decodes the value outside the lock while a
 * writer may already have replaced it, and the last reference frees it.
 */
#include "si_shared_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Locking a mutex we made, unlocking one we hold and signalling fail only on corrupt memory;
 * as si_common.h's si_must does for the rest of the module, such a failure ends the process
 * (stderr is the error log in an Apache child) rather than going on unlocked.  No Apache here. */
#define must(call) do {                                                                       \
        int must_err_ = (call);                                                              \
        if (must_err_) {                                                                     \
            fprintf(stderr, "SI0217: %s failed: %s; ending this process\n", #call,           \
                    strerror(must_err_));                                                    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

struct si_entry {
    si_entry *chain;                /* next in its bucket */
    si_entry *newer, *older;        /* its shard's LRU list */
    atomic_int refs;                /* the table's (while stored) and each reader's */
    uint64_t hash;
    int64_t expires;                /* 0: never */
    uint32_t klen, vlen;
    size_t cost;                    /* what it counts against the limit */
    unsigned char bytes[];          /* key, then value */
};

typedef struct {
    pthread_mutex_t lock;
    si_entry **buckets;
    size_t nbuckets, count, bytes, limit, sweep_cursor;
    si_entry *newest, *oldest;
    uint64_t hits, misses, evictions, expired;
    size_t expiring;                /* entries with an expiry: the sweep skips shards without */
    char pad[64];                   /* shards sit in one array: keep their locks apart */
} si_shard;

struct si_item {
    si_item *next;
    size_t len;
    unsigned char data[];
};

struct si_queue {
    si_queue *next;
    si_store *store;
    char *name;
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;   /* CLOCK_MONOTONIC */
    si_item *head, *tail;
    size_t count, maxsize;
};

struct si_store {
    si_shard *shards;
    unsigned nshards;
    size_t limit, entry_limit;
    uint64_t k0, k1;                /* SipHash key */
    pthread_mutex_t queues_lock;
    si_queue *queues;
    size_t nqueues;
    atomic_int inside;              /* calls in flight, for si_store_destroy */
    atomic_int closed;
};

#define SHARDS_MAX 16
#define SHARDED_FROM ((size_t)16 << 20)
#define SWEEP_BUCKETS 1024

int64_t si_store_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- SipHash-1-3 (Aumasson and Bernstein; the variant CPython uses for str and bytes) --------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3)                                          \
    do {                                                                  \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);         \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);         \
    } while (0)

static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&m, in + i, 8);   /* little-endian hosts only matter for the value, not safety */
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    for (size_t j = 0; i + j < len; j++)
        b |= (uint64_t)in[i + j] << (8 * j);
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t hash_key(const si_store *store, const char *key, size_t klen)
{
    return siphash13(store->k0, store->k1, (const unsigned char *)key, klen);
}

/* --- store ---------------------------------------------------------------------------------- */

si_store *si_store_create(size_t byte_limit)
{
    si_store *store = calloc(1, sizeof(*store));
    if (!store)
        return NULL;
    store->limit = byte_limit;
    store->nshards = byte_limit >= SHARDED_FROM ? SHARDS_MAX : 1;
    store->entry_limit = byte_limit / store->nshards;
    uint64_t key[2] = {0, 0};
    if (getrandom(key, sizeof(key), 0) != sizeof(key)) {
        /* No entropy this early is unheard of; a clock-derived key still beats a fixed one. */
        key[0] = (uint64_t)si_store_now() ^ (uint64_t)(uintptr_t)store;
        key[1] = key[0] * 0x9e3779b97f4a7c15ULL;
    }
    store->k0 = key[0];
    store->k1 = key[1];
    store->shards = calloc(store->nshards, sizeof(si_shard));
    if (!store->shards || pthread_mutex_init(&store->queues_lock, NULL) != 0) {
        free(store->shards);
        free(store);
        return NULL;
    }
    for (unsigned i = 0; i < store->nshards; i++) {
        si_shard *shard = &store->shards[i];
        shard->limit = store->entry_limit;
        shard->nbuckets = 64;
        shard->buckets = calloc(shard->nbuckets, sizeof(si_entry *));
        if (!shard->buckets || pthread_mutex_init(&shard->lock, NULL) != 0) {
            free(shard->buckets);
            shard->buckets = NULL;
            si_store_destroy(store);
            return NULL;
        }
    }
    return store;
}

size_t si_store_entry_limit(const si_store *store)
{
    return store->entry_limit;
}

/* Every call brackets its work with enter/leave, so that si_store_destroy knows when none is
 * inside; a call that finds the store closing touches nothing else. */
static int enter(si_store *store)
{
    atomic_fetch_add(&store->inside, 1);
    if (atomic_load(&store->closed)) {
        atomic_fetch_sub(&store->inside, 1);
        return 0;
    }
    return 1;
}

static void leave(si_store *store)
{
    atomic_fetch_sub(&store->inside, 1);
}

static void free_items(si_item *item)
{
    while (item) {
        si_item *next = item->next;
        free(item);
        item = next;
    }
}

int si_store_destroy(si_store *store)
{
    atomic_store(&store->closed, 1);
    must(pthread_mutex_lock(&store->queues_lock));
    for (si_queue *q = store->queues; q; q = q->next) {
        must(pthread_mutex_lock(&q->lock));
        must(pthread_cond_broadcast(&q->not_empty));
        must(pthread_cond_broadcast(&q->not_full));
        must(pthread_mutex_unlock(&q->lock));
    }
    must(pthread_mutex_unlock(&store->queues_lock));
    for (int i = 0; atomic_load(&store->inside) > 0; i++) {
        if (i == 100)
            return -1;
        struct timespec ten_ms = {0, 10 * 1000 * 1000};
        nanosleep(&ten_ms, NULL);
    }
    for (unsigned i = 0; store->shards && i < store->nshards; i++) {
        si_shard *shard = &store->shards[i];
        if (!shard->buckets)
            continue;
        for (si_entry *e = shard->newest, *next; e; e = next) {
            next = e->older;
            free(e);   /* no reader is left: none is inside */
        }
        free(shard->buckets);
        pthread_mutex_destroy(&shard->lock);
    }
    for (si_queue *q = store->queues, *next; q; q = next) {
        next = q->next;
        free_items(q->head);
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->not_empty);
        pthread_cond_destroy(&q->not_full);
        free(q->name);
        free(q);
    }
    pthread_mutex_destroy(&store->queues_lock);
    free(store->shards);
    free(store);
    return 0;
}

/* 0 with the lock held; -1 if wait=0 and it is taken. */
static int lock(pthread_mutex_t *m, int wait)
{
    if (wait) {
        must(pthread_mutex_lock(m));
        return 0;
    }
    int err = pthread_mutex_trylock(m);
    if (err != EBUSY)
        must(err);
    return err ? -1 : 0;
}

/* --- cache ---------------------------------------------------------------------------------- */

si_entry *si_entry_new(si_store *store, const char *key, size_t klen, size_t vlen,
                       int64_t expires, si_store_status *status)
{
    if (store->limit == 0) {
        *status = SI_STORE_OFF;
        return NULL;
    }
    /* Checked before it is summed: klen and vlen come from app data. */
    if (klen > UINT32_MAX || vlen > UINT32_MAX || store->entry_limit < sizeof(si_entry)
        || klen + vlen > store->entry_limit - sizeof(si_entry)) {
        *status = SI_STORE_TOO_BIG;
        return NULL;
    }
    size_t cost = sizeof(si_entry) + klen + vlen;
    si_entry *e = malloc(cost);
    if (!e) {
        *status = SI_STORE_NOMEM;
        return NULL;
    }
    memset(e, 0, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->hash = hash_key(store, key, klen);
    e->expires = expires;
    e->klen = (uint32_t)klen;
    e->vlen = (uint32_t)vlen;
    e->cost = cost;
    memcpy(e->bytes, key, klen);
    *status = SI_STORE_OK;
    return e;
}

unsigned char *si_entry_value(si_entry *e, size_t *len)
{
    *len = e->vlen;
    return e->bytes + e->klen;
}

void si_entry_release(si_entry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        free(e);
}

static si_shard *shard_of(si_store *store, uint64_t hash)
{
    return &store->shards[(hash >> 56) % store->nshards];
}

static int expired(const si_entry *e, int64_t now)
{
    return e->expires && e->expires <= now;
}

/* The slot that points at key's entry (or the empty end of its chain). */
static si_entry **find(si_shard *shard, uint64_t hash, const char *key, size_t klen)
{
    si_entry **link = &shard->buckets[hash & (shard->nbuckets - 1)];
    for (; *link; link = &(*link)->chain) {
        si_entry *e = *link;
        if (e->hash == hash && e->klen == klen && memcmp(e->bytes, key, klen) == 0)
            break;
    }
    return link;
}

static void lru_unlink(si_shard *shard, si_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        shard->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        shard->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(si_shard *shard, si_entry *e)
{
    e->older = shard->newest;
    e->newer = NULL;
    if (shard->newest)
        shard->newest->newer = e;
    shard->newest = e;
    if (!shard->oldest)
        shard->oldest = e;
}

/* Takes the entry at *link out of the shard; the caller releases the table's reference (after
 * unlocking: the free is not the lock's business). */
static si_entry *unlink_entry(si_shard *shard, si_entry **link)
{
    si_entry *e = *link;
    *link = e->chain;
    e->chain = NULL;
    lru_unlink(shard, e);
    shard->count--;
    shard->bytes -= e->cost;
    shard->expiring -= e->expires != 0;
    return e;
}

static si_entry **link_of(si_shard *shard, si_entry *e)
{
    return find(shard, e->hash, (const char *)e->bytes, e->klen);
}

/* Doubles the table when it holds more entries than buckets; a failed allocation only leaves
 * chains longer. */
static void grow(si_shard *shard)
{
    if (shard->count <= shard->nbuckets)
        return;
    size_t n = shard->nbuckets * 2;
    si_entry **buckets = calloc(n, sizeof(si_entry *));
    if (!buckets)
        return;
    for (size_t i = 0; i < shard->nbuckets; i++) {
        for (si_entry *e = shard->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
        }
    }
    free(shard->buckets);
    shard->buckets = buckets;
    shard->nbuckets = n;
}

/* Links e in as the newest entry, then evicts from the oldest end until the shard fits its
 * limit; what left the table is chained on *dropped (through `chain`) for the caller to release
 * once unlocked. */
static void insert(si_shard *shard, si_entry *e, si_entry **dropped)
{
    si_entry **link = &shard->buckets[e->hash & (shard->nbuckets - 1)];
    e->chain = *link;
    *link = e;
    lru_push(shard, e);
    shard->count++;
    shard->bytes += e->cost;
    shard->expiring += e->expires != 0;
    while (shard->bytes > shard->limit && shard->oldest && shard->oldest != e) {
        si_entry *victim = unlink_entry(shard, link_of(shard, shard->oldest));
        shard->evictions++;
        victim->chain = *dropped;
        *dropped = victim;
    }
    grow(shard);
}

/* Enters the store and locks the shard of `hash`: SI_STORE_OK with both done (the caller
 * unlocks, then leaves), or the answer to give. */
static si_store_status lock_shard(si_store *store, uint64_t hash, int wait, si_shard **shard)
{
    if (!enter(store))
        return SI_STORE_CLOSED;
    *shard = shard_of(store, hash);
    if (lock(&(*shard)->lock, wait) < 0) {
        leave(store);
        return SI_STORE_LOCKED;
    }
    return SI_STORE_OK;
}

static void release_chain(si_entry *e)
{
    while (e) {
        si_entry *next = e->chain;
        si_entry_release(e);
        e = next;
    }
}

si_store_status si_cache_get(si_store *store, const char *key, size_t klen, int wait,
                             si_entry **out)
{
    uint64_t hash = hash_key(store, key, klen);
    si_shard *shard;
    si_store_status status = lock_shard(store, hash, wait, &shard);
    if (status != SI_STORE_OK)
        return status;
    si_entry **link = find(shard, hash, key, klen), *gone = NULL;
    status = SI_STORE_MISSING;
    if (*link && expired(*link, si_store_now())) {
        gone = unlink_entry(shard, link);
        shard->expired++;
    }
    else if (*link) {
        si_entry *e = *link;
        lru_unlink(shard, e);
        lru_push(shard, e);
        atomic_fetch_add(&e->refs, 1);
        *out = e;
        status = SI_STORE_OK;
    }
    if (status == SI_STORE_OK)
        shard->hits++;
    else
        shard->misses++;
    must(pthread_mutex_unlock(&shard->lock));
    si_entry_release(gone);
    leave(store);
    return status;
}

si_store_status si_cache_put(si_store *store, si_entry *e, int only_if_absent, int wait)
{
    si_shard *shard;
    si_store_status status = lock_shard(store, e->hash, wait, &shard);
    if (status == SI_STORE_CLOSED)
        si_entry_release(e);
    if (status != SI_STORE_OK)
        return status;
    si_entry **link = link_of(shard, e), *dropped = NULL;
    if (*link && only_if_absent && !expired(*link, si_store_now())) {
        status = SI_STORE_EXISTS;
        dropped = e;
    }
    else {
        if (*link) {
            dropped = unlink_entry(shard, link);
            shard->expired += expired(dropped, si_store_now());
        }
        insert(shard, e, &dropped);
    }
    must(pthread_mutex_unlock(&shard->lock));
    release_chain(dropped);
    leave(store);
    return status;
}

si_store_status si_cache_delete(si_store *store, const char *key, size_t klen, int wait)
{
    uint64_t hash = hash_key(store, key, klen);
    si_shard *shard;
    si_store_status status = lock_shard(store, hash, wait, &shard);
    if (status != SI_STORE_OK)
        return status;
    si_entry **link = find(shard, hash, key, klen), *gone = NULL;
    status = SI_STORE_MISSING;
    if (*link) {
        gone = unlink_entry(shard, link);
        status = expired(gone, si_store_now()) ? SI_STORE_MISSING : SI_STORE_OK;
    }
    must(pthread_mutex_unlock(&shard->lock));
    si_entry_release(gone);
    leave(store);
    return status;
}

static int64_t read_int(const si_entry *e)
{
    uint64_t u = 0;
    const unsigned char *v = e->bytes + e->klen + 1;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | v[i];
    return (int64_t)u;
}

static void write_int(si_entry *e, int64_t n)
{
    unsigned char *v = e->bytes + e->klen;
    uint64_t u = (uint64_t)n;
    v[0] = SI_VALUE_INT64;
    for (int i = 0; i < 8; i++)
        v[1 + i] = (unsigned char)(u >> (8 * i));
}

si_store_status si_cache_incr(si_store *store, const char *key, size_t klen, int64_t delta,
                              int64_t expires, int wait, int64_t *result)
{
    /* Made before locking, used when the key is new or its entry has readers (entries are
     * immutable once a reader may hold them, so the new value goes into a fresh one). */
    si_store_status status;
    si_entry *fresh = si_entry_new(store, key, klen, SI_VALUE_INT64_SIZE, expires, &status);
    if (!fresh)
        return status;
    si_shard *shard;
    if ((status = lock_shard(store, fresh->hash, wait, &shard)) != SI_STORE_OK) {
        si_entry_release(fresh);
        return status;
    }
    si_entry **link = link_of(shard, fresh), *dropped = NULL;
    int64_t base = 0;
    status = SI_STORE_OK;
    si_entry *e = *link;
    if (e && expired(e, si_store_now())) {
        dropped = unlink_entry(shard, link);   /* *link is now the next in the chain */
        shard->expired++;
        e = NULL;
    }
    if (e && (e->vlen != SI_VALUE_INT64_SIZE || e->bytes[e->klen] != SI_VALUE_INT64))
        status = SI_STORE_NOT_INT;
    else if (e && __builtin_add_overflow(read_int(e), delta, &base))
        status = SI_STORE_OVERFLOW;
    else if (!e)
        base = delta;
    if (status == SI_STORE_OK) {
        *result = base;
        if (e && atomic_load(&e->refs) == 1) {
            write_int(e, base);   /* only the table holds it, and we hold the table */
            lru_unlink(shard, e);
            lru_push(shard, e);
            fresh->chain = dropped;
            dropped = fresh;
        }
        else {
            if (e) {
                fresh->expires = e->expires;
                si_entry *old = unlink_entry(shard, link);
                old->chain = dropped;
                dropped = old;
            }
            write_int(fresh, base);
            insert(shard, fresh, &dropped);
        }
    }
    else {
        fresh->chain = dropped;
        dropped = fresh;
    }
    must(pthread_mutex_unlock(&shard->lock));
    release_chain(dropped);
    leave(store);
    return status;
}

si_store_status si_cache_clear(si_store *store, int wait)
{
    if (!enter(store))
        return SI_STORE_CLOSED;
    for (unsigned i = 0; i < store->nshards; i++) {
        si_shard *shard = &store->shards[i];
        /* A clear waits for every shard; only the first may answer LOCKED (nothing done). */
        if (lock(&shard->lock, wait || i > 0) < 0) {
            leave(store);
            return SI_STORE_LOCKED;
        }
        si_entry *dropped = NULL;
        while (shard->newest) {
            si_entry *e = unlink_entry(shard, link_of(shard, shard->newest));
            e->chain = dropped;
            dropped = e;
        }
        must(pthread_mutex_unlock(&shard->lock));
        release_chain(dropped);
    }
    leave(store);
    return SI_STORE_OK;
}

void si_cache_sweep(si_store *store)
{
    if (!enter(store))
        return;
    int64_t now = si_store_now();
    for (unsigned i = 0; i < store->nshards && store->limit; i++) {
        si_shard *shard = &store->shards[i];
        si_entry *dropped = NULL;
        must(pthread_mutex_lock(&shard->lock));
        for (size_t n = 0; n < SWEEP_BUCKETS && shard->expiring > 0; n++) {
            size_t b = shard->sweep_cursor++ & (shard->nbuckets - 1);
            for (si_entry **link = &shard->buckets[b]; *link;) {
                if (!expired(*link, now)) {
                    link = &(*link)->chain;
                    continue;
                }
                si_entry *e = unlink_entry(shard, link);
                shard->expired++;
                e->chain = dropped;
                dropped = e;
            }
        }
        must(pthread_mutex_unlock(&shard->lock));
        release_chain(dropped);
    }
    leave(store);
}

void si_store_get_stats(si_store *store, si_store_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    if (!enter(store))
        return;
    stats->limit = store->limit;
    for (unsigned i = 0; i < store->nshards && store->limit; i++) {
        si_shard *shard = &store->shards[i];
        must(pthread_mutex_lock(&shard->lock));
        stats->entries += shard->count;
        stats->bytes += shard->bytes;
        stats->hits += shard->hits;
        stats->misses += shard->misses;
        stats->evictions += shard->evictions;
        stats->expired += shard->expired;
        must(pthread_mutex_unlock(&shard->lock));
    }
    must(pthread_mutex_lock(&store->queues_lock));
    stats->queues = store->nqueues;
    must(pthread_mutex_unlock(&store->queues_lock));
    leave(store);
}

/* --- queues --------------------------------------------------------------------------------- */

static int init_queue(si_queue *q)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0
             && pthread_mutex_init(&q->lock, NULL) == 0 ? 0 : -1;
    if (rc == 0 && pthread_cond_init(&q->not_empty, &attr) != 0) {
        pthread_mutex_destroy(&q->lock);
        rc = -1;
    }
    if (rc == 0 && pthread_cond_init(&q->not_full, &attr) != 0) {
        pthread_cond_destroy(&q->not_empty);
        pthread_mutex_destroy(&q->lock);
        rc = -1;
    }
    pthread_condattr_destroy(&attr);
    return rc;
}

si_queue *si_queue_open(si_store *store, const char *name, size_t maxsize,
                        size_t *existing_maxsize)
{
    if (!enter(store))
        return NULL;
    must(pthread_mutex_lock(&store->queues_lock));
    si_queue *q = store->queues;
    while (q && strcmp(q->name, name) != 0)
        q = q->next;
    if (!q && store->nqueues < SI_QUEUES_MAX && (q = calloc(1, sizeof(*q)))) {
        q->store = store;
        q->maxsize = maxsize;
        if (!(q->name = strdup(name)) || init_queue(q) < 0) {
            free(q->name);
            free(q);
            q = NULL;
        }
        else {
            q->next = store->queues;
            store->queues = q;
            store->nqueues++;
        }
    }
    if (q)
        *existing_maxsize = q->maxsize;
    must(pthread_mutex_unlock(&store->queues_lock));
    leave(store);
    return q;
}

const char *si_queue_name(const si_queue *q)
{
    return q->name;
}

si_item *si_item_new(size_t len)
{
    si_item *item = len <= SIZE_MAX - sizeof(*item) ? malloc(sizeof(*item) + len) : NULL;
    if (item) {
        item->next = NULL;
        item->len = len;
    }
    return item;
}

unsigned char *si_item_data(si_item *item, size_t *len)
{
    *len = item->len;
    return item->data;
}

void si_item_free(si_item *item)
{
    free(item);
}

/* Waits on cond until it is signalled or `until` passes: 0, or ETIMEDOUT. */
static int wait_until(pthread_cond_t *cond, pthread_mutex_t *m, int64_t until)
{
    struct timespec ts = {until / 1000000000, until % 1000000000};
    int err = pthread_cond_timedwait(cond, m, &ts);
    if (err != ETIMEDOUT)
        must(err);
    return err;
}

/* Enters the store and locks q, as lock_shard does a shard. */
static si_store_status lock_queue(si_queue *q, int wait)
{
    if (!enter(q->store))
        return SI_STORE_CLOSED;
    if (lock(&q->lock, wait) < 0) {
        leave(q->store);
        return SI_STORE_LOCKED;
    }
    return SI_STORE_OK;
}

/* Undoes lock_queue. */
static void unlock_queue(si_queue *q)
{
    must(pthread_mutex_unlock(&q->lock));
    leave(q->store);
}

/* With q locked: waits on cond while q is full (for_room) or empty, until `until` (0: not at
 * all) or the store closes. */
static void wait_for_turn(si_queue *q, int for_room, int64_t until)
{
    pthread_cond_t *cond = for_room ? &q->not_full : &q->not_empty;
    int timed_out = !until;
    while ((for_room ? q->count >= q->maxsize : !q->head) && !timed_out
           && !atomic_load(&q->store->closed))
        timed_out = wait_until(cond, &q->lock, until) == ETIMEDOUT;
}

si_store_status si_queue_put(si_queue *q, si_item *item, int wait, int64_t until)
{
    si_store *store = q->store;
    si_store_status status = lock_queue(q, wait);
    if (status != SI_STORE_OK)
        return status;
    wait_for_turn(q, 1, until);
    status = SI_STORE_TIMEOUT;
    if (atomic_load(&store->closed))
        status = SI_STORE_CLOSED;
    else if (q->count < q->maxsize) {
        item->next = NULL;
        if (q->tail)
            q->tail->next = item;
        else
            q->head = item;
        q->tail = item;
        q->count++;
        must(pthread_cond_signal(&q->not_empty));
        status = SI_STORE_OK;
    }
    unlock_queue(q);
    return status;
}

si_store_status si_queue_get(si_queue *q, int wait, int64_t until, si_item **out)
{
    si_store *store = q->store;
    si_store_status status = lock_queue(q, wait);
    if (status != SI_STORE_OK)
        return status;
    wait_for_turn(q, 0, until);
    status = SI_STORE_TIMEOUT;
    if (atomic_load(&store->closed))
        status = SI_STORE_CLOSED;
    else if (q->head) {
        *out = q->head;
        q->head = q->head->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
        must(pthread_cond_signal(&q->not_full));
        status = SI_STORE_OK;
    }
    unlock_queue(q);
    return status;
}

size_t si_queue_size(si_queue *q)
{
    must(pthread_mutex_lock(&q->lock));
    size_t n = q->count;
    must(pthread_mutex_unlock(&q->lock));
    return n;
}
