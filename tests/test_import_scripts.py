"""SubinterpImportScript: code run in every interpreter of a pool before its apps, and script
directives that name a pool that does not exist."""
import re
import shutil

from conftest import scratch_dir
from harness import Httpd


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
