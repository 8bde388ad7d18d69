/* stress_shared.c — ThreadSanitizer stress test of the pool-wide store (si_shared_store.c),
 * outside Apache (`make tsan`).
 *
 * Threads do what interpreters' requests do, all at once: incr one counter, set and read keys
 * in a cache small enough to evict all the time (some with a TTL), add and delete, and hand
 * numbered items through a bounded queue from producers to consumers.  A sweeper plays the
 * maintenance thread.  Calls first try without waiting, then wait, as si_shared.c does.  TSan
 * reports any data race; the exit status says whether the counter reached its exact total, every
 * item was taken exactly once, every value read back was whole, and the byte limit held.
 */
#include "si_shared_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 4
#define PRODUCERS 2
#define CONSUMERS 2
#define ROUNDS 20000
#define ITEMS 20000            /* per producer */
#define LIMIT (64 * 1024)

static si_store *store;
static si_queue *queue;
static atomic_int failures;
static atomic_int stop_sweeping;
static atomic_uchar *taken;    /* per item: how many times a consumer got it */

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); atomic_fetch_add(&failures, 1); } while (0)

/* Tries without waiting, then waits: what si_shared.c's SI_STORE_CALL does around a GIL. */
#define CALL(rc, call) do { int wait = 0; (rc) = (call); \
    if ((rc) == SI_STORE_LOCKED) { wait = 1; (rc) = (call); } } while (0)

static void put_value(const char *key, size_t len, unsigned char fill, int64_t expires)
{
    si_store_status rc;
    si_entry *e = si_entry_new(store, key, strlen(key), len, expires, &rc);
    if (!e) {
        FAIL("entry_new %s: %d\n", key, rc);
        return;
    }
    size_t n;
    unsigned char *v = si_entry_value(e, &n);
    memset(v, fill, n);
    v[0] = (unsigned char)len;   /* a reader checks the value is one write, whole */
    CALL(rc, si_cache_put(store, e, 0, wait));
    if (rc != SI_STORE_OK)
        FAIL("put %s: %d\n", key, rc);
}

static void check_value(const char *key)
{
    si_entry *e = NULL;
    si_store_status rc;
    CALL(rc, si_cache_get(store, key, strlen(key), wait, &e));
    if (rc == SI_STORE_MISSING)
        return;
    if (rc != SI_STORE_OK) {
        FAIL("get %s: %d\n", key, rc);
        return;
    }
    size_t n;
    unsigned char *v = si_entry_value(e, &n);
    if ((unsigned char)n != v[0])
        FAIL("get %s: torn value\n", key);
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[1]) {
            FAIL("get %s: torn value\n", key);
            break;
        }
    si_entry_release(e);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    char key[32];
    for (int i = 0; i < ROUNDS; i++) {
        int64_t result;
        si_store_status rc;
        CALL(rc, si_cache_incr(store, "counter", 7, 1, 0, wait, &result));
        if (rc != SI_STORE_OK)
            FAIL("incr: %d\n", rc);
        snprintf(key, sizeof(key), "k%u", rand_r(&seed) % 400);
        switch (rand_r(&seed) % 4) {
        case 0:
            put_value(key, 16 + rand_r(&seed) % 1000, (unsigned char)seed, 0);
            break;
        case 1:
            put_value(key, 16 + rand_r(&seed) % 100, (unsigned char)seed,
                      si_store_now() + 1000 * (rand_r(&seed) % 1000));
            break;
        case 2:
            CALL(rc, si_cache_delete(store, key, strlen(key), wait));
            break;
        default:
            check_value(key);
        }
        if (i % 5000 == 0) {
            si_store_stats s;
            si_store_get_stats(store, &s);
            if (s.bytes > s.limit)
                FAIL("bytes %llu over limit %llu\n", (unsigned long long)s.bytes,
                     (unsigned long long)s.limit);
        }
    }
    return NULL;
}

static void *producer(void *arg)
{
    int base = (int)(intptr_t)arg * ITEMS;
    for (int i = 0; i < ITEMS; i++) {
        si_item *item = si_item_new(sizeof(int));
        size_t n;
        int id = base + i;
        memcpy(si_item_data(item, &n), &id, sizeof(id));
        si_store_status rc;
        CALL(rc, si_queue_put(queue, item, wait, 0));
        while (rc == SI_STORE_TIMEOUT)   /* full: wait in slices, as the binding does */
            rc = si_queue_put(queue, item, 1, si_store_now() + 50 * 1000 * 1000);
        if (rc != SI_STORE_OK)
            FAIL("queue put: %d\n", rc);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    for (;;) {
        si_item *item = NULL;
        si_store_status rc = si_queue_get(queue, 1, si_store_now() + 200 * 1000 * 1000, &item);
        if (rc == SI_STORE_TIMEOUT)
            return NULL;   /* producers are done and the queue drained */
        if (rc != SI_STORE_OK) {
            FAIL("queue get: %d\n", rc);
            return NULL;
        }
        size_t n;
        int id;
        memcpy(&id, si_item_data(item, &n), sizeof(id));
        atomic_fetch_add(&taken[id], 1);
        si_item_free(item);
    }
}

static void *sweeper(void *arg)
{
    while (!atomic_load(&stop_sweeping))
        si_cache_sweep(store);
    return NULL;
}

int main(void)
{
    store = si_store_create(LIMIT);
    size_t maxsize;
    queue = store ? si_queue_open(store, "jobs", 64, &maxsize) : NULL;
    taken = calloc(PRODUCERS * ITEMS, 1);
    if (!queue || !taken) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    pthread_t threads[WORKERS + PRODUCERS + CONSUMERS], sweep;
    int n = 0;
    pthread_create(&sweep, NULL, sweeper, NULL);
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&threads[n++], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&threads[n++], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&threads[n++], NULL, consumer, NULL);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    atomic_store(&stop_sweeping, 1);
    pthread_join(sweep, NULL);

    si_entry *e = NULL;
    if (si_cache_get(store, "counter", 7, 1, &e) != SI_STORE_OK)
        FAIL("counter missing\n");
    else {
        size_t len;
        unsigned char *v = si_entry_value(e, &len);
        int64_t total = 0;
        for (int i = 8; i >= 1; i--)
            total = (total << 8) | v[i];
        if (total != (int64_t)WORKERS * ROUNDS)
            FAIL("counter %lld, expected %lld\n", (long long)total, (long long)WORKERS * ROUNDS);
        si_entry_release(e);
    }
    for (int i = 0; i < PRODUCERS * ITEMS; i++)
        if (atomic_load(&taken[i]) != 1) {
            FAIL("item %d taken %d times\n", i, atomic_load(&taken[i]));
            break;
        }
    si_store_stats s;
    si_store_get_stats(store, &s);
    if (si_store_destroy(store) != 0)
        FAIL("destroy found a call inside\n");
    free(taken);
    printf("stress_shared: %d incr, %d items through one queue, %llu evictions, %llu expired, "
           "%d failure(s)\n", WORKERS * ROUNDS, PRODUCERS * ITEMS,
           (unsigned long long)s.evictions, (unsigned long long)s.expired,
           atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
