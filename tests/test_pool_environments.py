"""Per-pool Python environments: each pool's virtualenv= and python-path=, and
SubinterpPythonPath for every pool, across virtual hosts."""
import os
import subprocess
import sys

import pytest

from conftest import scratch_dir
from harness import running


def make_venv_with_package(root, name, version, system_site=False):
    """A real venv whose site-packages holds a one-file package `samepkg` of that version."""
    venv = os.path.join(root, name)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv]
                   + (["--system-site-packages"] if system_site else []), check=True)
    site = os.path.join(venv, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
    os.makedirs(os.path.join(site, "samepkg"))
    with open(os.path.join(site, "samepkg", "__init__.py"), "w") as f:
        f.write("VERSION = %r\n" % version)
    return venv


class TestPerPoolEnvironments:
    CONFIG = """
SubinterpPythonPath {root}/global
<VirtualHost 127.0.0.1:{port}>
    ServerName one.test
    SubinterpPool env interpreters=1 virtualenv={root}/venv1 python-path={root}/lib1
    SubinterpScriptAlias / {apps}/versions.py pool=env
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName two.test
    SubinterpPool env interpreters=1 virtualenv={root}/venv2
    SubinterpScriptAlias / {apps}/versions.py pool=env
</VirtualHost>
<Directory "{apps}">
    Require all granted
</Directory>
"""

    @pytest.fixture(scope="class")
    def httpd(self):
        root = scratch_dir("TestPerPoolEnvironments")
        make_venv_with_package(root, "venv1", "1.0")
        make_venv_with_package(root, "venv2", "2.0", system_site=True)
        for d, text in (("global", "GLOBAL = True\n"), ("lib1", "ONLY_ONE = True\n")):
            os.makedirs(os.path.join(root, d))
            with open(os.path.join(root, d, "marker_%s.py" % d), "w") as f:
                f.write(text)
        with running(root, self.CONFIG) as server:
            yield server

    def test_each_vhost_imports_its_own_venv_version(self, httpd):
        one = httpd.get("/", headers={"Host": "one.test"}).json()
        two = httpd.get("/", headers={"Host": "two.test"}).json()
        assert one["samepkg"] == "1.0" and two["samepkg"] == "2.0"

    def test_python_path_is_per_pool_and_global_path_everywhere(self, httpd):
        one = httpd.get("/", headers={"Host": "one.test"}).json()
        two = httpd.get("/", headers={"Host": "two.test"}).json()
        assert one["lib1"] and not two["lib1"]
        assert one["global"] and two["global"]

    def test_a_venv_without_system_site_packages_does_not_see_them(self, httpd):
        """pyvenv.cfg's include-system-site-packages, as CPython's site reads it: false (the
        venv default) keeps the base interpreter's site-packages off sys.path; true keeps it
        after the venv's own.  Before, the base site-packages was always there."""
        one = httpd.get("/", headers={"Host": "one.test"}).json()
        two = httpd.get("/", headers={"Host": "two.test"}).json()
        assert not one["base_site"]
        assert two["base_site"]
