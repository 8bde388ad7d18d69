# mod_subinterp — build, run and test.  `make run` serves an app, `make test` runs the suite.
# Python: CPython >= 3.13 with a shared libpython, found by tools/find-python (PYTHON=... overrides).

SHELL        := /bin/bash
.DEFAULT_GOAL := all
APXS         ?= $(shell command -v apxs 2>/dev/null || echo /usr/bin/apxs)
HTTPD        ?= $(shell command -v apache2 2>/dev/null || echo /usr/sbin/apache2)
BUILD        := build
TEST_VENV    := .venv
# make run VENV=/path/to/venv: the app's own virtualenv (its pool's virtualenv=)
VENV         ?=
APP          ?= examples/hello.py
PORT         ?= 8000
PYTEST_ARGS  ?=

# Resolved once per make run; an empty PY_EXE means no usable Python (the build target says why).
PY_FOUND     := $(shell tools/find-python 2>/dev/null)
ifneq ($(PY_FOUND),)
$(BUILD)/python.mk: tools/pyconfig.py
	@mkdir -p $(BUILD)
	@$(PY_FOUND) tools/pyconfig.py > $@.tmp && mv $@.tmp $@
-include $(BUILD)/python.mk
endif

comma        := ,
SOURCES      := mod_subinterp.c $(wildcard src/*.c)
HEADERS      := $(wildcard src/*.h)
MODULE       := .libs/mod_subinterp.so
WARNINGS     := -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-unused-parameter
EXTRA_CFLAGS ?= -O2
EXTRA_LDFLAGS ?=
# Every C build (the module, the sanitizer and fuzz builds, the bench's ceiling module) starts
# from these; apxs adds Apache's and APR's includes itself, the others add APACHE_INCLUDES.
SI_CPPFLAGS   = -I$(PY_INCLUDE) -Isrc -DSI_DEFAULT_PYTHON_HOME='"$(PY_HOME)"'
APACHE_INCLUDES = -I$(shell $(APXS) -q INCLUDEDIR 2>/dev/null) \
                $(shell apr-1-config --includes --cppflags 2>/dev/null)
PY_LIBS       = -L$(PY_LIBDIR) -l$(PY_LDLIB) -Wl,-rpath,$(PY_LIBDIR)

# Debian packages (PACKAGE:COMMAND), installed in one place (tools/apt-need, root only; it says
# what to install otherwise): what the tests need, and what the optional targets add.
DEB_TEST      = apache2:$(HTTPD) apache2-dev:$(APXS) valgrind:valgrind curl:curl \
                libapache2-mod-wsgi-py3 chromium:chromium
DEB_FUZZ     := clang:clang
DEB_BENCH    := wrk:wrk apache2-utils:ab nghttp2-client:h2load redis-server:redis-server

.PHONY: all module module-path install bench bench-scaling bench-shared bench-deps deps apache venv access run test check clean \
        distclean check-python asan asan-module asan-run tsan fuzz fuzz-regressions valgrind \
        soak storm

all: module

check-python:
	@if [ -z "$(PY_FOUND)" ]; then tools/find-python; exit 1; fi

module: check-python $(MODULE)

$(MODULE): $(SOURCES) $(HEADERS) $(BUILD)/python.mk Makefile
	@command -v $(APXS) >/dev/null || { echo "apxs not found: run 'make deps' (installs apache2-dev)"; exit 1; }
	$(APXS) -c -o mod_subinterp.la \
	    -Wc,-std=gnu11 $(addprefix -Wc$(comma),$(WARNINGS) $(EXTRA_CFLAGS)) \
	    $(subst ",\",$(SI_CPPFLAGS)) \
	    $(subst -Wl$(comma),-Wl$(comma)-Wl$(comma),$(PY_LIBS)) $(addprefix -Wl$(comma),$(EXTRA_LDFLAGS)) \
	    $(SOURCES) > $(BUILD)/apxs.log 2>&1 || { cat $(BUILD)/apxs.log; exit 1; }
	@grep -E '(warning|error):' $(BUILD)/apxs.log || true

module-path: module
	@echo $(CURDIR)/$(MODULE)

# Debian layout: the module into Apache's modules directory, subinterp.load/.conf into
# mods-available (then `a2enmod subinterp`).
install: module
	@runpath=$$(readelf -d $(MODULE) | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p'); \
	case ":$$runpath:" in *:/root/*|*:/home/*) \
	    echo "make install: the module loads libpython from $$runpath, a home directory: a system"; \
	    echo "  service would depend on a user's files (and www-data must be let into them)."; \
	    echo "  Build against a Python outside home directories (docs/quickstart.md, Python 3.13"; \
	    echo "  on Debian 12 or Ubuntu 24.04), or say you mean it: make install PYTHON_IN_HOME=ok"; \
	    [ "$(PYTHON_IN_HOME)" = ok ] || exit 1 ;; \
	esac
	$(APXS) -i -n subinterp mod_subinterp.la
	install -m 644 conf/subinterp.load conf/subinterp.conf $$($(APXS) -q SYSCONFDIR)/mods-available/

# --- dependencies -------------------------------------------------------------------------------
deps: apache venv access

apache:
	@tools/apt-need $(DEB_TEST)

# The tests make venvs and measure CPython with sys.executable: it must be the module's Python.
venv: check-python
	@if [ -x $(TEST_VENV)/bin/python ] && [ "$$($(TEST_VENV)/bin/python -c 'import os, sys; print(os.path.realpath(sys._base_executable))')" != "$(realpath $(PY_FOUND))" ]; then \
	    echo "$(TEST_VENV) was made with another Python; recreating it with $(PY_FOUND)"; rm -rf $(TEST_VENV); fi
	@$(MAKE) --no-print-directory $(TEST_VENV)/.installed

$(TEST_VENV)/.installed: requirements-test.txt
	@test -x $(TEST_VENV)/bin/python || $(PY_FOUND) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-test.txt
	@touch $@

# Apache children run as an unprivileged user; they must be able to read the Python runtime and
# this checkout (the apps the tests and make run serve, the test venv), wherever it was cloned.
access: check-python
	@tools/grant-apache-access $(PY_STDLIB)/os.py $(PY_LIBDIR) $(CURDIR)/tests/apps/hello.py \
	    $(CURDIR)/examples/hello.py

# --- running ------------------------------------------------------------------------------------
run: module apache access
	@tools/serve --module $(CURDIR)/$(MODULE) --app $(APP) --port $(PORT) --dir $(BUILD)/run \
	    $(if $(VENV),--venv $(VENV))

# The whole proof: the suite, then the same suite against the ASan+UBSan build (about as long
# again), then the ThreadSanitizer stress test of dispatch and the fuzz replays (seconds), then
# memcheck (~40 s).
test: check asan-module
	@echo "--- the suite again, against the AddressSanitizer+UBSan build (make asan) ---"
	@$(MAKE) --no-print-directory asan-run
	@echo "--- dispatch, thread states and the shared store under ThreadSanitizer (make tsan) ---"
	@$(MAKE) --no-print-directory tsan
	@echo "--- fuzz seeds and regression inputs (make fuzz-regressions) ---"
	@$(MAKE) --no-print-directory fuzz-regressions
	@echo "--- Apache -X under valgrind memcheck over the corpus (make valgrind) ---"
	@$(MAKE) --no-print-directory valgrind

# The edit-test loop: the functional suite against the plain build only (PYTEST_ARGS=-k ...).
check: deps module
	$(TEST_VENV)/bin/python -m pytest tests $(PYTEST_ARGS)

# --- reliability (docs/reliability.md) -----------------------------------------------------------
# Sanitizer builds go to build/ with plain $(CC), so they never disturb the apxs build in .libs.
SAN_DIR      := $(BUILD)/asan
ASAN_MODULE  := $(SAN_DIR)/mod_subinterp.so
SAN_CFLAGS    = -std=gnu11 $(WARNINGS) -g -O1 -fno-omit-frame-pointer -fPIC $(APACHE_INCLUDES) \
                $(SI_CPPFLAGS)
# Leaks are valgrind's job (Python keeps memory at exit by design); a deliberate crash in a
# fault-injection test must stay a plain SIGSEGV, not an ASan report.
ASAN_ENV      = SI_TEST_MODULE=$(CURDIR)/$(ASAN_MODULE) \
                SI_TEST_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
                SI_TEST_SANITIZER_LOGS=$(CURDIR)/$(SAN_DIR)/logs \
                ASAN_OPTIONS=detect_leaks=0:handle_segv=0:log_path=$(CURDIR)/$(SAN_DIR)/logs/report \
                UBSAN_OPTIONS=print_stacktrace=1:log_path=$(CURDIR)/$(SAN_DIR)/logs/report

asan-module: check-python $(ASAN_MODULE)

$(ASAN_MODULE): $(SOURCES) $(HEADERS) $(BUILD)/python.mk Makefile
	@mkdir -p $(SAN_DIR)
	$(CC) $(SAN_CFLAGS) -fsanitize=address,undefined -shared -o $@ \
	    $(SOURCES) $(PY_LIBS)

# The whole suite against the ASan+UBSan module; any report fails the test that provoked it.
asan: deps asan-module asan-run

asan-run:
	@rm -rf $(SAN_DIR)/logs && mkdir -p $(SAN_DIR)/logs && chmod 1777 $(SAN_DIR)/logs
	$(ASAN_ENV) $(TEST_VENV)/bin/python -m pytest tests $(PYTEST_ARGS)
	@if ls $(SAN_DIR)/logs/seen/report* >/dev/null 2>&1; then \
	    echo "sanitizer reports in $(SAN_DIR)/logs/seen"; exit 1; fi

# ThreadSanitizer: dispatch and the thread-state cache under 8 threads, with interpreters swapped
# and ended underneath them (tests/c/stress_dispatch.c).  setarch -R: TSan needs the classic
# address-space layout, which high ASLR entropy breaks.
TSAN_BIN     := $(BUILD)/tsan/stress_dispatch

$(TSAN_BIN): tests/c/stress_dispatch.c src/si_pool.c src/si_tstate.c src/si_extpath.c src/si_shared_store.c $(HEADERS) $(BUILD)/python.mk Makefile
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -fsanitize=thread -fPIE -pie -o $@ tests/c/stress_dispatch.c \
	    src/si_pool.c src/si_tstate.c src/si_extpath.c src/si_shared_store.c $(PY_LIBS) \
	    $$(apr-1-config --link-ld) -lpthread

# The shared store (mod_subinterp.shared) under 8 threads: exact incr totals, every queued item
# taken once, eviction and sweeping underneath (tests/c/stress_shared.c).
TSAN_SHARED  := $(BUILD)/tsan/stress_shared

$(TSAN_SHARED): tests/c/stress_shared.c src/si_shared_store.c src/si_shared_store.h Makefile
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARNINGS) -g -O1 -Isrc -fsanitize=thread -fPIE -pie -o $@ $(filter %.c,$^) -lpthread

tsan: check-python $(TSAN_BIN) $(TSAN_SHARED)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch $$(uname -m) -R $(TSAN_BIN)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch $$(uname -m) -R $(TSAN_SHARED)

# memcheck of Apache -X serving the test corpus, through child exit (tools/memcheck; ~40 s).
valgrind: module apache access venv
	$(TEST_VENV)/bin/python tools/memcheck

# libFuzzer (clang): tests/fuzz/fuzz_request.c (request/response syntax, trusted proxies) and
# tests/fuzz/fuzz_environ.c (the real environ construction, with Python), FUZZ_SECONDS each;
# crashes land in tests/fuzz/regressions, which every run (and make test) replays.
FUZZ_SECONDS ?= 120
CLANG        ?= $(shell command -v clang 2>/dev/null || command -v clang-14 2>/dev/null)
FUZZ_TARGETS := request environ
FUZZ_SOURCES_request := src/si_proxy.c src/si_http.c
FUZZ_SOURCES_environ := src/si_environ.c src/si_cgi.c src/si_proxy.c src/si_http.c
FUZZ_INCLUDES = $(APACHE_INCLUDES) -I$(PY_INCLUDE) -Isrc
FUZZ_LIBS     = $(PY_LIBS) $$(apr-1-config --link-ld)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_support.h $(SOURCES) $(HEADERS) $(BUILD)/python.mk Makefile
	@test -n "$(CLANG)" || tools/apt-need $(DEB_FUZZ)
	@mkdir -p $(dir $@)
	$(or $(CLANG),clang) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined $(WARNINGS) \
	    $(FUZZ_INCLUDES) -o $@ $< $(FUZZ_SOURCES_$*) $(FUZZ_LIBS)

# The same targets without libFuzzer (gcc, ASan+UBSan): they replay the seeds and every
# regression input; part of make test.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_support.h $(SOURCES) $(HEADERS) $(BUILD)/python.mk Makefile
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ \
	    $< tests/fuzz/replay_main.c $(FUZZ_SOURCES_$*) $(FUZZ_LIBS)

fuzz-regressions: check-python $(addprefix $(BUILD)/fuzz/replay_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    ASAN_OPTIONS=detect_leaks=0 $(BUILD)/fuzz/replay_$$t tests/fuzz/corpus/$$t tests/fuzz/regressions || exit 1; \
	done

fuzz: check-python $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t && cp -n tests/fuzz/corpus/$$t/* $(BUILD)/fuzz/corpus-$$t/; \
	    echo "--- fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    ASAN_OPTIONS=detect_leaks=0 $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=tests/fuzz/regressions/$$t- $(BUILD)/fuzz/corpus-$$t tests/fuzz/corpus/$$t \
	        || exit 1; \
	done
	@$(MAKE) --no-print-directory fuzz-regressions

# Bounded load runs, not part of make test (figures in docs/reliability.md).
soak: module apache access venv
	@tools/apt-need $(DEB_BENCH)
	$(TEST_VENV)/bin/python tests/reliability/soak.py $(SOAK_ARGS)

storm: module apache access venv
	$(TEST_VENV)/bin/python tests/reliability/restart_storm.py $(STORM_ARGS)

# Benchmarks (not part of make test): peers from requirements-bench.txt in their own venv.
BENCH_VENV := $(BUILD)/bench-venv
BENCH_ARGS ?=

bench-deps: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: requirements-bench.txt | check-python
	@tools/apt-need $(DEB_BENCH)
	@test -x $(BENCH_VENV)/bin/python || $(PY_FOUND) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-bench.txt
	@touch $@

# The ceiling: a C handler writing hello's 14 bytes, in the same Apache, never installed.
CEILING_MODULE := $(BUILD)/bench/mod_hello_ceiling.so

$(CEILING_MODULE): tests/bench/mod_hello_ceiling.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARNINGS) -O2 -fPIC -shared $(APACHE_INCLUDES) -o $@ $<

bench: module apache access bench-deps $(CEILING_MODULE)
	@tools/grant-apache-access $(CURDIR)/$(BENCH_VENV)/bin/python $(CURDIR)/$(CEILING_MODULE)
	$(BENCH_VENV)/bin/python tests/bench/run.py $(BENCH_ARGS)

# CPU-bound and Flask at 1, 2, 4, 8 and 16 interpreters against gunicorn sync with as many
# workers; prints the ratio table (under 10 minutes on 16 cores).  SCALING_COUNTS=1,2 narrows it.
SCALING_COUNTS ?= 1,2,4,8,16
bench-scaling: module apache access bench-deps
	@tools/grant-apache-access $(CURDIR)/$(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python tests/bench/scaling.py --counts $(SCALING_COUNTS)

# mod_subinterp.shared.cache against Redis on loopback and per-interpreter dicts (a few minutes;
# docs/shared-state.md).
bench-shared: module apache access bench-deps
	@tools/grant-apache-access $(CURDIR)/$(BENCH_VENV)/bin/python
	$(BENCH_VENV)/bin/python tests/bench/shared_cache.py $(BENCH_ARGS)

clean:
	rm -rf .libs *.la *.lo *.slo *.o src/.libs src/*.lo src/*.slo src/*.o $(BUILD)

distclean: clean
	rm -rf $(TEST_VENV)
