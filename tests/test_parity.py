"""mod_wsgi parity for administrators (issue #8): Python auth providers, access scripts, import
scripts, trusted proxies, header hygiene, 100-continue and AddHandler-style scripts."""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time

import requests
from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from conftest import scratch_dir
from harness import APPS, Httpd, read_until_closed, running
from httpd_conf import BASE_MODULES

AUTH_MODULES = BASE_MODULES + ("auth_basic", "auth_digest", "authn_core", "authz_user")


class TestAuthProviders:
    """AuthBasicProvider/AuthDigestProvider subinterp and Require subinterp-group."""
    HTTPD_OPTIONS = {"modules": AUTH_MODULES}
    CONFIG = """
SubinterpPool auth interpreters=2
SubinterpScriptAlias /private {apps}/environ.py
SubinterpScriptAlias /staff {apps}/environ.py
SubinterpScriptAlias /digest {apps}/environ.py
SubinterpScriptAlias /nogroups {apps}/environ.py
<Directory "{apps}">
    Require all granted
</Directory>
<Location /private>
    AuthType Basic
    AuthName "private"
    AuthBasicProvider subinterp
    SubinterpAuthUserScript {apps}/auth_users.py pool=auth
    Require valid-user
</Location>
<Location /staff>
    AuthType Basic
    AuthName "staff"
    AuthBasicProvider subinterp
    SubinterpAuthUserScript {apps}/auth_users.py pool=auth
    SubinterpAuthGroupScript {apps}/auth_users.py pool=auth
    Require subinterp-group staff admins
</Location>
<Location /digest>
    AuthType Digest
    AuthName "digest-realm"
    AuthDigestDomain /digest
    AuthDigestProvider subinterp
    SubinterpAuthUserScript {apps}/auth_users.py pool=auth
    Require valid-user
</Location>
<Location /nogroups>
    AuthType Basic
    AuthName "nogroups"
    AuthBasicProvider subinterp
    SubinterpAuthUserScript {apps}/auth_users.py pool=auth
    Require subinterp-group staff
</Location>
"""
    # mod_auth_basic/digest log every refused password or unknown user at error level.
    EXPECTED_LOG = [r"AH01617: user bob: authentication failure",
                    r"AH01794: user alice: password mismatch",
                    r"AH01618: user nobody not found",
                    r"AH01790: user .alice. in realm .digest-realm. password mismatch",
                    r"AH01617: user alice: authentication failure",
                    r"AH01631: user bob: authorization failure"]

    def test_no_credentials_asks_for_them(self, httpd):
        r = httpd.get("/private/")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Basic realm="private"'

    def test_right_password_is_granted(self, httpd):
        r = httpd.get("/private/x", auth=HTTPBasicAuth("alice", "secret"))
        assert r.status_code == 200
        env = r.json()
        assert env["REMOTE_USER"] == "alice"
        assert env["AUTH_TYPE"] == "Basic"
        assert "HTTP_AUTHORIZATION" not in env, "credentials stay with Apache"

    def test_wrong_password_and_unknown_user_are_refused(self, httpd):
        assert httpd.get("/private/", auth=HTTPBasicAuth("bob", "nope")).status_code == 401
        assert httpd.get("/private/", auth=HTTPBasicAuth("nobody", "x")).status_code == 401

    def test_exception_is_500_with_traceback_never_a_grant(self, httpd):
        r = httpd.get("/private/", auth=HTTPBasicAuth("boom", "x"))
        assert r.status_code == 500
        httpd.expect_log(r"SI0602: pool auth interpreter \d: check_password\(\) \(\S+auth_users.py\) "
                         r"raised for /private/; answering 500:\\nTraceback.*RuntimeError: the "
                         r"user database is down")

    def test_truthy_non_bool_is_500_never_a_grant(self, httpd):
        r = httpd.get("/private/", auth=HTTPBasicAuth("weird", "x"))
        assert r.status_code == 500
        httpd.expect_log(r"SI0603: check_password\(\) \(\S+auth_users.py\) returned int for "
                         r"/private/; expected True, False or None")

    def test_group_member_is_granted_and_others_forbidden(self, httpd):
        r = httpd.get("/staff/", auth=HTTPBasicAuth("alice", "secret"))
        assert r.status_code == 200 and r.json()["REMOTE_USER"] == "alice"
        assert httpd.get("/staff/", auth=HTTPBasicAuth("bob", "hunter2")).status_code == 401
        # mod_authz_core turns "authenticated but not authorized" into 401 for Basic; the
        # group check must have refused bob, and said so.
        httpd.expect_log(r"SI0604: user bob is in none of the groups 'staff admins' required")

    def test_group_script_failures_are_500(self, httpd):
        alice = HTTPBasicAuth("alice", "secret")
        assert httpd.get("/staff/explode", auth=alice).status_code == 500
        httpd.expect_log(r"SI0602: .*groups_for_user\(\).*LookupError: group service unavailable")
        assert httpd.get("/staff/string", auth=alice).status_code == 500
        httpd.expect_log(r"SI0603: groups_for_user\(\) \(\S+\) returned str for /staff/string; "
                         r"expected a list of str")

    def test_group_requirement_without_group_script_is_500(self, httpd):
        r = httpd.get("/nogroups/", auth=HTTPBasicAuth("alice", "secret"))
        assert r.status_code == 500
        httpd.expect_log(r"SI0600: Require subinterp-group is used for /nogroups/ but no "
                         r"SubinterpAuthGroupScript is in effect there")

    def test_digest_uses_get_realm_hash(self, httpd):
        r = httpd.get("/digest/", auth=HTTPDigestAuth("alice", "secret"))
        assert r.status_code == 200
        assert r.json()["REMOTE_USER"] == "alice"
        assert r.json()["AUTH_TYPE"] == "Digest"
        assert httpd.get("/digest/", auth=HTTPDigestAuth("alice", "wrong")).status_code == 401

    def test_digest_failures_are_500_never_a_grant(self, httpd):
        assert httpd.get("/digest/", auth=HTTPDigestAuth("boom", "x")).status_code == 500
        httpd.expect_log(r"SI0602: pool auth interpreter \d: get_realm_hash\(\) .*RuntimeError: "
                         r"the digest store is down")
        assert httpd.get("/digest/", auth=HTTPDigestAuth("weird", "x")).status_code == 500
        httpd.expect_log(r"SI0603: get_realm_hash\(\) \(\S+\) returned str for /digest/; "
                         r"expected None or the 32 hex digits")

    def test_other_requests_unaffected_by_auth_failures(self, httpd):
        for _ in range(3):
            assert httpd.get("/private/", auth=HTTPBasicAuth("boom", "x")).status_code == 500
            assert httpd.get("/private/", auth=HTTPBasicAuth("alice", "secret")).status_code == 200
        httpd.expect_log(r"SI0602")


class TestAccessScript:
    CONFIG = """
SubinterpScriptAlias /guarded {apps}/hello.py
SubinterpScriptAlias /denied {apps}/hello.py
<Directory "{apps}">
    Require all granted
</Directory>
<Location /guarded>
    SubinterpAccessScript {apps}/access.py
</Location>
<Location /denied>
    SubinterpAccessScript {apps}/access.py
    Require all denied
</Location>
<Location /guarded/nofunction>
    SubinterpAccessScript {apps}/auth_users.py
</Location>
"""

    def test_true_allows(self, httpd):
        assert httpd.get("/guarded/page").status_code == 200

    def test_false_forbids(self, httpd):
        assert httpd.get("/guarded/blocked").status_code == 403
        assert httpd.wait_log(r"SI0605: allow_access\(\) \(\S+access.py\) denied /guarded/blocked "
                              r"for 127.0.0.1")

    def test_none_leaves_the_decision_to_other_rules(self, httpd):
        assert httpd.get("/guarded/neutral").status_code == 200
        assert httpd.get("/denied/neutral").status_code == 403
        httpd.expect_log(r"AH01630: client denied by server configuration")

    def test_true_does_not_override_a_deny(self, httpd):
        assert httpd.get("/denied/page").status_code == 403
        httpd.expect_log(r"AH01630: client denied by server configuration")

    def test_script_without_the_function_is_500(self, httpd):
        assert httpd.get("/guarded/nofunction").status_code == 500
        httpd.expect_log(r"SI0601: SubinterpAccessScript \S+auth_users.py \(\S+auth_users.py\) "
                         r"defines no function allow_access\(\); answering 500 for "
                         r"/guarded/nofunction")

    def test_exception_is_500(self, httpd):
        assert httpd.get("/guarded/explode").status_code == 500
        httpd.expect_log(r"SI0602: pool \S+ interpreter \d: allow_access\(\).*PermissionError: "
                         r"access service down")


class TestImportScripts:
    CONFIG = """
SubinterpPool warm interpreters=2
SubinterpPool lazy interpreters=1 preload=off
SubinterpPool failing interpreters=1
SubinterpImportScript {apps}/import_marker.py pool=warm
SubinterpImportScript {apps}/import_marker.py pool=lazy
SubinterpImportScript {apps}/import_failing.py pool=failing
SubinterpScriptAlias /warm {apps}/import_probe.py pool=warm
SubinterpScriptAlias /lazy {apps}/import_probe.py pool=lazy
SubinterpScriptAlias /failing {apps}/import_probe.py pool=failing
SubinterpScriptAlias /plain {apps}/import_probe.py
""" + "\n<Directory \"{apps}\">\n    Require all granted\n</Directory>\n"
    EXPECTED_LOG = [r"SI0301: pool failing interpreter 0: loading \S+import_failing.py for "
                    r"SubinterpImportScript \S+import_failing.py failed; the pool's apps load "
                    r"without it"]

    def test_runs_once_in_every_interpreter_before_the_apps(self, httpd):
        seen = set()
        for _ in range(20):
            got = httpd.get("/warm").json()
            assert got["before_app"] is True and got["runs"] == 1
            seen.add(got["interpreter"])
        assert seen == {0, 1}

    def test_runs_at_start_up_under_preload_off(self, httpd):
        got = httpd.get("/lazy").json()
        assert got["before_app"] is True and got["runs"] == 1

    def test_other_pools_do_not_run_it(self, httpd):
        assert httpd.get("/plain").json()["before_app"] is False

    def test_a_failing_import_script_is_logged_and_the_app_still_serves(self, httpd):
        assert httpd.wait_log(r"SI0301: pool failing .*ImportError: import_failing.py fails",
                              start=0)
        got = httpd.get("/failing").json()
        assert got["before_app"] is False

    def test_pool_is_required(self):
        root = scratch_dir("import-nopool")
        config = "SubinterpImportScript {apps}/import_marker.py\n"
        rc, out = Httpd(root, config).configtest()
        shutil.rmtree(root, ignore_errors=True)
        assert rc != 0 and "SI0106: SubinterpImportScript" in out and "needs pool=NAME" in out


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


class TestExpectContinue:
    """Expect: 100-continue is answered only when the app first reads wsgi.input."""
    CONFIG = """
SubinterpScriptAlias /echo {apps}/echo.py
SubinterpScriptAlias /hello {apps}/hello.py
""" + "\n<Directory \"{apps}\">\n    Require all granted\n</Directory>\n"

    def exchange(self, httpd, path, close=True):
        """Sends the headers, waits for what comes back before any body byte is sent."""
        with socket.create_connection(("127.0.0.1", httpd.port), timeout=10) as s:
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n%s\r\n"
                       % (path, "Connection: close\r\n" if close else "")).encode())
            first = s.recv(65536)
            if first.startswith(b"HTTP/1.1 100 Continue"):
                s.sendall(b"hello")
            return first, read_until_closed(s)

    def test_sent_when_the_app_reads(self, httpd):
        first, rest = self.exchange(httpd, "/echo")
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        whole = first + rest
        assert b"HTTP/1.1 200 OK" in whole
        assert b'"length": 5' in whole or b'"hello"' in whole or b"hello" in whole

    def test_not_sent_when_the_app_does_not_read(self, httpd):
        first, rest = self.exchange(httpd, "/hello")
        assert first.startswith(b"HTTP/1.1 200 OK"), first
        assert b"100 Continue" not in first + rest
        assert (first + rest).endswith(b"Hello, world!\n")

    def test_unread_body_closes_a_keep_alive_connection(self, httpd):
        """The client never sends the body it was not asked for, so Apache must not wait for it
        (the exchange would hang until Timeout) nor read it as the next request."""
        first, rest = self.exchange(httpd, "/hello", close=False)
        assert b"Connection: close" in first + rest
        assert (first + rest).endswith(b"Hello, world!\n")

    def test_with_curl(self, httpd, scratch):
        body = os.path.join(scratch, "body.bin")
        with open(body, "wb") as f:
            f.write(b"x" * 4096)
        for path, wants_continue in (("/echo", True), ("/hello", False)):
            p = subprocess.run(["curl", "-sv", "--expect100-timeout", "10", "-H",
                                "Expect: 100-continue", "--data-binary", "@" + body,
                                httpd.url(path)], capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
            assert ("< HTTP/1.1 100 Continue" in p.stderr) == wants_continue, p.stderr
            assert "< HTTP/1.1 200 OK" in p.stderr


class TestHandlerScripts:
    """SetHandler/AddHandler subinterp-script (a .wsgi file per URL) and SubinterpHandlerScript."""
    HTTPD_OPTIONS = {"modules": BASE_MODULES + ("mime",)}
    CONFIG = """
TypesConfig /etc/mime.types
SubinterpPool files interpreters=2
SubinterpHandlerScript md-render {apps}/md_handler.py
Alias /h {apps}/handler_dir
Alias /noexec {apps}/handler_dir
Alias /nopool {apps}/handler_dir
Alias /docs {apps}/handler_dir
Alias /hc {apps}/handler_dir
<Directory "{apps}/handler_dir">
    Require all granted
</Directory>
<Location /h>
    Options +ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
</Location>
<Location /hc>
    Options +ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
    SubinterpCallableObject app
</Location>
<Location /noexec>
    Options -ExecCGI
    AddHandler subinterp-script .wsgi
    SubinterpHandlerPool files
</Location>
<Location /nopool>
    Options +ExecCGI
    SetHandler subinterp-script
</Location>
<Location /docs>
    AddHandler md-render .md
</Location>
"""

    def test_each_file_is_its_own_app(self, httpd):
        r = httpd.get("/h/hello.wsgi")
        assert r.status_code == 200 and r.text == "hello from a .wsgi file\n"
        env = httpd.get("/h/env.wsgi/extra/path?q=1").json()
        assert env["SCRIPT_NAME"] == "/h/env.wsgi"
        assert env["PATH_INFO"] == "/extra/path"
        assert env["QUERY_STRING"] == "q=1"
        assert env["SCRIPT_FILENAME"] == os.path.join(APPS, "handler_dir", "env.wsgi")
        assert env["mod_subinterp.pool"] == "files"

    def test_files_load_in_every_interpreter_as_needed(self, httpd):
        seen = {httpd.get("/h/env.wsgi").json()["mod_subinterp.interpreter"] for _ in range(20)}
        assert seen == {0, 1}

    def test_callable_object_names_the_callable_per_directory(self, httpd):
        # The same file under two directories, with a different callable in each.
        assert httpd.get("/hc/callable.wsgi").text == "the callable named app"
        assert httpd.get("/h/callable.wsgi").text == "the default application"

    def test_missing_file_is_404(self, httpd):
        assert httpd.get("/h/missing.wsgi").status_code == 404
        httpd.expect_log(r"AH00128: File does not exist|SI0312")

    def test_exec_cgi_is_required(self, httpd):
        assert httpd.get("/noexec/hello.wsgi").status_code == 403
        httpd.expect_log(r"SI0313: Options ExecCGI is off in the directory of \S+hello.wsgi")

    def test_handler_pool_is_required(self, httpd):
        assert httpd.get("/nopool/hello.wsgi").status_code == 500
        httpd.expect_log(r"SI0311: \S+hello.wsgi is handled by subinterp-script but no "
                         r"SubinterpHandlerPool is in effect there")

    def test_broken_file_is_500_and_logged(self, httpd):
        assert httpd.get("/h/broken.wsgi").status_code == 500
        httpd.expect_log(r"SI0301: pool files interpreter \d: loading \S+broken.wsgi for script "
                         r"\S+broken.wsgi failed; it answers 500:\\nTraceback.*SyntaxError")
        httpd.expect_log(r"SI0302")
        assert httpd.get("/h/hello.wsgi").status_code == 200

    def test_named_handler_script_renders_resources(self, httpd):
        r = httpd.get("/docs/readme.md")
        assert r.status_code == 200
        assert "<h1>Title</h1>" in r.text and "<p>Some text.</p>" in r.text
        assert r.text.startswith("<!-- /docs/readme.md ")
        # Files the handler is not mapped to are served as usual.
        assert httpd.get("/docs/hello.wsgi").text.startswith("def application")


def test_unknown_pools_of_scripts_stop_start_up():
    """apachectl -t names the directive, where it is, and the pool it cannot find."""
    for config, message in [
        ("<Location /x>\n    SubinterpAuthUserScript {apps}/auth_users.py pool=nope\n</Location>\n",
         r"SI0110: SubinterpAuthUserScript \S+auth_users.py \(\S+httpd.conf:\d+\): unknown pool "
         r"'nope'"),
        ("SubinterpImportScript {apps}/import_marker.py pool=nope\n",
         r"SI0110: SubinterpImportScript \S+import_marker.py \(\S+\): unknown pool 'nope'"),
        ("<Location /x>\n    SubinterpHandlerPool nope\n</Location>\n",
         r"SI0110: SubinterpHandlerPool nope \(\S+\): unknown pool"),
        ("SubinterpHandlerScript md {apps}/md_handler.py pool=nope\n",
         r"SI0110: SubinterpHandlerScript md \(\S+\): unknown pool 'nope'"),
    ]:
        root = scratch_dir("unknown-pool")
        rc, out = Httpd(root, config).configtest()
        shutil.rmtree(root, ignore_errors=True)
        assert rc != 0 and re.search(message, out), out


def test_handler_files_reload_when_changed(scratch):
    """With SubinterpScriptReloading On, an edited .wsgi file is imported again."""
    app_dir = os.path.join(scratch, "wsgi")
    os.makedirs(app_dir)
    os.chmod(scratch, 0o755)
    script = os.path.join(app_dir, "v.wsgi")

    def write(version):
        with open(script, "w") as f:
            f.write("def application(e, s):\n    s('200 OK', [])\n    return [b'%s']\n" % version)
        os.chmod(script, 0o644)

    write("one")
    config = """
SubinterpScriptReloading On
SubinterpPool files interpreters=1
Alias /w "%s"
<Directory "%s">
    Require all granted
    Options +ExecCGI
    SetHandler subinterp-script
    SubinterpHandlerPool files
</Directory>
""" % (app_dir, app_dir)
    with running(scratch_dir("reload-files"), config) as server:
        assert server.get("/w/v.wsgi").text == "one"
        time.sleep(0.05)
        write("two")
        future = time.time() + 2
        os.utime(script, (future, future))
        assert server.get("/w/v.wsgi").text == "two"


def test_auth_scripts_in_htaccess_are_refused():
    """Hook scripts load when a child starts, so .htaccess (read per request) cannot name them:
    Apache answers 500 and names the directive, and the script never runs."""
    root = scratch_dir("htaccess")
    config = """
SubinterpScriptAlias /hello {apps}/hello.py
<Directory "{apps}">
    Require all granted
</Directory>
<Directory "{root}/htdocs">
    AllowOverride AuthConfig
</Directory>
"""
    with running(root, config, [r"SubinterpAuthUserScript not allowed here"]) as server:
        with open(os.path.join(root, "htdocs", ".htaccess"), "w") as f:
            f.write("SubinterpAuthUserScript %s/auth_users.py\n" % APPS)
        os.chmod(os.path.join(root, "htdocs", ".htaccess"), 0o644)
        assert server.get("/index.html").status_code == 500
        assert server.wait_log(r"\.htaccess: SubinterpAuthUserScript not allowed here")
        assert server.get("/hello").status_code == 200
