"""Emit the make variables that embed this interpreter (run by the chosen python).

Embedding needs the shared libpython: a static one cannot be shared by the
extension modules that sub-interpreters load.
"""
import os
import sys
import sysconfig

if sys.version_info < (3, 13):
    sys.exit("pyconfig: Python %d.%d is too old: own-GIL sub-interpreters need 3.13+"
             % sys.version_info[:2])
if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
    sys.exit("pyconfig: %s was built without --enable-shared; mod_subinterp needs libpython as "
             "a shared library" % sys.executable)

libdir = sysconfig.get_config_var("LIBDIR")
ldversion = sysconfig.get_config_var("LDVERSION")
print("PY_VERSION :=", sysconfig.get_config_var("VERSION"))
print("PY_EXE :=", sys.executable)
print("PY_INCLUDE :=", sysconfig.get_path("include"))
print("PY_LIBDIR :=", libdir)
print("PY_LDLIB := python" + ldversion)
print("PY_HOME :=", sys.base_prefix)
print("PY_STDLIB :=", os.path.dirname(os.__file__))
