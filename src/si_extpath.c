/* si_extpath.c — pools' paths for extension inits run in the main interpreter (see the header).
 *
 * Isolation: a module found this way is loaded into the main interpreter (that is where CPython
 * runs the init), and leaves its sys.modules when the init ends (the extension keeps its own
 * references), so neither another pool's init nor a gil=main pool gets that copy.  The finder
 * answers only during an init made for another interpreter, never for the main interpreter's
 * own imports, and only from the paths of the pool that interpreter belongs to.
 * docs/compatibility.md says so.
 */
#include "si_extpath.h"
#include "si_tstate.h"

#include <pthread.h>
#include <string.h>

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

/* The interpreter whose extension loader is running an init on this thread, or NULL, and the
 * top-level names the finder found for that init (malloc'd). */
static _Thread_local PyInterpreterState *init_for;
static _Thread_local char **found;
static _Thread_local int found_count, found_capacity;

PyObject *si_extpath_note_found(PyObject *module, PyObject *name)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!text)
        return NULL;
    if (found_count == found_capacity) {
        int capacity = found_capacity ? 2 * found_capacity : 8;
        char **grown = realloc(found, capacity * sizeof(*grown));
        if (!grown)
            return PyErr_NoMemory();
        found = grown;
        found_capacity = capacity;
    }
    if (!(found[found_count] = strdup(text)))
        return PyErr_NoMemory();
    found_count++;
    Py_RETURN_NONE;
}

static int is_found(const char *key)
{
    for (int i = 0; i < found_count; i++) {
        size_t n = strlen(found[i]);
        if (strncmp(key, found[i], n) == 0 && (key[n] == '\0' || key[n] == '.'))
            return 1;
    }
    return 0;
}

/* Drops what the finder found for the init that just ended (and their submodules) from the
 * main interpreter's sys.modules: the extension keeps its references, and the next pool's init
 * that imports the same name finds its own copy instead of this pool's.  Called attached to
 * the importing sub-interpreter; borrows the main interpreter as CPython does for the init
 * itself (a fresh state, deleted after; the caller's state is bound again when it returns). */
static void forget_found(void)
{
    PyThreadState *self = PyEval_SaveThread();
    PyThreadState *main = PyThreadState_New(PyInterpreterState_Main());
    if (main) {
        PyEval_RestoreThread(main);
        PyObject *modules = PyImport_GetModuleDict();
        PyObject *keys = modules ? PyDict_Keys(modules) : NULL;
        for (Py_ssize_t i = 0; keys && i < PyList_GET_SIZE(keys); i++) {
            PyObject *key = PyList_GET_ITEM(keys, i);
            const char *text = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
            if (text && is_found(text) && PyDict_DelItem(modules, key) < 0)
                PyErr_Clear();
        }
        PyErr_Clear();
        Py_XDECREF(keys);
        PyThreadState_Clear(main);
        PyThreadState_DeleteCurrent();
    }
    PyEval_RestoreThread(self);
}

PyObject *si_extpath_mark_init(PyObject *module, PyObject *on)
{
    int starting = PyObject_IsTrue(on);
    init_for = starting ? PyInterpreterState_Get() : NULL;
    if (!starting && found_count > 0)
        forget_found();
    for (int i = 0; i < found_count; i++)
        free(found[i]);
    found_count = 0;
    if (!starting) {
        free(found);
        found = NULL;
        found_capacity = 0;
    }
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
        "            spec = importlib.machinery.PathFinder.find_spec(name, paths)\n"
        "            if spec is not None:\n"
        "                _subinterp._extension_init_found(name)\n"
        "            return spec\n"
        "    return PoolPathsForExtensionInit\n"
        "sys.meta_path.append(_finder())\n"
        "del _finder\n";
    PyObject *main = PyImport_AddModule("__main__");
    PyObject *globals = main ? PyModule_GetDict(main) : NULL;
    PyObject *rv = globals ? PyRun_String(code, Py_file_input, globals, globals) : NULL;
    Py_XDECREF(rv);
    return rv ? 0 : -1;
}
