"""SubinterpTrustedProxies and SubinterpTrustedProxyHeaders: forwarded headers are believed only
from trusted peers, and only the part those peers added."""
import http.client
import json
import shutil

from conftest import scratch_dir
from harness import GRANT_APPS as DIRECTORY, Httpd


def get_from(httpd, source, path, headers):
    """GET with the TCP peer address `source` (any 127/8 address reaches our loopback server)."""
    conn = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=10,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


class TestTrustedProxies:
    CONFIG = """
SubinterpScriptAlias /app {apps}/environ.py
SubinterpScriptAlias /plain {apps}/environ.py
<Directory "{apps}">
    Require all granted
</Directory>
<Location /app>
    SubinterpTrustedProxies 127.0.0.1 10.0.0.0/8
    SubinterpTrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host
    SubinterpTrustedProxyHeaders X-Forwarded-Port X-Script-Name
</Location>
"""
    SPOOF = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "8443",
             "X-Script-Name": "/hijacked", "X-Real-IP": "203.0.113.10",
             "X-Forwarded-Scheme": "https"}

    def env(self, httpd, source, headers, path="/app/x"):
        status, body = get_from(httpd, source, path, headers)
        assert status == 200
        return json.loads(body)

    def test_trusted_peer_headers_are_applied(self, httpd):
        env = self.env(httpd, "127.0.0.1", self.SPOOF)
        assert env["REMOTE_ADDR"] == "203.0.113.9"
        assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on"
        assert env["REQUEST_SCHEME"] == "https"
        assert env["HTTP_HOST"] == "evil.example"
        assert env["SERVER_PORT"] == "8443"
        assert env["SCRIPT_NAME"] == "/hijacked" and env["PATH_INFO"] == "/x"
        # Trusted headers stay visible; known forwarded headers that are not trusted do not.
        assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
        assert "HTTP_X_REAL_IP" not in env and "HTTP_X_FORWARDED_SCHEME" not in env

    def test_untrusted_peer_headers_are_removed(self, httpd):
        env = self.env(httpd, "127.0.0.2", self.SPOOF)
        assert env["REMOTE_ADDR"] == "127.0.0.2"
        assert env["wsgi.url_scheme"] == "http" and "HTTPS" not in env
        assert env["HTTP_HOST"] == "127.0.0.1:%d" % httpd.port
        assert env["SERVER_PORT"] == str(httpd.port)
        assert env["SCRIPT_NAME"] == "/app"
        leaked = [k for k in env if k.startswith("HTTP_X_")]
        assert leaked == [], "a client's forwarded headers reached the app: %s" % leaked

    def test_forwarded_for_chain_skips_trusted_proxies(self, httpd):
        env = self.env(httpd, "127.0.0.1", {"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.9.8.7"})
        assert env["REMOTE_ADDR"] == "203.0.113.7", "the rightmost untrusted hop is the client"
        env = self.env(httpd, "127.0.0.1", {"X-Forwarded-For": "10.1.1.1, 10.2.2.2"})
        assert env["REMOTE_ADDR"] == "10.1.1.1", "all trusted: the leftmost is the client"
        env = self.env(httpd, "127.0.0.1", {"X-Forwarded-For": "2001:db8::1"})
        assert env["REMOTE_ADDR"] == "2001:db8::1"

    def test_invalid_values_are_ignored_and_logged(self, httpd):
        env = self.env(httpd, "127.0.0.1", {"X-Forwarded-For": "203.0.113.9, not-an-ip",
                                            "X-Forwarded-Proto": "gopher",
                                            "X-Forwarded-Port": "99999"})
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        assert env["wsgi.url_scheme"] == "http"
        assert env["SERVER_PORT"] == str(httpd.port)
        assert httpd.wait_log(r"SI0450: trusted proxy 127.0.0.1 sent X-Forwarded-For: "
                              r"'203.0.113.9, not-an-ip', which is not valid; ignored")

    def test_underscore_spelling_never_poses_as_the_header(self, httpd):
        env = self.env(httpd, "127.0.0.1", {"X_Forwarded_For": "6.6.6.6",
                                            "X-Forwarded-For": "203.0.113.9"})
        assert env["REMOTE_ADDR"] == "203.0.113.9"
        assert "6.6.6.6" not in json.dumps(env)

    def test_without_configuration_headers_pass_untouched(self, httpd):
        env = self.env(httpd, "127.0.0.2", {"X-Forwarded-For": "203.0.113.9"}, path="/plain")
        assert env["REMOTE_ADDR"] == "127.0.0.2"
        assert env["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"

    def test_bad_directive_values_stop_start_up(self):
        for line, message in [("SubinterpTrustedProxies proxy.example", "SI0104: "
                               "SubinterpTrustedProxies: 'proxy.example' is not an IP address"),
                              ("SubinterpTrustedProxyHeaders X-Forwarded-Evil",
                               "SI0104: SubinterpTrustedProxyHeaders: 'X-Forwarded-Evil'")]:
            root = scratch_dir("proxy-bad")
            rc, out = Httpd(root, line + "\n").configtest()
            shutil.rmtree(root, ignore_errors=True)
            assert rc != 0 and message in out, out


class TestTrustedProxyTakesTheValueItAdded:
    CONFIG = DIRECTORY + """
SubinterpScriptAlias /env {apps}/environ.py
<Location /env>
    SubinterpTrustedProxies 127.0.0.1
    SubinterpTrustedProxyHeaders X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port
</Location>
"""

    def test_client_supplied_left_elements_are_ignored(self, httpd):
        env = httpd.get("/env", headers={"X-Forwarded-Proto": "https, http",
                                         "X-Forwarded-Host": "evil.example, good.example",
                                         "X-Forwarded-Port": "8443, 8080"}).json()
        assert env["wsgi.url_scheme"] == "http"
        assert env["HTTP_HOST"] == "good.example"
        assert env["SERVER_PORT"] == "8080"
