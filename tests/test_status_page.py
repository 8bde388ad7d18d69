"""The status page (SetHandler subinterp-status): JSON, Prometheus and HTML, mod_status rows, and
rendering that allocates nothing for the child's life."""
import html
import os
import re
import shutil
import subprocess

import pytest

from harness import GRANT_APPS as DIRECTORY, PRELOAD


class TestStatus:
    CONFIG = DIRECTORY + """
SubinterpPool p interpreters=2 max-active=4
SubinterpScriptAlias /who {apps}/whoami.py pool=p
SubinterpScriptAlias /hello {apps}/hello.py
<VirtualHost 127.0.0.1:{port}>
    ServerName v.test
    SubinterpPool "quo\\te" interpreters=1
    SubinterpScriptAlias /v {apps}/hello.py pool=quo\\te
</VirtualHost>
<Location /status>
    SetHandler subinterp-status
</Location>
<Location /server-status>
    SetHandler server-status
</Location>
"""

    def test_json(self, httpd):
        for _ in range(6):
            httpd.get("/who")
        status = httpd.get("/status?json").json()
        assert status["version"] == "0.1.0" and status["pid"] in httpd.children()
        assert status["rss_bytes"] > 10 * 1024 * 1024
        pools = {p["name"]: p for p in status["pools"]}
        assert set(pools) == {"p", "/hello", "quo\\te"}
        p = pools["p"]
        assert p["gil"] == "own" and p["max_active"] == 4 and p["retired"] == 0
        assert [i["index"] for i in p["interpreters"]] == [0, 1]
        assert sum(i["served"] for i in p["interpreters"]) >= 6
        assert all(i["state"] == "ready" and i["generation"] == 0 for i in p["interpreters"])
        assert all(i["avg_ms"] > 0 for i in p["interpreters"])
        assert pools["quo\\te"]["vhost"] == "v.test:%d" % httpd.port

    def test_prometheus(self, httpd):
        httpd.get("/who")
        r = httpd.get("/status?prometheus")
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        sample = re.compile(r'^(mod_subinterp_[a-z_]+)\{([^}]*)\} (\S+)$')
        names = set()
        for line in r.text.splitlines():
            if line.startswith("#"):
                assert re.match(r"^# (HELP|TYPE) mod_subinterp_[a-z_]+ ", line), line
                continue
            m = sample.match(line)
            assert m, line
            float(m.group(3))
            names.add(m.group(1))
        assert {"mod_subinterp_requests_total", "mod_subinterp_active_requests",
                "mod_subinterp_recycles_total", "mod_subinterp_generation",
                "mod_subinterp_retired_interpreters", "mod_subinterp_rejected_total",
                "mod_subinterp_child_resident_bytes", "mod_subinterp_info"} <= names
        assert 'pool="quo\\\\te"' in r.text

    def test_html(self, httpd):
        r = httpd.get("/status")
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<h2>Pool p <small>(main server, gil=own, interpreters=2, max-active=4, " \
               "queue-timeout=30 s)</small></h2>" in r.text
        # p has 2; /hello's implicit pool two per online CPU (as the module counts them); v has 1
        cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        # (and the summary has a row for each of the 3 pools)
        assert r.text.count("<td class=\"ready\">ready</td>") == 2 + 2 * cpus + 1 + 3
        assert "quo\\te" in r.text

    def test_rows_in_mod_status(self, httpd):
        auto = httpd.get("/server-status?auto").text
        assert "SubinterpPool p: interpreters=2 active=0" in auto
        assert "<h1>mod_subinterp</h1>" in httpd.get("/server-status").text


@pytest.mark.skipif(not shutil.which("chromium"), reason="make deps installs Debian's chromium")
class TestStatusPageInABrowser:
    """The page as an administrator sees it when something is wrong: which child it is, a
    summary with the failed pool first and why, each pool's options."""
    CONFIG = DIRECTORY + """
SubinterpPool fine interpreters=1 request-timeout=7
SubinterpScriptAlias /fine {apps}/hello.py pool=fine
SubinterpPool broken interpreters=2
SubinterpScriptAlias /broken {apps}/broken_import.py pool=broken
<Location /status>
    SetHandler subinterp-status
</Location>
"""
    EXPECTED_LOG = [r"SI0301: pool broken", r"SI0200: .* 2 failed"]

    def rendered_text(self, httpd, scratch):
        """What Chromium shows: its rendered DOM, reduced to the text a person reads."""
        out = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                              "--user-data-dir=" + scratch, "--dump-dom",
                              httpd.url("/status")], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr[-2000:]
        shot = os.path.join(scratch, "status.png")
        subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--user-data-dir=" + scratch, "--window-size=1100,900",
                        "--screenshot=" + shot, httpd.url("/status")], capture_output=True,
                       timeout=60)
        assert os.path.getsize(shot) > 10000   # it drew something
        text = re.sub(r"<(style|head)>.*?</\1>", " ", out.stdout, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        return re.sub(r"\s+", " ", html.unescape(text))

    def test_what_an_administrator_sees(self, httpd, scratch):
        text = self.rendered_text(httpd, scratch)
        pid = re.search(r"This page comes from child (\d+) of this server", text)
        assert pid and int(pid.group(1)) in httpd.children(), text
        summary = text[text.index("Summary"):text.index("Pool broken (")]
        assert summary.index("broken") < summary.index("fine"), summary   # failed first
        assert re.search(r"broken main server failed 0 of 2 ImportError: broken_import\.py "
                         r"fails to import on purpose", summary), summary
        assert re.search(r"fine main server ready 1 of 1", summary), summary
        assert "Pool fine (main server, gil=own, interpreters=1, queue-timeout=30 s, " \
               "request-timeout=7 s)" in text


class TestStatusPageMemory:
    CONFIG = DIRECTORY + """
<VirtualHost 127.0.0.1:{port}>
    ServerName status.test
    SubinterpPool v interpreters=1
    SubinterpScriptAlias /h {apps}/hello.py pool=v
    <Location /si-status>
        SetHandler subinterp-status
    </Location>
</VirtualHost>
"""

    @pytest.mark.skipif(bool(PRELOAD), reason="ASan's quarantine holds freed memory")
    def test_rendering_allocates_nothing_for_the_childs_life(self, httpd):
        import requests
        session = requests.Session()
        url = httpd.url("/si-status?prometheus")   # names the vhost in several series

        def rss():
            pid = httpd.children()[0]
            with open("/proc/%d/status" % pid) as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
        for _ in range(500):
            assert session.get(url).status_code == 200
        before = rss()
        for _ in range(10000):
            session.get(url)
        grown = rss() - before
        assert grown < 256, "the child grew by %d KiB over 10000 renders" % grown
