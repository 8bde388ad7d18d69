"""tools/grant-apache-access: what `make run` uses to let Apache's user reach an app; it lists
each permission change and changes nothing when refused."""
import os

import pytest


@pytest.mark.skipif(os.geteuid() != 0, reason="only root widens permissions for www-data")
def test_grant_access_lists_each_change_and_can_refuse(scratch):
    import pathlib
    import subprocess
    tmp_path = pathlib.Path(scratch)
    tool = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "grant-apache-access")
    private = tmp_path / "private"
    (private / "inner").mkdir(parents=True)
    private.chmod(0o700)
    os.chmod(tmp_path, 0o755)
    target = private / "inner" / "app.py"
    target.write_text("")
    target.chmod(0o644)
    refused = subprocess.run([tool, str(target)], capture_output=True, text=True,
                             env=dict(os.environ, SI_GRANT_ACCESS="no"), stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert "%s    drwx------ -> drwx-----x" % private in refused.stdout, refused.stdout
    assert "Alternative" in refused.stdout and oct(private.stat().st_mode & 0o777) == "0o700"
    granted = subprocess.run([tool, str(target)], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
    assert granted.returncode == 0, granted.stderr
    assert "chmod o+x %s" % private in granted.stdout
    assert oct(private.stat().st_mode & 0o777) == "0o701"
