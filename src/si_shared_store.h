/* si_shared_store.h — one pool's shared cache and queues, seen by every interpreter of the pool.
 *
 * Values are opaque byte strings here: si_shared_value.c encodes Python values before a call and
 * decodes them after, so this file needs neither Python nor a GIL, and the ThreadSanitizer stress
 * test (tests/c/stress_shared.c) drives it directly.  Locks are held for pointer moves and
 * copies only.  Every call takes `wait`: 0 answers SI_STORE_LOCKED instead of waiting for a lock,
 * so a caller holding a GIL first tries without waiting and releases the GIL before it waits.
 *
 * Lifetime: made with the child's record of the pool (si_pool_make), so it outlives every
 * interpreter of the pool, their recycling and reloading; freed at child exit once Python has
 * stopped (si_store_destroy), or left to the process's end if an interpreter could not be ended.
 * It is per child: another Apache child has a store of its own.
 */
#ifndef SI_SHARED_STORE_H
#define SI_SHARED_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct si_store si_store;
typedef struct si_entry si_entry;   /* a cached value: immutable once stored, read by reference */
typedef struct si_queue si_queue;
typedef struct si_item si_item;     /* a queued value */

typedef enum {
    SI_STORE_OK = 0,
    SI_STORE_LOCKED,      /* wait=0 and the lock was held: call again with wait=1 */
    SI_STORE_MISSING,     /* no such key, or it expired */
    SI_STORE_EXISTS,      /* add: the key is there */
    SI_STORE_NOT_INT,     /* incr: the value is not an int */
    SI_STORE_OVERFLOW,    /* incr: the result does not fit 64 bits */
    SI_STORE_TOO_BIG,     /* larger than one entry may be (si_store_entry_limit) */
    SI_STORE_NOMEM,
    SI_STORE_TIMEOUT,     /* a queue stayed full (put) or empty (get) until the deadline */
    SI_STORE_OFF,         /* cache-size=0: no cache in this pool */
    SI_STORE_CLOSED       /* the store is being freed (child exit) */
} si_store_status;

/* An int, as si_shared_value.c encodes it and incr reads and writes it in place: the tag, then
 * 8 bytes little-endian, two's complement. */
#define SI_VALUE_INT64 'i'
#define SI_VALUE_INT64_SIZE 9

/* Monotonic nanoseconds: expiry times and queue deadlines. */
int64_t si_store_now(void);

/* byte_limit bounds the cache (keys, values and bookkeeping; 0: no cache).  NULL: no memory. */
si_store *si_store_create(size_t byte_limit);
/* Wakes every queue waiter, waits up to a second for calls in flight to leave, then frees
 * everything; returns -1 (and frees nothing) if some call was still inside. */
int si_store_destroy(si_store *store);

/* The largest entry (key + value + bookkeeping) the cache takes; larger sets are refused. */
size_t si_store_entry_limit(const si_store *store);

/* --- cache ---------------------------------------------------------------------------------- */

/* A new entry for key with room for vlen value bytes (filled in by the caller through
 * si_entry_value before it is stored); expires: si_store_now()-based ns, 0 for never.
 * NULL: no memory (or over the entry limit: *status says which). */
si_entry *si_entry_new(si_store *store, const char *key, size_t klen, size_t vlen,
                       int64_t expires, si_store_status *status);
unsigned char *si_entry_value(si_entry *e, size_t *len);
/* Drops the caller's reference (one si_cache_get gave it, or an unstored si_entry_new). */
void si_entry_release(si_entry *e);

/* On SI_STORE_OK *out is a reference the caller releases; the value cannot change under it. */
si_store_status si_cache_get(si_store *store, const char *key, size_t klen, int wait,
                             si_entry **out);
/* Stores e under its key, replacing what was there unless only_if_absent (then SI_STORE_EXISTS
 * for a live key).  Takes e, unless the answer is SI_STORE_LOCKED. */
si_store_status si_cache_put(si_store *store, si_entry *e, int only_if_absent, int wait);
si_store_status si_cache_delete(si_store *store, const char *key, size_t klen, int wait);
/* Adds delta to an int value atomically; a missing key starts from 0 and then expires at
 * `expires` (an existing key keeps its expiry).  *result: the new value. */
si_store_status si_cache_incr(si_store *store, const char *key, size_t klen, int64_t delta,
                              int64_t expires, int wait, int64_t *result);
si_store_status si_cache_clear(si_store *store, int wait);
/* Frees expired entries, a bounded number of hash buckets per call (the maintenance thread's
 * tick), so a large cache is never locked for long; lookups ignore expired entries anyway. */
void si_cache_sweep(si_store *store);

typedef struct {
    uint64_t entries, bytes, limit, hits, misses, evictions, expired, queues;
} si_store_stats;
void si_store_get_stats(si_store *store, si_store_stats *stats);

/* --- queues --------------------------------------------------------------------------------- */

#define SI_QUEUE_NAME_MAX 200
#define SI_QUEUES_MAX 1024

/* The pool's queue called name, made with maxsize if new.  *existing_maxsize is its maxsize (it
 * may differ from the one asked for, when another interpreter made it first).  NULL: no memory,
 * or SI_QUEUES_MAX queues exist already. */
si_queue *si_queue_open(si_store *store, const char *name, size_t maxsize,
                        size_t *existing_maxsize);
const char *si_queue_name(const si_queue *q);

si_item *si_item_new(size_t len);
unsigned char *si_item_data(si_item *item, size_t *len);
void si_item_free(si_item *item);

/* until: si_store_now()-based ns to wait for room (put) or an item (get); 0: no waiting beyond
 * the lock (and none for the lock either unless wait).  put takes item on SI_STORE_OK only. */
si_store_status si_queue_put(si_queue *q, si_item *item, int wait, int64_t until);
si_store_status si_queue_get(si_queue *q, int wait, int64_t until, si_item **out);
size_t si_queue_size(si_queue *q);

#endif
