/* si_extfirst.c — which interpreter loaded each extension module first (see the header). */
#include "si_extfirst.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name;            /* malloc'd */
    const char *pool;      /* configuration memory */
    int index;
} si_first_load;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static si_first_load *known;   /* malloc'd: every loading thread adds; freed at child exit */
static int known_count, known_capacity;

static int noted_locked(const char *name)
{
    for (int i = 0; i < known_count; i++)
        if (strcmp(known[i].name, name) == 0)
            return 1;
    return 0;
}

static void add_locked(const char *name, const char *pool, int index)
{
    if (noted_locked(name))
        return;
    if (known_count == known_capacity) {
        int capacity = known_capacity ? 2 * known_capacity : 64;
        si_first_load *grown = realloc(known, capacity * sizeof(*grown));
        if (!grown)
            return;
        known = grown;
        known_capacity = capacity;
    }
    char *copy = strdup(name);
    if (copy)
        known[known_count++] = (si_first_load){.name = copy, .pool = pool, .index = index};
}

/* Whether module `name` (a sys.modules value) was loaded from an extension file. */
static int is_extension(PyObject *module)
{
    PyObject *spec = PyObject_GetAttrString(module, "__spec__");
    PyObject *origin = spec && spec != Py_None ? PyObject_GetAttrString(spec, "origin") : NULL;
    const char *text = origin && PyUnicode_Check(origin) ? PyUnicode_AsUTF8(origin) : NULL;
    int extension = text && strstr(text, ".so") != NULL;
    Py_XDECREF(origin);
    Py_XDECREF(spec);
    PyErr_Clear();
    return extension;
}

void si_extfirst_note(const char *pool, int index)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *items = modules ? PyDict_Items(modules) : NULL;
    for (Py_ssize_t i = 0; items && i < PyList_GET_SIZE(items); i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        PyObject *key = PyTuple_GET_ITEM(pair, 0), *module = PyTuple_GET_ITEM(pair, 1);
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!name || !PyModule_Check(module) || !is_extension(module))
            continue;
        si_plock(&lock);
        add_locked(name, pool, index);
        si_punlock(&lock);
    }
    Py_XDECREF(items);
    PyErr_Clear();
}

/* Whether the traceback names `package` as a word: a path component or a dotted name. */
static int names_package(const char *text, const char *package, size_t len)
{
    for (const char *at = strstr(text, package); at; at = strstr(at + 1, package)) {
        char before = at == text ? ' ' : at[-1], after = at[len];
        int starts = !(before == '_' || before == '.' || (before >= 'a' && before <= 'z')
                       || (before >= 'A' && before <= 'Z') || (before >= '0' && before <= '9'));
        int ends = after == '/' || after == '.' || after == ' ' || after == '\n' || after == '\''
                   || after == '"' || after == ',' || after == '\0';
        if (starts && ends)
            return 1;
    }
    return 0;
}

const char *si_extfirst_culprit(apr_pool_t *p, const char *text, const char *pool, int index)
{
    PyObject *modules = PyImport_GetModuleDict();
    const char *found = NULL;
    si_plock(&lock);
    for (int i = 0; i < known_count && !found; i++) {
        si_first_load *k = &known[i];
        if (strcmp(k->pool, pool) == 0 && k->index == index)
            continue;
        size_t len = strcspn(k->name, ".");
        char *package = apr_pstrmemdup(p, k->name, len);
        if (!names_package(text, package, len))
            continue;
        PyObject *held = modules ? PyDict_GetItemString(modules, k->name) : NULL;
        if (!held)
            found = apr_psprintf(p, "%s, loaded first by pool %s interpreter %d", k->name,
                                 k->pool, k->index);
    }
    si_punlock(&lock);
    PyErr_Clear();
    return found;
}

void si_extfirst_reset(void)
{
    si_plock(&lock);
    for (int i = 0; i < known_count; i++)
        free(known[i].name);
    free(known);
    known = NULL;
    known_count = known_capacity = 0;
    si_punlock(&lock);
}
