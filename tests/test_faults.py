"""Fault injection: what a fatal fault in one app can and cannot take down.

A segfault or os._exit() in an app ends the whole child process that ran it (its interpreters
share the address space; docs/reliability.md says why no per-interpreter containment is
possible).  Apache replaces the child; connections held by other children go on being served.
Memory exhaustion under a limit is a MemoryError in the one request (500), not a crash.
"""
import http.client
import time

import pytest

from harness import PRELOAD, eventually


def pinned_connection(httpd):
    conn = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=10)
    conn.request("GET", "/faults/pid")
    resp = conn.getresponse()
    assert resp.status == 200
    return conn, int(resp.read())


def pid_over(conn):
    conn.request("GET", "/faults/pid")
    resp = conn.getresponse()
    assert resp.status == 200
    return int(resp.read())


def connections_in_two_children(httpd, timeout=30):
    """Keep-alive connections pin a child: one in each of two different children.  Tries new
    connections until one lands in another child than the first: a child that is still starting
    (a replacement, or Python under a sanitizer) does not accept any yet."""
    first, first_pid = pinned_connection(httpd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        other, other_pid = pinned_connection(httpd)
        if other_pid != first_pid:
            return (first, first_pid), (other, other_pid)
        other.close()
        time.sleep(0.02)
    pytest.fail("no connection reached a second child in %d s" % timeout)


APPS_CONFIG = """
SubinterpScriptAlias /faults {apps}/faults.py
SubinterpScriptAlias /hello {apps}/hello.py
<Directory "{apps}">
    Require all granted
</Directory>
"""


class TestFatalFaults:
    HTTPD_OPTIONS = {"children": 2, "threads": 4}
    CONFIG = APPS_CONFIG + """
KeepAliveTimeout 30
MaxKeepAliveRequests 0
# Apache keeps as many children as its spare-thread target asks for: two, here.
MinSpareThreads 8
"""
    EXPECTED_LOG = [r"AH10159: server is within MinSpareThreads of MaxRequestWorkers"]

    @pytest.mark.parametrize("fault,log", [
        ("/faults/segv", r"AH00052: child pid (\d+) exit signal Segmentation fault"),
        ("/faults/exit", None),
    ])
    def test_fault_ends_only_its_child(self, httpd, fault, log):
        (victim, victim_pid), (bystander, bystander_pid) = connections_in_two_children(httpd)
        victim.request("GET", fault)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            victim.getresponse().read()
        victim.close()
        if log:
            assert httpd.expect_log(log).group(1) == str(victim_pid)
        # The other child never noticed: same process, same connection, still answering.
        for _ in range(20):
            assert pid_over(bystander) == bystander_pid
        bystander.close()
        # Apache replaces the dead child.
        replaced = eventually(lambda: victim_pid not in httpd.children()
                              and len(httpd.children()) == 2, True, timeout=10)
        assert replaced, httpd.children()
        for _ in range(10):
            assert httpd.get("/hello").status_code == 200


@pytest.mark.skipif(bool(PRELOAD), reason="AddressSanitizer reserves terabytes of address "
                    "space, so an RLIMIT_AS cannot apply to its build")
class TestMemoryExhaustion:
    HTTPD_OPTIONS = {"children": 1, "threads": 4, "address_space": 3 << 30}
    CONFIG = APPS_CONFIG

    def test_memory_error_is_that_requests_500(self, httpd):
        pid = int(httpd.get("/faults/pid").text)
        started = time.monotonic()
        assert httpd.get("/faults/memory").status_code == 500
        httpd.expect_log(r"SI0401: .*/faults/memory .*MemoryError")
        assert time.monotonic() - started < 20
        for _ in range(10):
            assert httpd.get("/hello").status_code == 200
        assert int(httpd.get("/faults/pid").text) == pid, "the child survived"
