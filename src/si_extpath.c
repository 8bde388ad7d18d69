/* si_extpath.c — pools' paths for extension inits run in the main interpreter (see the header).
 *
 * Isolation: a module found this way is loaded into the main interpreter (that is where CPython
 * runs the init) and stays in its sys.modules, so a gil=main pool that later imports the same
 * top-level name gets that copy.  Nothing else changes: the finder answers only during an init
 * made for another interpreter, never for the main interpreter's own imports, and only from the
 * paths of the pool that interpreter belongs to.  docs/compatibility.md says so.
 */
#include "si_extpath.h"
#include "si_tstate.h"

#include <pthread.h>

typedef struct {
    PyInterpreterState *interp;
    si_pool_spec *spec;
} si_interp_spec;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static si_interp_spec *known;          /* malloc'd; every thread may register */
static int known_count, known_capacity;
static apr_array_header_t *global_paths;   /* set once, before any interpreter exists */

void si_extpath_register(PyInterpreterState *interp, si_pool_spec *spec)
{
    si_plock(&lock);
    if (known_count == known_capacity) {
        int capacity = known_capacity ? 2 * known_capacity : 16;
        si_interp_spec *grown = realloc(known, capacity * sizeof(*grown));
        if (grown) {
            known = grown;
            known_capacity = capacity;
        }
    }
    if (known_count < known_capacity)
        known[known_count++] = (si_interp_spec){.interp = interp, .spec = spec};
    si_punlock(&lock);
}

void si_extpath_unregister(PyInterpreterState *interp)
{
    si_plock(&lock);
    for (int i = 0; i < known_count; i++)
        if (known[i].interp == interp) {
            known[i] = known[--known_count];
            break;
        }
    si_punlock(&lock);
}

void si_extpath_reset(void)
{
    si_plock(&lock);
    free(known);
    known = NULL;
    known_count = known_capacity = 0;
    si_punlock(&lock);
}

static si_pool_spec *spec_of(PyInterpreterState *interp)
{
    si_pool_spec *spec = NULL;
    si_plock(&lock);
    for (int i = 0; i < known_count && !spec; i++)
        if (known[i].interp == interp)
            spec = known[i].spec;
    si_punlock(&lock);
    return spec;
}

static int append_path(PyObject *list, const char *path)
{
    PyObject *item = PyUnicode_DecodeFSDefault(path);
    int rc = item ? PyList_Append(list, item) : -1;
    Py_XDECREF(item);
    return rc;
}

/* The interpreter whose extension loader is running an init on this thread, or NULL. */
static _Thread_local PyInterpreterState *init_for;

PyObject *si_extpath_mark_init(PyObject *module, PyObject *on)
{
    init_for = PyObject_IsTrue(on) ? PyInterpreterState_Get() : NULL;
    Py_RETURN_NONE;
}

PyObject *si_extpath_paths(PyObject *module, PyObject *unused)
{
    /* CPython swapped in a main-interpreter state for the init, and rebound the thread's
     * gilstate to it.  The interpreter that asked is the one whose extension loader marked
     * this thread (any thread: an app's threading.Thread too), else our record of a worker
     * thread's binding. */
    PyInterpreterState *origin = init_for ? init_for : si_tstate_published_interp();
    if (!origin || origin == PyInterpreterState_Get())
        Py_RETURN_NONE;
    si_pool_spec *spec = spec_of(origin);
    if (!spec)
        Py_RETURN_NONE;
    PyObject *paths = PyList_New(0);
    for (int i = 0; paths && i < spec->python_path->nelts; i++)
        if (append_path(paths, APR_ARRAY_IDX(spec->python_path, i, const char *)) < 0)
            Py_CLEAR(paths);
    if (paths && spec->virtualenv) {
        char site[4096];
        apr_snprintf(site, sizeof(site), "%s/lib/python%d.%d/site-packages", spec->virtualenv,
                     PY_MAJOR_VERSION, PY_MINOR_VERSION);
        if (append_path(paths, site) < 0)
            Py_CLEAR(paths);
    }
    for (int i = 0; paths && global_paths && i < global_paths->nelts; i++)
        if (append_path(paths, APR_ARRAY_IDX(global_paths, i, const char *)) < 0)
            Py_CLEAR(paths);
    return paths;
}

int si_extpath_install(apr_array_header_t *global_path)
{
    global_paths = global_path;
    static const char code[] =
        "import sys\n"
        "def _finder():\n"
        "    import importlib.machinery, _subinterp\n"
        "    class PoolPathsForExtensionInit:\n"
        "        '''mod_subinterp: finds what an extension init imports for a pool (see\n"
        "        docs/compatibility.md); answers only while CPython runs such an init here.'''\n"
        "        @staticmethod\n"
        "        def find_spec(name, path=None, target=None):\n"
        "            if path is not None:\n"
        "                return None\n"
        "            paths = _subinterp._pool_paths_for_extension_init()\n"
        "            if not paths:\n"
        "                return None\n"
        "            return importlib.machinery.PathFinder.find_spec(name, paths)\n"
        "    return PoolPathsForExtensionInit\n"
        "sys.meta_path.append(_finder())\n"
        "del _finder\n";
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *globals = main ? PyModule_GetDict(main) : NULL;
    PyObject *rv = globals ? PyRun_String(code, Py_file_input, globals, globals) : NULL;
    Py_XDECREF(rv);
    return rv ? 0 : -1;
}
