"""A Python user database for SubinterpAuthUserScript / SubinterpAuthGroupScript.

Passwords are kept as md5('user:realm:password') for Digest and checked for Basic by recomputing
it, so one table serves both.  Users "boom" and "weird" misbehave on purpose.
"""
import hashlib

REALM = "digest-realm"
PASSWORDS = {"alice": "secret", "bob": "hunter2", "boom": "x", "weird": "x"}
GROUPS = {"alice": ["staff", "users"], "bob": ["users"], "boom": ["staff"], "weird": ["staff"]}
CALLS = {"check_password": 0, "groups_for_user": 0}


def check_password(environ, user, password):
    CALLS["check_password"] += 1
    if user == "boom":
        raise RuntimeError("the user database is down")
    if user == "weird":
        return 1   # truthy, but not True: must never grant
    if user not in PASSWORDS:
        return None
    return PASSWORDS[user] == password


def get_realm_hash(environ, user, realm):
    if user == "boom":
        raise RuntimeError("the digest store is down")
    if user == "weird":
        return "not-a-hash"
    if user not in PASSWORDS:
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, PASSWORDS[user])).encode()).hexdigest()


def groups_for_user(environ, user):
    CALLS["groups_for_user"] += 1
    if environ.get("PATH_INFO", "").startswith("/staff/explode"):
        raise LookupError("group service unavailable")
    if environ.get("PATH_INFO", "").startswith("/staff/string"):
        return "staff"   # a str, not a list: must be refused, not read letter by letter
    return GROUPS.get(user, [])
