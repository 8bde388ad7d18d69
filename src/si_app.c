/* si_app.c — what runs inside an interpreter at start-up: stdout/stderr into the error log,
 * signals restricted, sys.path set-up, app script loading (traced in the start-up probe);
 * traceback text.
 *
 * The loader is a few lines of Python run in each interpreter, so apps get an ordinary module:
 * __file__, __spec__, relative imports from the script's directory, cached bytecode.
 */
#include "si_app.h"
#include "si_exchange.h"
#include "si_errors.h"
#include "si_pool.h"
#include "si_extfirst.h"

#include <string.h>
#include <unistd.h>

/* Apache truncates one log entry at MAX_STRING_LEN (8 KiB); keep a traceback well inside it. */
#define SI_TRACEBACK_HEAD 1500
#define SI_TRACEBACK_TAIL 5000

static const char loader_source[] =
    "import importlib.machinery, importlib.util, os, site, sys\n"
    "def _isolated(venv_site):\n"
    "    cfg = os.path.join(venv_site, os.pardir, os.pardir, os.pardir, 'pyvenv.cfg')\n"
    "    try:\n"
    "        with open(cfg, encoding='utf-8') as f:\n"
    "            lines = f.read().splitlines()\n"
    "    except OSError:\n"
    "        return False\n"
    "    for line in lines:\n"
    "        key, eq, value = line.partition('=')\n"
    "        if eq and key.strip().lower() == 'include-system-site-packages':\n"
    "            return value.strip().lower() != 'true'\n"
    "    return True\n"
    "def prepare(paths, venv_site):\n"
    "    if venv_site:\n"
    "        if _isolated(venv_site):\n"
    "            base = set(site.getsitepackages([sys.base_prefix, sys.base_exec_prefix]))\n"
    "            if site.ENABLE_USER_SITE:\n"
    "                base.add(site.getusersitepackages())\n"
    "            base = {os.path.realpath(p) for p in base}\n"
    "            sys.path[:] = [p for p in sys.path if os.path.realpath(p) not in base]\n"
    "        before = list(sys.path)\n"
    "        site.addsitedir(venv_site)\n"
    "        sys.path[:] = [p for p in sys.path if p not in before] + before\n"
    "    sys.path[0:0] = [p for p in paths if p not in sys.path]\n"
    "def load(name, path, attr):\n"
    "    here = os.path.dirname(path)\n"
    "    if here not in sys.path:\n"
    "        sys.path.insert(0, here)\n"
    "    loader = importlib.machinery.SourceFileLoader(name, path)\n"
    "    spec = importlib.util.spec_from_file_location(name, path, loader=loader)\n"
    "    module = importlib.util.module_from_spec(spec)\n"
    "    sys.modules[name] = module\n"
    "    try:\n"
    "        loader.exec_module(module)\n"
    "    except BaseException:\n"
    "        sys.modules.pop(name, None)\n"
    "        raise\n"
    "    if attr is None:\n"
    "        return module\n"
    "    app = getattr(module, attr, None)\n"
    "    if app is None:\n"
    "        raise LookupError(f'{path} defines no WSGI callable named {attr!r}')\n"
    "    if not callable(app):\n"
    "        raise TypeError(f'{path}: {attr} is not callable')\n"
    "    return app\n"
    "_files = {}\n"
    "_files_lock = None\n"
    "def load_file(path, attr, mtime):\n"
    "    global _files_lock\n"
    "    if _files_lock is None:\n"
    "        import threading\n"
    "        _files_lock = threading.Lock()\n"
    "    known = _files.get((path, attr))\n"
    "    if known is not None and (mtime is None or known[0] == mtime):\n"
    "        return known[1]\n"
    "    with _files_lock:\n"
    "        known = _files.get((path, attr))\n"
    "        if known is not None and (mtime is None or known[0] == mtime):\n"
    "            return known[1]\n"
    "        name = '_subinterp_file_' + os.fsencode(path).hex()\n"
    "        app = load(name, path, attr)\n"
    "        _files[(path, attr)] = (mtime, app)\n"
    "        return app\n"
    "def restrict_signals(ignored):\n"
    "    import signal\n"
    "    def signal_(signalnum, handler):\n"
    "        caller_globals = sys._getframe(1).f_globals\n"
    "        caller = caller_globals.get('__file__') or caller_globals.get('__name__', '?')\n"
    "        ignored(int(signalnum), caller)\n"
    "        return signal.getsignal(signalnum)\n"
    "    signal.signal = signal_\n"
    "def mark_extension_inits(mark):\n"
    "    create = importlib.machinery.ExtensionFileLoader.create_module\n"
    "    def create_module(self, spec):\n"
    "        mark(True)\n"
    "        try:\n"
    "            return create(self, spec)\n"
    "        finally:\n"
    "            mark(False)\n"
    "    importlib.machinery.ExtensionFileLoader.create_module = create_module\n"
    "def unpin_new_threads():\n"
    "    import os, threading\n"
    "    cpus = os.sched_getaffinity(0)\n"
    "    inner = threading.Thread._bootstrap_inner\n"
    "    def _bootstrap_inner(self):\n"
    "        try:\n"
    "            os.sched_setaffinity(0, cpus)\n"
    "        except OSError:\n"
    "            pass\n"
    "        inner(self)\n"
    "    threading.Thread._bootstrap_inner = _bootstrap_inner\n";

/* The loader's function `name` in a fresh namespace (new reference). */
static PyObject *loader_function(const char *name)
{
    PyObject *globals = PyDict_New(), *fn = NULL;
    if (!globals)
        return NULL;
    PyObject *code = Py_CompileString(loader_source, "<mod_subinterp loader>", Py_file_input);
    PyObject *rv = code ? PyEval_EvalCode(code, globals, globals) : NULL;
    Py_XDECREF(code);
    if (rv) {
        Py_DECREF(rv);
        fn = Py_XNewRef(PyDict_GetItemString(globals, name));
    }
    Py_DECREF(globals);
    return fn;
}

static PyObject *loader_call(const char *function, PyObject *args)
{
    PyObject *fn = loader_function(function);
    PyObject *result = fn ? PyObject_CallObject(fn, args) : NULL;
    Py_XDECREF(fn);
    return result;
}

PyObject *si_app_file_loader(void)
{
    return loader_function("load_file");
}

PyObject *si_app_load_file(PyObject *file_loader, const char *path, const char *callable,
                           apr_time_t mtime)
{
    PyObject *stamp = mtime ? PyLong_FromLongLong((long long)mtime) : Py_NewRef(Py_None);
    if (!stamp)
        return NULL;
    PyObject *path_obj = PyUnicode_DecodeFSDefault(path);
    PyObject *app = path_obj ? PyObject_CallFunction(file_loader, "OsO", path_obj, callable,
                                                     stamp) : NULL;
    Py_XDECREF(path_obj);
    Py_DECREF(stamp);
    return app;
}

static PyObject *str_list(apr_array_header_t *items)
{
    PyObject *list = PyList_New(0);
    for (int i = 0; list && items && i < items->nelts; i++) {
        PyObject *s = PyUnicode_DecodeFSDefault(APR_ARRAY_IDX(items, i, const char *));
        if (!s || PyList_Append(list, s) < 0)
            Py_CLEAR(list);
        Py_XDECREF(s);
    }
    return list;
}

int si_app_prepare_path(apr_pool_t *p, apr_array_header_t *global_path, si_pool_spec *spec)
{
    apr_array_header_t *paths = apr_array_append(p, spec->python_path, global_path);
    const char *venv_site = spec->virtualenv
        ? apr_psprintf(p, "%s/lib/python%d.%d/site-packages", spec->virtualenv, PY_MAJOR_VERSION,
                       PY_MINOR_VERSION)
        : NULL;
    PyObject *list = str_list(paths);
    if (!list)
        return -1;
    PyObject *args = Py_BuildValue("(Nz)", list, venv_site);
    if (!args)
        return -1;
    PyObject *rv = loader_call("prepare", args);
    Py_DECREF(args);
    Py_XDECREF(rv);
    return rv ? 0 : -1;
}

PyObject *si_app_signal_ignored(PyObject *module, PyObject *args)
{
    int signum;
    const char *caller;
    if (!PyArg_ParseTuple(args, "is", &signum, &caller))
        return NULL;
    si_module_state *st = PyModule_GetState(module);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, st && st->log_server ? st->log_server : NULL,
                 "SI0320: %s registered a handler for signal %d (%s); ignored: signals belong "
                 "to Apache", caller, signum, strsignal(signum));
    Py_RETURN_NONE;
}

/* Calls the loader's function `name` with the _subinterp module's function `callback`. */
static int loader_call_with(PyObject *module, const char *callback, const char *name)
{
    PyObject *fn = PyObject_GetAttrString(module, callback);
    PyObject *args = fn ? PyTuple_Pack(1, fn) : NULL;
    PyObject *rv = args ? loader_call(name, args) : NULL;
    Py_XDECREF(rv);
    Py_XDECREF(args);
    Py_XDECREF(fn);
    return rv ? 0 : -1;
}

/* Signals belong to Apache: CPython refuses signal.signal() outside the main interpreter's main
 * thread (an app that registers one at import would fail to load), and in the main interpreter
 * (gil=main) it would replace Apache's own handlers.  As mod_wsgi's WSGIRestrictSignal does, the
 * registration is ignored (the loader's restrict_signals), with a warning naming the module and
 * the signal. */
static int restrict_signals(PyObject *module)
{
    return loader_call_with(module, "_signal_ignored", "restrict_signals");
}

/* cpu-affinity=on pins a request's thread to its slot's CPU, and Linux gives a thread the CPU set
 * of the thread that creates it: a ThreadPoolExecutor made in a request would stay on that one
 * CPU for life.  Threads started through threading (executors included) take back the set the
 * interpreter was set up with (never in a request: the child's, unpinned) as they start. */
static int unpin_new_threads(void)
{
    PyObject *args = PyTuple_New(0);
    PyObject *rv = args ? loader_call("unpin_new_threads", args) : NULL;
    Py_XDECREF(rv);
    Py_XDECREF(args);
    return rv ? 0 : -1;
}

/* CPython runs an extension's init in the main interpreter, where si_extpath's finder must know
 * which pool it runs for, whichever thread imports (si_extpath.h). */
static int mark_extension_inits(PyObject *module)
{
    return loader_call_with(module, "_extension_init", "mark_extension_inits");
}

int si_app_prepare_interpreter(PyObject *module, si_module_state *st, si_pool_spec *spec,
                               int index)
{
    st->log_server = spec->server;
    st->log_pool = spec->name;
    st->log_index = index;
    PyObject *out = si_errors_stream_new(st, spec->server, APLOG_NOTICE);
    /* stderr carries warnings (the warnings module), logging's last resort and unraisable
     * exceptions: warn, not error, which wsgi.errors and our own failures use. */
    PyObject *err = out ? si_errors_stream_new(st, spec->server, APLOG_WARNING) : NULL;
    int rc = err && PySys_SetObject("stdout", out) == 0 && PySys_SetObject("stderr", err) == 0
             && PySys_SetObject("__stdout__", out) == 0 && PySys_SetObject("__stderr__", err) == 0
             ? restrict_signals(module) : -1;
    if (rc == 0 && spec->cpu_affinity)
        rc = unpin_new_threads();
    if (rc == 0 && spec->gil != SI_GIL_MAIN)
        rc = mark_extension_inits(module);
    Py_XDECREF(out);
    Py_XDECREF(err);
    return rc;
}

/* The start-up probe's report pipe (si_probe.c), -1 elsewhere. */
static int trace_fd = -1;

void si_app_trace_imports(int fd)
{
    trace_fd = fd;
}

/* In a probe: each module's loading is bracketed in the report ("begin NAME" ... "end NAME"),
 * so the innermost unfinished one names what was being imported if the process dies, and each
 * file a module is loaded from is named ("file PATH"): the probe's cached verdict holds only
 * while none of them changed. */
void si_app_trace_begin(void)
{
    if (trace_fd < 0)
        return;
    char code[2048];
    apr_snprintf(code, sizeof(code),
        "import os as _os, sys as _sys\n"
        "class _SiProbeLoader:\n"
        "    def __init__(self, inner, name):\n"
        "        self._inner, self._name = inner, name.encode()\n"
        "    def __getattr__(self, attr):\n"
        "        return getattr(self._inner, attr)\n"
        "    def _traced(self, step, *args):\n"
        "        _os.write(%d, b'begin ' + self._name + b'\\n')\n"
        "        try:\n"
        "            result = getattr(self._inner, step)(*args)\n"
        "        except BaseException:\n"
        "            _os.write(%d, b'fail ' + self._name + b'\\n')\n"
        "            raise\n"
        "        _os.write(%d, b'end ' + self._name + b'\\n')\n"
        "        return result\n"
        "    def create_module(self, spec):\n"
        "        return self._traced('create_module', spec)\n"
        "    def exec_module(self, module):\n"
        "        return self._traced('exec_module', module)\n"
        "class _SiProbeTrace:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        for finder in _sys.meta_path:\n"
        "            find = getattr(finder, 'find_spec', None)\n"
        "            if finder is self or find is None:\n"
        "                continue\n"
        "            spec = find(name, path, target)\n"
        "            if spec is not None:\n"
        "                if spec.loader is not None and hasattr(spec.loader, 'exec_module'):\n"
        "                    spec.loader = _SiProbeLoader(spec.loader, name)\n"
        "                if spec.has_location and isinstance(spec.origin, str) \\\n"
        "                        and '\\n' not in spec.origin:\n"
        "                    _os.write(%d, b'file ' + _os.fsencode(spec.origin) + b'\\n')\n"
        "                return spec\n"
        "_sys.meta_path.insert(0, _SiProbeTrace())\n", trace_fd, trace_fd, trace_fd, trace_fd);
    if (PyRun_SimpleString(code) != 0)
        PyErr_Clear();
}

void si_app_trace_script(const si_mount_conf *mount)
{
    if (trace_fd < 0)
        return;
    char line[1024];
    int n = apr_snprintf(line, sizeof(line), "script %s\n", mount->script);
    if (write(trace_fd, line, n) < 0)
        return;   /* the parent went away: nothing to tell */
}

PyObject *si_app_load(si_mount_conf *mount)
{
    PyObject *args = Py_BuildValue("(ssz)", mount->module_name, mount->script, mount->callable);
    if (!args)
        return NULL;
    PyObject *app = loader_call("load", args);
    Py_DECREF(args);
    return app;
}

/* The module named by a "does not support loading in subinterpreters" ImportError anywhere in
 * the pending exception's chain (numpy wraps CPython's in its own), or NULL.  Leaves the
 * exception pending. */
static const char *refusing_module(apr_pool_t *p)
{
    PyObject *exc = PyErr_GetRaisedException(), *link = exc;
    const char *found = NULL;
    for (int depth = 0; link && depth < 8 && !found; depth++) {
        if (PyErr_GivenExceptionMatches(link, PyExc_ImportError)) {
            PyObject *text = PyObject_Str(link);
            const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
            /* CPython says "module X does not support loading in subinterpreters"; numpy
             * quotes that sentence inside its own message. */
            const char *phrase = msg ? strstr(msg, " does not support loading in subinterpreters")
                                     : NULL;
            if (phrase) {
                const char *start = phrase;
                while (start > msg && start[-1] != ' ')
                    start--;
                found = apr_pstrmemdup(p, start, phrase - start);
            }
            Py_XDECREF(text);
        }
        PyObject *next = PyException_GetCause(link);
        if (!next)
            next = PyException_GetContext(link);
        if (link != exc)
            Py_DECREF(link);
        link = next;
    }
    if (link && link != exc)
        Py_DECREF(link);
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
    return found;
}

/* What a failed load means for requests, for the log. */
static const char *consequence(const si_mount_conf *script)
{
    switch (script->kind) {
    case SI_SCRIPT_MOUNT:
        return "that mount answers 500";
    case SI_SCRIPT_HANDLER:
        return "that handler answers 500";
    case SI_SCRIPT_HOOKS:
        return "requests that need it answer 500";
    case SI_SCRIPT_IMPORT:
        return "the pool's apps load without it";
    case SI_SCRIPT_FILE:
        break;
    }
    return "it answers 500";
}

/* Messages of extensions that load in the first interpreter of a process only (Cython,
 * PyO3, numpy): the second importer fails, wherever it is. */
static const char *const once_per_process[] = {
    "Interpreter change detected",                 /* Cython */
    "more than once per process",                  /* numpy */
    "do not yet support subinterpreters",          /* PyO3 */
    "initialized once per interpreter process",    /* PyO3 */
    NULL,
};

static const char *once_per_process_phrase(const char *text)
{
    for (int i = 0; once_per_process[i]; i++)
        if (strstr(text, once_per_process[i]))
            return once_per_process[i];
    return NULL;
}

const char *si_app_log_load_failure(apr_pool_t *p, server_rec *s, request_rec *r,
                                    si_mount_conf *mount, int index)
{
    const char *refuser = refusing_module(p);
    if (refuser) {
        const char *text = si_exception_text(p);
        const char *last = strrchr(text, '\n');
        const char *why = apr_psprintf(p, "%s refuses own-GIL sub-interpreters", refuser);
        if (index == 0 || mount->kind == SI_SCRIPT_FILE)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "SI0303: pool %s: %s (imported by %s for "
                         "%s) refuses to load in own-GIL sub-interpreters; serve it from a pool "
                         "with gil=main (or gil=shared if it tolerates legacy sub-interpreters). "
                         "Until then %s. (%s)", mount->pool_spec->name, refuser, mount->script,
                         mount->label, consequence(mount), last ? last + 1 : text);
        return why;
    }
    const char *text = si_exception_text(p);
    const char *last = strrchr(text, '\n');
    if (once_per_process_phrase(text)) {
        const char *first = si_extfirst_culprit(p, text, mount->pool_spec->name, index);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "SI0308: pool %s interpreter %d: an extension "
                     "that %s imports loads in one interpreter per process only (\"%s\"), and "
                     "%s%s.  Give it one interpreter per process: interpreters=1 without "
                     "max-requests, and no other pool that imports it (or gil=main in a server "
                     "of its own)", mount->pool_spec->name, index, mount->script,
                     once_per_process_phrase(text), first ? first : "another interpreter of "
                     "this process loaded it first: another pool, another interpreter of this "
                     "pool, or the one this replaces", first ? " (and no other interpreter "
                     "can now)" : "");
    }
    if (r)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "SI0301: pool %s interpreter %d: loading %s "
                      "for %s failed; %s:\n%s", mount->pool_spec->name, index, mount->script,
                      mount->label, consequence(mount), text);
    else
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "SI0301: pool %s interpreter %d: loading %s "
                     "for %s failed; %s:\n%s", mount->pool_spec->name, index, mount->script,
                     mount->label, consequence(mount), text);
    return last ? last + 1 : text;
}

const char *si_exception_text(apr_pool_t *p)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (!exc)
        return "(no exception set)";
    const char *text = NULL;
    PyObject *traceback = PyImport_ImportModule("traceback"), *lines = NULL, *joined = NULL;
    if (traceback)
        lines = PyObject_CallMethod(traceback, "format_exception", "O", exc);
    if (lines) {
        PyObject *empty = PyUnicode_FromString("");
        joined = empty ? PyUnicode_Join(empty, lines) : NULL;
        Py_XDECREF(empty);
    }
    if (!joined) {
        PyErr_Clear();
        joined = PyObject_Repr(exc);   /* the traceback machinery itself failed */
    }
    const char *utf8 = joined ? PyUnicode_AsUTF8(joined) : NULL;
    if (utf8) {
        size_t len = strlen(utf8);
        while (len > 0 && (utf8[len - 1] == '\n' || utf8[len - 1] == ' '))
            len--;
        if (len > SI_TRACEBACK_HEAD + SI_TRACEBACK_TAIL)
            text = apr_psprintf(p, "%.*s\n  [... %zu bytes of traceback left out ...]\n%.*s",
                                SI_TRACEBACK_HEAD, utf8,
                                len - SI_TRACEBACK_HEAD - SI_TRACEBACK_TAIL,
                                SI_TRACEBACK_TAIL, utf8 + len - SI_TRACEBACK_TAIL);
        else
            text = apr_pstrmemdup(p, utf8, len);
    }
    PyErr_Clear();
    Py_XDECREF(joined);
    Py_XDECREF(lines);
    Py_XDECREF(traceback);
    Py_DECREF(exc);
    return text ? text : "(the exception could not be rendered)";
}

/* --- finding an instance's app for a request ------------------------------------------ */

/* A subinterp-script file: loaded by the instance's file loader, again when it changed if the
 * server reloads scripts. */
static PyObject *file_app(si_instance *inst, si_mount_conf *file, request_rec *r)
{
    si_server_conf *conf = si_server_config(r->server);
    apr_time_t started = apr_time_now();
    PyObject *app = si_app_load_file(inst->file_loader, file->script, file->callable,
                                     conf->reloading == 1 ? r->finfo.mtime : 0);
    if (!app)
        si_app_log_load_failure(r->pool, r->server, r, file, inst->slot->index);
    else if (apr_time_now() - started > apr_time_from_msec(1))
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "SI0300: pool %s interpreter %d: %s "
                      "loaded in %" APR_TIME_T_FMT " ms", file->pool_spec->name, inst->slot->index,
                      file->script, apr_time_as_msec(apr_time_now() - started));
    return app;
}

/* preload=off: a failed import is tried again by a later request, after 1, 2, 4 ... 60 s. */
#define SI_RETRY_FIRST apr_time_from_sec(1)
#define SI_RETRY_MAX apr_time_from_sec(60)

static int due_for_import(si_instance *inst, int i)
{
    return inst->app_state[i] == SI_APP_NOT_LOADED
           || (inst->app_state[i] == SI_APP_FAILED && apr_time_now() >= inst->retry_at[i]);
}

/* Imports mount i under preload=off, with inst->load_lock held. */
static void import_lazily(si_instance *inst, si_mount_conf *mount, int i, request_rec *r)
{
    si_module_state *st = inst->st;
    apr_time_t started = apr_time_now();
    inst->apps[i] = si_app_load(mount);
    if (inst->apps[i]) {
        inst->app_state[i] = SI_APP_LOADED;
        inst->failures[i] = 0;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "SI0300: pool %s interpreter %d: %s "
                      "imported on first use in %" APR_TIME_T_FMT " ms", mount->pool_spec->name,
                      inst->slot->index, mount->script,
                      apr_time_as_msec(apr_time_now() - started));
        return;
    }
    if (st && PyErr_ExceptionMatches((PyObject *)st->request_timeout_type)) {
        /* The request ran out of time, not the script out of luck: the next request imports
         * it afresh.  The exception stays raised: this request answers 504. */
        inst->app_state[i] = SI_APP_NOT_LOADED;
        return;
    }
    apr_time_t backoff = SI_RETRY_FIRST << (inst->failures[i] < 6 ? inst->failures[i] : 6);
    if (backoff > SI_RETRY_MAX)
        backoff = SI_RETRY_MAX;
    inst->failures[i]++;
    inst->app_state[i] = SI_APP_FAILED;
    inst->retry_at[i] = apr_time_now() + backoff;
    si_instance_remember_failure(inst, i, si_app_log_load_failure(r->pool, r->server, r, mount,
                                                                  inst->slot->index));
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "SI0304: pool %s interpreter %d: importing %s "
                  "failed %d time(s) in a row (preload=off); the next request after %"
                  APR_TIME_T_FMT " s tries again", mount->pool_spec->name, inst->slot->index,
                  mount->script, inst->failures[i], apr_time_sec(backoff));
}

PyObject *si_instance_app(si_instance *inst, si_mount_conf *mount, request_rec *r)
{
    if (mount->kind == SI_SCRIPT_FILE)
        return inst->file_loader ? file_app(inst, mount, r) : NULL;
    int i = mount->index;
    if (!inst->apps || !inst->load_lock || !due_for_import(inst, i))
        return inst->apps ? Py_XNewRef(inst->apps[i]) : NULL;
    /* preload=off: one import per instance, however many threads ask at once.  The mutex is
     * taken with the GIL released, or a thread importing (which may release the GIL) and a
     * thread waiting could block each other. */
    PyThreadState *state = si_tstate_suspend();
    si_lock(inst->load_lock);
    si_tstate_resume(state);
    if (due_for_import(inst, i))
        import_lazily(inst, mount, i, r);
    si_unlock(inst->load_lock);
    return Py_XNewRef(inst->apps[i]);
}

void si_app_run_exit_funcs(void)
{
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *rv = atexit ? PyObject_CallMethod(atexit, "_run_exitfuncs", NULL) : NULL;
    if (!rv)
        PyErr_Clear();   /* atexit prints a failing callback's traceback itself */
    Py_XDECREF(rv);
    Py_XDECREF(atexit);
}
