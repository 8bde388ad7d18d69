"""Python auth providers (SubinterpAuthUserScript, SubinterpAuthGroupScript) and access scripts
(SubinterpAccessScript): what they grant, what they refuse, and that a failing script never grants."""
import os

from requests.auth import HTTPBasicAuth, HTTPDigestAuth

from conftest import scratch_dir
from harness import APPS, running
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
