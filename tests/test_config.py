"""Start-up validation: every configuration mistake stops Apache with a message that names the
directive and the problem (for `apachectl -t` as for a start)."""
import pytest

from harness import GRANT_APPS as DIRECTORY, Httpd, running



@pytest.mark.parametrize("body,message", [
    ("SubinterpPool p bogus=1", r"SI0101: SubinterpPool p: unknown option 'bogus'"),
    ("SubinterpPool p interpreters", r"SI0101: SubinterpPool p: 'interpreters' is not option=value"),
    ("SubinterpPool interpreters=2", r"SI0101: SubinterpPool: 'interpreters=2' is not a pool name"),
    ("SubinterpPool p interpreters=two", r"SI0102: SubinterpPool p: option interpreters=two is not a whole number"),
    ("SubinterpPool p interpreters=0", r"SI0102: SubinterpPool p: option interpreters=0 is out of range"),
    ("SubinterpPool p queue-timeout=-1", r"SI0102: SubinterpPool p: option queue-timeout=-1 is out of range"),
    ("SubinterpPool p gil=none", r"SI0102: SubinterpPool p: option gil=none: expected own, shared or main"),
    ("SubinterpPool p gil=main interpreters=2", r"SI0102: SubinterpPool p: gil=main runs in the "
                                               r"one main interpreter"),
    ("SubinterpPool p python-path=/no/such/dir", r"SI0103: SubinterpPool p: python-path: directory '/no/such/dir' "
                                                 r"does not exist"),
    ("SubinterpPool p virtualenv=/tmp", r"SI0103: SubinterpPool p: virtualenv=/tmp: no /tmp/lib/python3\.\d+/"),
    ("SubinterpPool p max-requests=0", r"SI0102: SubinterpPool p: option max-requests=0 is out of range"),
    ("SubinterpPool p request-timeout=0", r"SI0102: SubinterpPool p: option request-timeout=0 is out of range"),
    ("SubinterpPool p preload=maybe", r"SI0102: SubinterpPool p: option preload=maybe: expected on or off"),
    ("SubinterpPool p cpu-affinity=yes", r"SI0102: SubinterpPool p: option cpu-affinity=yes: expected on, off or "
                                             r"auto"),
    ("SubinterpPool p gil=main cpu-affinity=auto", r"SI0102: SubinterpPool p: cpu-affinity=auto "
                                                   r"needs gil=own"),
    ("SubinterpPool p gil=shared cpu-affinity=on", r"SI0102: SubinterpPool p: cpu-affinity=on "
                                                   r"needs gil=own"),
    ("SubinterpPool p gil=main max-requests=10", r"SI0102: SubinterpPool p: gil=main cannot be "
                                                 r"recycled"),
    ("SubinterpScriptReloading sometimes", r"SubinterpScriptReloading must be On or Off"),
    ("SubinterpPool p\nSubinterpPool p", r"SI0105: SubinterpPool p is already declared"),
    ("SubinterpScriptAlias /x", r"SI0106: SubinterpScriptAlias needs a URL path and a script"),
    ("SubinterpScriptAlias x {apps}/hello.py", r"SI0106: SubinterpScriptAlias: URL path 'x' must "
                                               r"start with /"),
    ("SubinterpScriptAlias /x /no/such/app.py", r"SI0107: SubinterpScriptAlias /x: script file "
                                                r"'/no/such/app.py' does not exist"),
    ("SubinterpScriptAlias /x {apps}", r"SI0107: .*is not a regular file"),
    ("SubinterpScriptAlias /x {apps}/hello.py colour=blue", r"SI0101: SubinterpScriptAlias /x: "
                                                            r"unknown option 'colour=blue'"),
    ("SubinterpScriptAlias /x {apps}/hello.py\nSubinterpScriptAlias /x/ {apps}/hello.py",
     r"SI0108: SubinterpScriptAlias /x/ is already mounted at \S+httpd.conf:\d+"),
    ("SubinterpScriptAlias /x {apps}/hello.py pool=nope", r"SI0110: SubinterpScriptAlias /x "
                                                          r"\(\S+httpd.conf:\d+\): unknown pool "
                                                          r"'nope'"),
    ("SubinterpPool p\n<VirtualHost 127.0.0.1:{port}>\nServerName v\n"
     "SubinterpScriptAlias /x {apps}/hello.py pool=p\n</VirtualHost>",
     r"SI0110: .*unknown pool 'p'; declare it with SubinterpPool in the same server or virtual"),
    ("<VirtualHost 127.0.0.1:{port}>\nSubinterpPythonHome /usr\n</VirtualHost>",
     r"SubinterpPythonHome cannot occur within <VirtualHost> section"),
    ("SubinterpPythonHome /no/such/home", r"SI0103: SubinterpPythonHome: directory "
                                          r"'/no/such/home' does not exist"),
    ("SubinterpPythonPath /tmp:/no/such", r"SI0103: SubinterpPythonPath: directory '/no/such'"),
    ("SubinterpPassAuthorization maybe", r"SubinterpPassAuthorization must be On or Off"),
])
def test_configuration_error_stops_startup(scratch, body, message):
    server = Httpd(scratch, DIRECTORY + body)
    rc, output = server.configtest()
    assert rc != 0, output
    assert pytest.importorskip("re").search(message, output), output
    with pytest.raises(RuntimeError) as excinfo:
        server.start(timeout=15)
    assert pytest.importorskip("re").search(message, str(excinfo.value)), str(excinfo.value)


def test_valid_configuration_passes_configtest(scratch):
    server = Httpd(scratch, DIRECTORY + """
SubinterpPythonPath /tmp
SubinterpPool p interpreters=3 gil=own python-path=/tmp max-active=4 queue-timeout=2.5 \\
    request-timeout=10 max-requests=1000 preload=off
SubinterpScriptReloading On
SubinterpScriptAlias /a {apps}/hello.py pool=p
SubinterpScriptAlias /b/ {apps}/hello.py callable=application
""")
    rc, output = server.configtest()
    assert rc == 0 and "Syntax OK" in output, output


POOL_OPTIONS = {"interpreters": "2", "gil": "shared", "python-path": "/tmp",
                "virtualenv": None, "max-active": "4", "queue-timeout": "1",
                "request-timeout": "5", "max-requests": "100", "preload": "off",
                "daemon-threads": "on"}


def test_every_pool_option_is_in_the_help_and_in_the_unknown_option_error(scratch):
    """The option list is written once: `httpd -L` and SI0101 both name every option the parser
    takes (the help once forgot preload=)."""
    import subprocess
    from harness import HTTPD, httpd_env
    for option, value in POOL_OPTIONS.items():
        if value is not None:
            rc, output = Httpd(scratch, DIRECTORY + "SubinterpPool p %s=%s\n"
                               "SubinterpScriptAlias /a {apps}/hello.py pool=p"
                               % (option, value)).configtest()
            assert rc == 0, (option, output)
    rc, error = Httpd(scratch, DIRECTORY + "SubinterpPool p bogus=1").configtest()
    listing = subprocess.run([HTTPD, "-L", "-f", Httpd(scratch, DIRECTORY).write_config()],
                             capture_output=True, text=True, timeout=30, env=httpd_env()).stdout
    help_line = listing[listing.index("SubinterpPool"):].split("\n")[1]
    for option in POOL_OPTIONS:
        assert "[%s=" % option in help_line, (option, help_line)
        assert "[%s=" % option in error, (option, error)


def test_unused_pool_is_a_warning(scratch):
    with running(scratch, DIRECTORY + "SubinterpPool idle\n"
                 "SubinterpScriptAlias /a {apps}/hello.py") as server:
        assert server.wait_log(r"\[subinterp:warn\].*SI0112: SubinterpPool idle \(\S+:\d+\) has "
                               r"no SubinterpScriptAlias", start=0)
        assert server.get("/a").status_code == 200


def test_example_vhost_serves(scratch):
    """conf/example-vhost.conf, with /srv mapped to a scratch tree and *:80 to our port, starts
    and serves every mount it declares."""
    import os
    import subprocess
    import sys
    srv = os.path.join(scratch, "srv")
    hello = open(os.path.join(os.path.dirname(__file__), "apps", "hello.py")).read()
    for path, source in (("shop/wsgi.py", hello), ("api/app.py", hello.replace(
            "def application", "def app")), ("reports/wsgi.py", hello)):
        os.makedirs(os.path.dirname(os.path.join(srv, path)), exist_ok=True)
        with open(os.path.join(srv, path), "w") as f:
            f.write(source)
    os.makedirs(os.path.join(srv, "shop", "src"))
    os.makedirs(os.path.join(srv, "shop", "static"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                    os.path.join(srv, "shop", "venv")], check=True)
    example = open(os.path.join(os.path.dirname(__file__), "..", "conf",
                                "example-vhost.conf")).read()
    body = example.replace("/srv", srv).replace("*:80", "127.0.0.1:{port}")
    body = body.replace("{", "{{").replace("}", "}}").replace("{{port}}", "{port}")
    rc, output = Httpd(scratch, body).configtest()
    assert rc == 0, output
    with running(scratch, body) as server:
        for path in ("/", "/api", "/reports"):
            r = server.get(path, headers={"Host": "shop.example.com"})
            assert r.status_code == 200 and r.text == "Hello, world!\n", path


def test_python_that_cannot_start_is_logged_and_answers_500(scratch):
    """A SubinterpPythonHome without a standard library: the child says why (SI0201) and the
    mount answers 500 (SI0502) instead of crashing."""
    import os
    home = os.path.join(scratch, "not-a-python")
    os.makedirs(home)
    with running(scratch, DIRECTORY + "SubinterpPythonHome %s\n"
                 "SubinterpScriptAlias /a {apps}/hello.py" % home,
                 expected=(r"SI0201", r"SI0502")) as server:
        assert server.get("/a").status_code == 500
        assert server.wait_log(r"\[subinterp:crit\] .*SI0201: Python could not be initialized "
                               r"\(home %s\)" % home, start=0)
        assert server.wait_log(r"SI0502: pool /a for /a is not running: Python failed to start",
                               start=0)


def test_prefork_is_refused_at_start_up(scratch):
    from harness import Httpd
    server = Httpd(scratch, DIRECTORY + "SubinterpScriptAlias /h {apps}/hello.py\n",
                   mpm="prefork")
    rc, out = server.configtest()
    assert rc != 0 and "SI0111" in out and "threaded MPM" in out, out


def test_mod_wsgi_loaded_beside_us_is_refused(scratch):
    """Debian's libapache2-mod-wsgi-py3 (installed by make deps) embeds another libpython: with
    both loaded every child aborted at exit.  apachectl -t and a start refuse it, naming it."""
    server = Httpd(scratch, "LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so\n"
                   + DIRECTORY + "SubinterpScriptAlias /a {apps}/hello.py\n")
    rc, output = server.configtest()
    assert rc != 0, output
    assert "SI0117: mod_wsgi is loaded too" in output and "a2dismod wsgi" in output, output
    with pytest.raises(RuntimeError) as excinfo:
        server.start(timeout=15)
    assert "SI0117" in str(excinfo.value)
