"""mod_subinterp.shared: one cache and one set of queues per pool, seen by every interpreter of
the pool, values copied by value (tests/apps/shared_state.py drives it)."""
import concurrent.futures
import os
import re
import time

from harness import GRANT_APPS as DIRECTORY
from harness import ROOT, eventually, running

VENV = os.path.join(ROOT, ".venv")


class TestSharedCache:
    HTTPD_OPTIONS = {"threads": 8}
    CONFIG = DIRECTORY + """
SubinterpPool two interpreters=2 cache-size=1M
SubinterpScriptAlias /s {apps}/shared_state.py pool=two
SubinterpPool other interpreters=1
SubinterpScriptAlias /other {apps}/shared_state.py pool=other
<Location /status>
    SetHandler subinterp-status
</Location>
"""

    def test_increments_from_every_interpreter_and_thread_add_up_exactly(self, httpd):
        n, threads, requests = 500, 4, 8
        with concurrent.futures.ThreadPoolExecutor(requests) as ex:
            answers = list(ex.map(lambda _: httpd.get("/s/incr?key=hits&n=%d&threads=%d"
                                                      % (n, threads)).json(), range(requests)))
        assert {a["interpreter"] for a in answers} == {0, 1}, "both interpreters must take part"
        total = n * threads * requests
        assert max(a["value"] for a in answers) == total
        assert httpd.get("/s/get?key=hits").json()["value"] == total

    def test_values_round_trip_exactly_between_interpreters(self, httpd):
        put = httpd.get("/s/put-values").json()
        # idle pool: consecutive requests alternate interpreters (round robin on ties)
        checks = [httpd.get("/s/check-values").json() for _ in range(2)]
        assert {put["interpreter"]} | {c["interpreter"] for c in checks} == {0, 1}
        for check in checks:
            assert check["wrong"] == []

    def test_unshareable_values_raise_naming_the_type(self, httpd):
        r = httpd.get("/s/refused").json()
        assert r["list"].startswith("TypeError") and "'list'" in r["list"]
        assert r["nested"].startswith("TypeError") and "'dict'" in r["nested"]
        assert r["subclass"].startswith("TypeError") and "'Text'" in r["subclass"]
        assert r["object"].startswith("TypeError") and "'object'" in r["object"]
        assert r["key"].startswith("TypeError") and "'int'" in r["key"]
        assert r["deep"].startswith("ValueError") and "nested" in r["deep"]

    def test_a_value_whose_size_would_wrap_is_refused_not_copied(self, httpd):
        r = httpd.get("/s/huge-tuple").json()
        for name in ("set", "put"):
            assert r[name].startswith("ValueError") and "over" in r[name], r
        assert httpd.get("/s/stats").status_code == 200   # the child is alive

    def test_add_delete_and_incr_errors(self, httpd):
        r = httpd.get("/s/add?key=once").json()
        assert (r["first"], r["second"], r["value"]) == (True, False, 1)
        r = httpd.get("/s/delete?key=once").json()
        assert (r["deleted"], r["again"]) == (True, False)
        r = httpd.get("/s/incr-errors").json()
        assert r["not_int"].startswith("TypeError") and "'text'" in r["not_int"]
        assert r["overflow"].startswith("OverflowError")

    def test_ttl_expires_a_key(self, httpd):
        httpd.get("/s/set?key=short&value=v&ttl=0.3")
        httpd.get("/s/set?key=long&value=v&ttl=60")
        assert httpd.get("/s/get?key=short").json()["value"] == "v"
        time.sleep(0.5)
        assert httpd.get("/s/get?key=short").json()["value"] == "<missing>"
        assert httpd.get("/s/get?key=long").json()["value"] == "v"

    def test_the_maintenance_thread_sweeps_expired_keys_no_one_reads(self, httpd):
        before = httpd.get("/s/stats").json()["stats"]["entries"]
        for i in range(20):
            httpd.get("/s/set?key=sweep%d&value=v&ttl=0.2" % i)
        assert httpd.get("/s/stats").json()["stats"]["entries"] >= before + 20
        assert eventually(lambda: httpd.get("/s/stats").json()["stats"]["entries"], before) \
            == before

    def test_byte_limit_evicts_least_recently_used(self, httpd):
        httpd.get("/s/set?key=hot&value=keep")
        r = httpd.get("/s/fill?n=300&size=10000").json()   # 3 MB into a 1 MiB cache
        stats = r["stats"]
        assert stats["limit"] == 1 << 20
        assert stats["bytes"] <= stats["limit"]
        assert stats["evictions"] > 0
        assert r["hot"] == "keep", "a key read all along must outlive older ones"
        assert r["first"] is None and r["last"] == 10000

    def test_pools_do_not_see_each_other(self, httpd):
        httpd.get("/s/set?key=mine&value=two")
        assert httpd.get("/other/get?key=mine").json()["value"] == "<missing>"
        httpd.get("/other/set?key=mine&value=other")
        assert httpd.get("/s/get?key=mine").json()["value"] == "two"

    def test_the_status_page_shows_each_pools_cache(self, httpd):
        httpd.get("/other/set?key=seen&value=1")
        httpd.get("/other/get?key=seen")
        pools = {p["name"]: p["shared_cache"] for p in httpd.get("/status?json").json()["pools"]}
        assert pools["two"]["limit"] == 1 << 20 and pools["other"]["limit"] == 64 << 20
        assert pools["other"]["entries"] >= 1 and pools["other"]["hits"] >= 1
        metrics = httpd.get("/status?prometheus").text
        assert 'mod_subinterp_shared_cache_limit{pool="two"' in metrics

    def test_clear(self, httpd):
        httpd.get("/other/set?key=x&value=1")
        assert httpd.get("/other/clear").json()["len"] == 0
        assert httpd.get("/other/get?key=x").json()["value"] == "<missing>"


class TestSharedQueue:
    HTTPD_OPTIONS = {"threads": 8}
    CONFIG = DIRECTORY + """
SubinterpPool two interpreters=2 request-timeout=1
SubinterpScriptAlias /s {apps}/shared_state.py pool=two
"""

    def test_an_item_put_in_one_interpreter_wakes_a_get_waiting_in_the_other(self, httpd):
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            waiting = ex.submit(httpd.get, "/s/take?name=handoff&timeout=5")
            time.sleep(0.3)
            put = httpd.get("/s/put?name=handoff&value=hello").json()
            taken = waiting.result().json()
        assert taken["value"] == "hello"
        assert taken["interpreter"] != put["interpreter"]
        assert taken["waited"] < 4

    def test_get_times_out_with_queue_empty(self, httpd):
        r = httpd.get("/s/take?name=nothing&timeout=0.2").json()
        assert r["error"] == "Empty" and 0.15 < r["waited"] < 2

    def test_put_on_a_full_queue_times_out_with_queue_full(self, httpd):
        assert "error" not in httpd.get("/s/put?name=small&maxsize=1&value=a").json()
        r = httpd.get("/s/put?name=small&maxsize=1&value=b&timeout=0.2").json()
        assert r["error"] == "Full"
        assert httpd.get("/s/take?name=small&timeout=1").json()["value"] == "a"

    def test_a_timeout_too_large_for_the_clock_is_an_overflow_error(self, httpd):
        """As queue.Queue.get(timeout=1e10) raises OverflowError, not an immediate Empty."""
        r = httpd.get("/s/long-timeout").json()
        assert r["error"].startswith("OverflowError"), r

    def test_a_different_maxsize_for_an_existing_queue_is_refused(self, httpd):
        assert "exists with maxsize=3" in httpd.get("/s/queue-mismatch").json()["error"]

    def test_request_timeout_ends_a_get_that_waits_forever(self, httpd):
        started = time.monotonic()
        r = httpd.get("/s/take?name=never")
        assert r.status_code == 504
        assert time.monotonic() - started < 4
        httpd.expect_log(r"SI0441")
        httpd.expect_log(r"SI0440.*RequestTimeout")


class TestConsumerThread:
    """An app thread that waits on a queue for ever must not keep a recycled interpreter alive.
    One worker thread: a retired interpreter also waits for every worker thread that last ran
    in it to run elsewhere (docs/reliability.md), which one thread always does."""
    HTTPD_OPTIONS = {"threads": 1}
    # With one worker thread, a second connection arriving while it is busy makes the MPM say so.
    EXPECTED_LOG = [r"AH00484: server reached MaxRequestWorkers"]
    CONFIG = DIRECTORY + """
SubinterpPool jobs interpreters=2 max-requests=6
SubinterpScriptAlias /c {apps}/shared_consumer.py pool=jobs
SubinterpPool other interpreters=1
SubinterpScriptAlias /h {apps}/hello.py pool=other
<Location /status>
    SetHandler subinterp-status
</Location>
"""

    def test_jobs_are_consumed_and_recycled_interpreters_end(self, httpd):
        for i in range(12):
            assert httpd.get("/c/job?id=%d" % i).status_code == 200
        assert eventually(lambda: httpd.get("/c/").json()["consumed"], 12) == 12

        def retired():
            # Moves the worker thread's binding off a retired interpreter (it cannot be ended
            # while some thread's last activation was in it) without a request to "jobs": each
            # of those would count towards max-requests and retire the next generation.
            httpd.get("/h")
            return httpd.get("/status?json").json()["pools"][0]["retired"]
        def recycled():
            status = httpd.get("/status?json").json()["pools"][0]
            return sum(i["recycles"] for i in status["interpreters"]) >= 1
        assert eventually(recycled, True, timeout=10)
        assert eventually(retired, 0, timeout=10) == 0, \
            "a recycled interpreter stayed parked on its consumer thread"
        assert httpd.get("/c/").json()["ended"] >= 2, "each retired consumer ends"
        assert "SI0213" not in httpd.log_text()


def test_a_consumer_thread_waiting_at_child_exit_lets_python_stop(scratch):
    """At child exit an interpreter whose app thread still runs is left alone and Python is not
    finalized (SI0214); a thread blocked in Queue.get() must end instead."""
    config = DIRECTORY + """
SubinterpPool jobs interpreters=2
SubinterpScriptAlias /c {apps}/shared_consumer.py pool=jobs
"""
    with running(scratch, config) as server:
        assert server.get("/c/job?id=1").status_code == 200
        assert eventually(lambda: server.get("/c/").json()["consumed"], 1) == 1
        server.stop()
        log = server.log_text()
        assert re.search(r"SI0206: child \d+: Python stopped, 2 sub-interpreter\(s\) ended", log)
        assert "SI0214" not in log and "SI0209" not in log


def test_cache_size_is_validated(tmp_path):
    from harness import Httpd
    server = Httpd(str(tmp_path), DIRECTORY.replace("{apps}", "/tmp") + """
SubinterpPool p cache-size=12Q
SubinterpScriptAlias /x /dev/null pool=p
""")
    rc, out = server.configtest()
    assert rc != 0 and "SI0102" in out and "cache-size=12Q" in out


def test_a_cache_size_of_zero_turns_the_cache_off(scratch):
    config = DIRECTORY + """
SubinterpPool off cache-size=0
SubinterpScriptAlias /s {apps}/shared_state.py pool=off
"""
    with running(scratch, config, expected=[r"SI0401"]) as server:
        r = server.get("/s/set?key=a&value=b")
        assert r.status_code == 500
        server.expect_log(r"RuntimeError: mod_subinterp.shared.cache.set: this pool's cache is "
                          r"off \(cache-size=0\)")
        assert server.get("/s/take?name=q&timeout=0.1").json()["error"] == "Empty"



class TestFlaskCaching:
    """examples/flask_cached.py: Flask-Caching with python/mod_subinterp_caching.py."""
    HTTPD_OPTIONS = {"threads": 8}
    CONFIG = DIRECTORY + """
SubinterpPool site interpreters=2 virtualenv={venv} python-path={apps}/../../python
SubinterpScriptAlias / {apps}/../../examples/flask_cached.py pool=site
<Directory "{apps}/../../examples">
    Require all granted
</Directory>
""".replace("{venv}", VENV)

    def test_a_cached_view_is_made_once_for_the_whole_pool(self, httpd):
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            first = list(ex.map(lambda _: httpd.get("/report").json(), range(2)))
        later = [httpd.get("/report").json() for _ in range(4)]
        reports = {r["report"] for r in first + later}
        # two first requests racing may both make it; from then on, one value for everyone
        assert len({r["report"] for r in later}) == 1 and len(reports) <= 2

    def test_counter_and_rate_limit_span_interpreters(self, httpd):
        seen = [httpd.get("/hits").json() for _ in range(6)]
        assert {s["interpreter"] for s in seen} == {0, 1}
        assert [s["hits"] for s in seen] == list(range(1, 7))
        codes = [httpd.get("/limited").status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
