/* si_shared.c — the Python side of the pool-wide cache and queues (see si_shared.h).
 *
 * Every call encodes its value while holding the GIL, then runs the store call first without
 * waiting for the store's lock and, if another thread holds that lock, again with the GIL
 * released; a queue wait always releases it.  So no thread ever waits for the store, or for
 * another interpreter, while holding its interpreter's GIL.  A queue wait wakes every
 * SI_WAIT_SLICE to let the eval loop deliver a RequestTimeout (or see its interpreter ending).
 */
#include "si_shared.h"
#include "si_shared_store.h"
#include "si_shared_value.h"

#include <math.h>

#define SI_KEY_MAX 4096
#define SI_ITEM_MAX ((size_t)16 << 20)
#define SI_QUEUE_DEFAULT_MAXSIZE 1000
#define SI_QUEUE_MAXSIZE_MAX 10000000
#define SI_WAIT_SLICE ((int64_t)50 * 1000 * 1000)

/* Runs `call` first holding the GIL with wait=0, and if the store's lock was taken, again with
 * the GIL released and wait=1.  `call` refers to the local `wait`. */
#define SI_STORE_CALL(rc, call)                                                           \
    do {                                                                                  \
        int wait = 0;                                                                     \
        (rc) = (call);                                                                    \
        if ((rc) == SI_STORE_LOCKED) {                                                    \
            wait = 1;                                                                     \
            Py_BEGIN_ALLOW_THREADS                                                        \
            (rc) = (call);                                                                \
            Py_END_ALLOW_THREADS                                                          \
        }                                                                                 \
    } while (0)

typedef struct {
    PyObject_HEAD
} si_shared_cache;

typedef struct {
    PyObject_HEAD
    si_queue *queue;                /* the store's; lives as long as the store */
    PyObject *name;
    Py_ssize_t maxsize;
} si_shared_queue;

static si_module_state *state_of(PyObject *self)
{
    return PyType_GetModuleState(Py_TYPE(self));
}

/* The store of the pool whose interpreter made type, or NULL with RuntimeError (an
 * interpreter that serves no pool). */
static si_store *store_in(PyTypeObject *type)
{
    si_module_state *st = PyType_GetModuleState(type);
    if (!st || !st->store) {
        PyErr_SetString(PyExc_RuntimeError, "mod_subinterp.shared is only available in the "
                        "interpreters of a SubinterpPool");
        return NULL;
    }
    return st->store;
}

static si_store *store_of(PyObject *self)
{
    return store_in(Py_TYPE(self));
}

/* The store's figures; it takes every shard's lock in turn, so not with the GIL held. */
static void read_stats(si_store *store, si_store_stats *stats)
{
    Py_BEGIN_ALLOW_THREADS
    si_store_get_stats(store, stats);
    Py_END_ALLOW_THREADS
}

/* Raises for a store answer that is not a result; returns NULL. */
static PyObject *store_error(si_store_status rc, const char *what)
{
    switch (rc) {
    case SI_STORE_NOMEM:
        return PyErr_NoMemory();
    case SI_STORE_OFF:
        PyErr_Format(PyExc_RuntimeError, "mod_subinterp.shared.cache.%s: this pool's cache is "
                     "off (cache-size=0)", what);
        return NULL;
    case SI_STORE_CLOSED:
        PyErr_Format(PyExc_RuntimeError, "mod_subinterp.shared: %s after the child began to "
                     "exit", what);
        return NULL;
    default:
        PyErr_Format(PyExc_SystemError, "mod_subinterp.shared: %s: unexpected status %d", what,
                     (int)rc);
        return NULL;
    }
}

static const char *key_of(PyObject *key, Py_ssize_t *len)
{
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "mod_subinterp.shared.cache: keys are str, not '%s'",
                     Py_TYPE(key)->tp_name);
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8AndSize(key, len);
    if (text && *len > SI_KEY_MAX) {
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.cache: a key of %zd bytes (UTF-8) "
                     "is over the limit of %d", *len, SI_KEY_MAX);
        return NULL;
    }
    return text;
}

/* ttl (seconds, None: never) as an expiry time; -1 with ValueError for a bad one. */
static int expiry_of(PyObject *ttl, int64_t *expires)
{
    *expires = 0;
    if (!ttl || ttl == Py_None)
        return 0;
    double seconds = PyFloat_AsDouble(ttl);
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (!(seconds > 0) || !isfinite(seconds) || seconds > 1e9) {
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared: ttl must be a positive number of "
                     "seconds (or None for no expiry), not %R", ttl);
        return -1;
    }
    *expires = si_store_now() + (int64_t)(seconds * 1e9);
    if (*expires == 0)
        *expires = 1;
    return 0;
}

/* --- cache ---------------------------------------------------------------------------------- */

static PyObject *decode_entry(si_entry *e)
{
    size_t len;
    unsigned char *value = si_entry_value(e, &len);
    PyObject *obj = si_value_read(value, len);
    si_entry_release(e);
    return obj;
}

/* get(key, default=None, /): the value, or default when the key is missing or expired. */
static PyObject *cache_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "get() takes a key and an optional default (%zd given)",
                     nargs);
        return NULL;
    }
    si_store *store = store_of(self);
    Py_ssize_t klen;
    const char *key = store ? key_of(args[0], &klen) : NULL;
    if (!key)
        return NULL;
    si_entry *e = NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_get(store, key, klen, wait, &e));
    if (rc == SI_STORE_OK)
        return decode_entry(e);
    if (rc == SI_STORE_MISSING)
        return Py_NewRef(nargs > 1 ? args[1] : Py_None);
    return store_error(rc, "get");
}

/* An entry holding value's encoding, or NULL with an exception. */
static si_entry *entry_for(si_store *store, const char *key, Py_ssize_t klen, PyObject *value,
                           PyObject *ttl, const char *what)
{
    int64_t expires;
    Py_ssize_t size = si_value_size(value);
    if (size < 0 || expiry_of(ttl, &expires) < 0)
        return NULL;
    si_store_status rc;
    si_entry *e = si_entry_new(store, key, klen, size, expires, &rc);
    if (!e && rc == SI_STORE_TOO_BIG)
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.cache.%s: an entry of %zd bytes "
                     "is over this pool's limit of %zu bytes per entry (see cache-size=)", what,
                     size + klen, si_store_entry_limit(store));
    else if (!e)
        store_error(rc, what);
    if (!e)
        return NULL;
    size_t len;
    if (si_value_write(value, si_entry_value(e, &len)) < 0) {
        si_entry_release(e);
        return NULL;
    }
    return e;
}

/* set() and add(): store value under key; add only where the key is absent. */
static PyObject *cache_store(PyObject *self, PyObject *args, PyObject *kwds, int only_if_absent)
{
    static char *kwlist[] = {"key", "value", "ttl", NULL};
    const char *what = only_if_absent ? "add" : "set";
    PyObject *key_obj, *value, *ttl = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, only_if_absent ? "OO|O:add" : "OO|O:set",
                                     kwlist, &key_obj, &value, &ttl))
        return NULL;
    si_store *store = store_of(self);
    Py_ssize_t klen;
    const char *key = store ? key_of(key_obj, &klen) : NULL;
    si_entry *e = key ? entry_for(store, key, klen, value, ttl, what) : NULL;
    if (!e)
        return NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_put(store, e, only_if_absent, wait));
    if (rc == SI_STORE_OK)
        return only_if_absent ? Py_NewRef(Py_True) : Py_NewRef(Py_None);
    if (rc == SI_STORE_EXISTS)
        return Py_NewRef(Py_False);
    return store_error(rc, what);
}

static PyObject *cache_set(PyObject *self, PyObject *args, PyObject *kwds)
{
    return cache_store(self, args, kwds, 0);
}

static PyObject *cache_add(PyObject *self, PyObject *args, PyObject *kwds)
{
    return cache_store(self, args, kwds, 1);
}

static PyObject *cache_delete(PyObject *self, PyObject *key_obj)
{
    si_store *store = store_of(self);
    Py_ssize_t klen;
    const char *key = store ? key_of(key_obj, &klen) : NULL;
    if (!key)
        return NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_delete(store, key, klen, wait));
    if (rc == SI_STORE_OK || rc == SI_STORE_MISSING)
        return PyBool_FromLong(rc == SI_STORE_OK);
    return store_error(rc, "delete");
}

/* incr(key, delta=1, ttl=None): atomic across the pool; ttl applies to a key it creates. */
static PyObject *cache_incr(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"key", "delta", "ttl", NULL};
    PyObject *key_obj, *ttl = Py_None;
    long long delta = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|LO:incr", kwlist, &key_obj, &delta, &ttl))
        return NULL;
    si_store *store = store_of(self);
    Py_ssize_t klen;
    int64_t expires, result = 0;
    const char *key = store ? key_of(key_obj, &klen) : NULL;
    if (!key || expiry_of(ttl, &expires) < 0)
        return NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_incr(store, key, klen, delta, expires, wait, &result));
    switch (rc) {
    case SI_STORE_OK:
        return PyLong_FromLongLong(result);
    case SI_STORE_NOT_INT:
        PyErr_Format(PyExc_TypeError, "mod_subinterp.shared.cache.incr: the value of %R is "
                     "not an int of 64 bits", key_obj);
        return NULL;
    case SI_STORE_OVERFLOW:
        PyErr_Format(PyExc_OverflowError, "mod_subinterp.shared.cache.incr: %R would pass "
                     "64 bits", key_obj);
        return NULL;
    default:
        return store_error(rc, "incr");
    }
}

static PyObject *cache_clear(PyObject *self, PyObject *unused)
{
    si_store *store = store_of(self);
    if (!store)
        return NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_clear(store, wait));
    return rc == SI_STORE_OK ? Py_NewRef(Py_None) : store_error(rc, "clear");
}

static PyObject *cache_stats(PyObject *self, PyObject *unused)
{
    si_store *store = store_of(self);
    if (!store)
        return NULL;
    si_store_stats s;
    read_stats(store, &s);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsn}", "entries", s.entries, "bytes", s.bytes,
                         "limit", s.limit, "hits", s.hits, "misses", s.misses, "evictions",
                         s.evictions, "expired", s.expired, "queues", s.queues,
                         "entry_limit", (Py_ssize_t)si_store_entry_limit(store));
}

static Py_ssize_t cache_len(PyObject *self)
{
    si_store *store = store_of(self);
    if (!store)
        return -1;
    si_store_stats s;
    read_stats(store, &s);
    return (Py_ssize_t)s.entries;
}

static int cache_contains(PyObject *self, PyObject *key_obj)
{
    si_store *store = store_of(self);
    Py_ssize_t klen;
    const char *key = store ? key_of(key_obj, &klen) : NULL;
    if (!key)
        return -1;
    si_entry *e = NULL;
    si_store_status rc;
    SI_STORE_CALL(rc, si_cache_get(store, key, klen, wait, &e));
    if (rc == SI_STORE_OK)
        si_entry_release(e);
    else if (rc != SI_STORE_MISSING) {
        store_error(rc, "__contains__");
        return -1;
    }
    return rc == SI_STORE_OK;
}

static void plain_dealloc(PyObject *self)
{
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyMethodDef cache_methods[] = {
    {"get", (PyCFunction)(void (*)(void))cache_get, METH_FASTCALL,
     "get(key, default=None, /): a copy of key's value, or default if it is missing or expired"},
    {"set", (PyCFunction)(void (*)(void))cache_set, METH_VARARGS | METH_KEYWORDS,
     "set(key, value, ttl=None): stores a copy of value; ttl in seconds, None: no expiry"},
    {"add", (PyCFunction)(void (*)(void))cache_add, METH_VARARGS | METH_KEYWORDS,
     "add(key, value, ttl=None): set() only if key is absent; True if it stored"},
    {"delete", cache_delete, METH_O, "delete(key): True if key was there"},
    {"incr", (PyCFunction)(void (*)(void))cache_incr, METH_VARARGS | METH_KEYWORDS,
     "incr(key, delta=1, ttl=None): adds delta atomically across the pool and returns the "
     "result; a missing key counts from 0 (and gets ttl)"},
    {"clear", cache_clear, METH_NOARGS, "clear(): removes every key of this pool"},
    {"stats", cache_stats, METH_NOARGS,
     "stats(): entries, bytes, limit, entry_limit, hits, misses, evictions, expired, queues"},
    {NULL},
};

static PyType_Slot cache_slots[] = {
    {Py_tp_doc, "The pool's shared cache: str keys, values copied in and out by value."},
    {Py_tp_methods, cache_methods},
    {Py_tp_dealloc, plain_dealloc},
    {Py_sq_length, cache_len},
    {Py_sq_contains, cache_contains},
    {0, NULL},
};

PyType_Spec si_shared_cache_spec = {
    .name = "mod_subinterp.shared.Cache",
    .basicsize = sizeof(si_shared_cache),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = cache_slots,
};

/* --- queues --------------------------------------------------------------------------------- */

/* Queue(name, maxsize=None): the pool's queue called name, made with maxsize (default 1000) if
 * no interpreter made it yet. */
static PyObject *queue_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "maxsize", NULL};
    PyObject *name, *maxsize_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|O:Queue", kwlist, &name, &maxsize_obj))
        return NULL;
    Py_ssize_t maxsize = SI_QUEUE_DEFAULT_MAXSIZE, len;
    if (maxsize_obj != Py_None) {
        maxsize = PyLong_AsSsize_t(maxsize_obj);
        if (maxsize == -1 && PyErr_Occurred())
            return NULL;
        if (maxsize < 1 || maxsize > SI_QUEUE_MAXSIZE_MAX) {
            PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.Queue: maxsize must be 1 to "
                         "%d (a shared queue is bounded)", SI_QUEUE_MAXSIZE_MAX);
            return NULL;
        }
    }
    const char *text = PyUnicode_AsUTF8AndSize(name, &len);
    if (!text)
        return NULL;
    if (len == 0 || len > SI_QUEUE_NAME_MAX || strlen(text) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.Queue: a name is 1 to %d bytes "
                     "without NUL", SI_QUEUE_NAME_MAX);
        return NULL;
    }
    si_store *store = store_in(type);
    if (!store)
        return NULL;
    size_t existing = 0;
    si_queue *queue;
    Py_BEGIN_ALLOW_THREADS   /* the queue list's lock is the store's */
    queue = si_queue_open(store, text, (size_t)maxsize, &existing);
    Py_END_ALLOW_THREADS
    if (!queue) {
        PyErr_Format(PyExc_RuntimeError, "mod_subinterp.shared.Queue: %R could not be made (no "
                     "memory, or the pool already has %d queues)", name, SI_QUEUES_MAX);
        return NULL;
    }
    if (maxsize_obj != Py_None && existing != (size_t)maxsize) {
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.Queue: %R exists with maxsize=%zu, "
                     "not %zd", name, existing, maxsize);
        return NULL;
    }
    si_shared_queue *self = (si_shared_queue *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    self->queue = queue;
    self->name = Py_NewRef(name);
    self->maxsize = (Py_ssize_t)existing;
    return (PyObject *)self;
}

static void queue_dealloc(si_shared_queue *self)
{
    PyTypeObject *type = Py_TYPE(self);
    Py_CLEAR(self->name);
    type->tp_free(self);
    Py_DECREF(type);
}

/* Raises queue.Full or queue.Empty, the standard library's, so that code written for
 * queue.Queue catches them unchanged. */
static PyObject *raise_from_queue_module(const char *name)
{
    PyObject *module = PyImport_ImportModule("queue");
    PyObject *exc = module ? PyObject_GetAttrString(module, name) : NULL;
    if (exc)
        PyErr_SetNone(exc);
    Py_XDECREF(exc);
    Py_XDECREF(module);
    return NULL;
}

/* Between wait slices, with the GIL: -1 with an exception if the wait must end. */
static int interrupted(si_module_state *st)
{
    if (st->ending) {
        PyErr_SetString(PyExc_SystemExit, "mod_subinterp: this interpreter is ending "
                        "(recycling, reloading or child exit); a shared.Queue wait ended");
        return -1;
    }
    /* Calling a Python function runs its RESUME, where the eval loop delivers a pending
     * asynchronous exception: a RequestTimeout the deadline thread sent this request. */
    PyObject *rv = PyObject_CallNoArgs(st->poll);
    Py_XDECREF(rv);
    return rv ? 0 : -1;
}

/* block, timeout as queue.Queue takes them: the deadline (INT64_MAX: none), 0 when not
 * blocking, -1 with ValueError. */
static int deadline_of(int block, PyObject *timeout, int64_t *deadline)
{
    *deadline = block ? INT64_MAX : 0;
    if (!block || timeout == Py_None)
        return 0;
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (!(seconds >= 0) || !isfinite(seconds)) {
        PyErr_SetString(PyExc_ValueError, "'timeout' must be a non-negative number");
        return -1;
    }
    /* As threading's locks and queue.Queue do: a timeout past what the clock can count is an
     * OverflowError, not a deadline that wrapped into the past (an immediate Empty). */
    int64_t now = si_store_now();
    if (seconds * 1e9 >= (double)(INT64_MAX - now)) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return -1;
    }
    *deadline = now + (int64_t)(seconds * 1e9);
    return 0;
}

/* Runs one put or get: a try with the GIL, then (if it must wait) slices without it. */
static si_store_status queue_call(si_shared_queue *self, si_item *item, si_item **out,
                                  int64_t deadline, int *failed)
{
    si_module_state *st = state_of((PyObject *)self);
    si_store_status rc = item ? si_queue_put(self->queue, item, 0, 0)
                              : si_queue_get(self->queue, 0, 0, out);
    *failed = 0;
    while (rc == SI_STORE_LOCKED || (rc == SI_STORE_TIMEOUT && deadline)) {
        int64_t now = si_store_now();
        if (rc == SI_STORE_TIMEOUT && now >= deadline)
            break;
        int64_t until = !deadline ? 0
                        : deadline - now < SI_WAIT_SLICE ? deadline : now + SI_WAIT_SLICE;
        Py_BEGIN_ALLOW_THREADS
        rc = item ? si_queue_put(self->queue, item, 1, until)
                  : si_queue_get(self->queue, 1, until, out);
        Py_END_ALLOW_THREADS
        if (rc == SI_STORE_TIMEOUT && deadline && interrupted(st) < 0) {
            *failed = 1;
            break;
        }
    }
    return rc;
}

static PyObject *queue_put_impl(si_shared_queue *self, PyObject *value, int block,
                                PyObject *timeout)
{
    int64_t deadline;
    if (deadline_of(block, timeout, &deadline) < 0)
        return NULL;
    Py_ssize_t size = si_value_size(value);
    if (size < 0)
        return NULL;
    if ((size_t)size > SI_ITEM_MAX) {
        PyErr_Format(PyExc_ValueError, "mod_subinterp.shared.Queue.put: an item of %zd bytes "
                     "is over the limit of %zu", size, SI_ITEM_MAX);
        return NULL;
    }
    si_item *item = si_item_new(size);
    if (!item)
        return PyErr_NoMemory();
    size_t len;
    if (si_value_write(value, si_item_data(item, &len)) < 0) {
        si_item_free(item);
        return NULL;
    }
    int failed;
    si_store_status rc = queue_call(self, item, NULL, deadline, &failed);
    if (rc == SI_STORE_OK)
        Py_RETURN_NONE;
    si_item_free(item);
    if (failed)
        return NULL;
    if (rc == SI_STORE_TIMEOUT)
        return raise_from_queue_module("Full");
    return store_error(rc, "Queue.put");
}

static PyObject *queue_get_impl(si_shared_queue *self, int block, PyObject *timeout)
{
    int64_t deadline;
    if (deadline_of(block, timeout, &deadline) < 0)
        return NULL;
    si_item *item = NULL;
    int failed;
    si_store_status rc = queue_call(self, NULL, &item, deadline, &failed);
    if (rc == SI_STORE_OK) {
        size_t len;
        unsigned char *data = si_item_data(item, &len);
        PyObject *value = si_value_read(data, len);
        si_item_free(item);
        return value;
    }
    if (failed)
        return NULL;
    if (rc == SI_STORE_TIMEOUT)
        return raise_from_queue_module("Empty");
    return store_error(rc, "Queue.get");
}

static PyObject *queue_put(si_shared_queue *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"item", "block", "timeout", NULL};
    PyObject *value, *timeout = Py_None;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|pO:put", kwlist, &value, &block, &timeout))
        return NULL;
    return queue_put_impl(self, value, block, timeout);
}

static PyObject *queue_put_nowait(si_shared_queue *self, PyObject *value)
{
    return queue_put_impl(self, value, 0, Py_None);
}

static PyObject *queue_get(si_shared_queue *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"block", "timeout", NULL};
    PyObject *timeout = Py_None;
    int block = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|pO:get", kwlist, &block, &timeout))
        return NULL;
    return queue_get_impl(self, block, timeout);
}

static PyObject *queue_get_nowait(si_shared_queue *self, PyObject *unused)
{
    return queue_get_impl(self, 0, Py_None);
}

static Py_ssize_t queue_length(si_shared_queue *self)
{
    size_t n;
    Py_BEGIN_ALLOW_THREADS
    n = si_queue_size(self->queue);
    Py_END_ALLOW_THREADS
    return (Py_ssize_t)n;
}

static PyObject *queue_qsize(si_shared_queue *self, PyObject *unused)
{
    return PyLong_FromSsize_t(queue_length(self));
}

static PyObject *queue_empty(si_shared_queue *self, PyObject *unused)
{
    return PyBool_FromLong(queue_length(self) == 0);
}

static PyObject *queue_full(si_shared_queue *self, PyObject *unused)
{
    return PyBool_FromLong(queue_length(self) >= self->maxsize);
}

static PyObject *queue_repr(si_shared_queue *self)
{
    return PyUnicode_FromFormat("<mod_subinterp.shared.Queue %R maxsize=%zd>", self->name,
                                self->maxsize);
}

static PyMethodDef queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_VARARGS | METH_KEYWORDS,
     "put(item, block=True, timeout=None): as queue.Queue.put, raising queue.Full"},
    {"put_nowait", (PyCFunction)queue_put_nowait, METH_O, "put(item, block=False)"},
    {"get", (PyCFunction)(void (*)(void))queue_get, METH_VARARGS | METH_KEYWORDS,
     "get(block=True, timeout=None): as queue.Queue.get, raising queue.Empty"},
    {"get_nowait", (PyCFunction)queue_get_nowait, METH_NOARGS, "get(block=False)"},
    {"qsize", (PyCFunction)queue_qsize, METH_NOARGS, "items now in the queue"},
    {"empty", (PyCFunction)queue_empty, METH_NOARGS, "qsize() == 0"},
    {"full", (PyCFunction)queue_full, METH_NOARGS, "qsize() >= maxsize"},
    {NULL},
};

static PyMemberDef queue_members[] = {
    {"name", Py_T_OBJECT_EX, offsetof(si_shared_queue, name), Py_READONLY, "its pool-wide name"},
    {"maxsize", Py_T_PYSSIZET, offsetof(si_shared_queue, maxsize), Py_READONLY,
     "how many items it holds at most"},
    {NULL},
};

static PyType_Slot queue_slots[] = {
    {Py_tp_doc, "Queue(name, maxsize=None): the pool's bounded queue called name; items are "
                "copied in and out by value."},
    {Py_tp_new, queue_new},
    {Py_tp_dealloc, queue_dealloc},
    {Py_tp_repr, queue_repr},
    {Py_tp_methods, queue_methods},
    {Py_tp_members, queue_members},
    {0, NULL},
};

PyType_Spec si_shared_queue_spec = {
    .name = "mod_subinterp.shared.Queue",
    .basicsize = sizeof(si_shared_queue),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = queue_slots,
};

/* --- modules -------------------------------------------------------------------------------- */

int si_shared_module_exec(PyObject *module, si_module_state *st)
{
    st->cache_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &si_shared_cache_spec,
                                                              NULL);
    st->queue_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &si_shared_queue_spec,
                                                              NULL);
    if (!st->cache_type || !st->queue_type)
        return -1;
    PyObject *code = Py_CompileString("lambda: None", "<mod_subinterp poll>", Py_eval_input);
    PyObject *globals = code ? PyDict_New() : NULL;
    if (globals && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0)
        st->poll = PyEval_EvalCode(code, globals, NULL);
    Py_XDECREF(globals);
    Py_XDECREF(code);
    if (!st->poll || !(st->shared = PyModule_New("mod_subinterp.shared")))
        return -1;
    PyObject *cache = st->cache_type->tp_alloc(st->cache_type, 0);
    int rc = cache ? PyModule_AddObjectRef(st->shared, "cache", cache) : -1;
    Py_XDECREF(cache);
    if (rc < 0 || PyModule_AddObjectRef(st->shared, "Queue", (PyObject *)st->queue_type) < 0
        || PyModule_AddStringConstant(st->shared, "__doc__", "The pool-wide shared cache and "
                                      "queues of mod_subinterp (docs/shared-state.md).") < 0)
        return -1;
    return 0;
}

static int public_exec(PyObject *module)
{
    si_module_state *st;
    PyObject *internal = si_module_import(&st);
    if (!internal)
        return -1;
    PyObject *modules = PyImport_GetModuleDict();   /* borrowed */
    int rc = PyModule_AddObjectRef(module, "shared", st->shared) < 0
             || PyModule_AddObjectRef(module, "RequestTimeout",
                                      (PyObject *)st->request_timeout_type) < 0
             || PyModule_AddStringConstant(module, "version", SI_VERSION) < 0
             /* so that `import mod_subinterp.shared` and `from mod_subinterp.shared import
              * cache` work too */
             || PyDict_SetItemString(modules, "mod_subinterp.shared", st->shared) < 0 ? -1 : 0;
    Py_DECREF(internal);
    return rc;
}

static PyModuleDef_Slot public_slots[] = {
    {Py_mod_exec, public_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef public_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mod_subinterp",
    .m_doc = "mod_subinterp's API for apps: shared (the pool-wide cache and queues), version, "
             "RequestTimeout.",
    .m_size = 0,
    .m_slots = public_slots,
};

PyObject *si_public_module_init(void)
{
    return PyModuleDef_Init(&public_def);
}
