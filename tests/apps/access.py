"""SubinterpAccessScript: allow_access(environ, host) decides by the path it guards."""


def allow_access(environ, host):
    path = environ["PATH_INFO"]
    if "/blocked" in path:
        return False
    if "/neutral" in path:
        return None
    if "/explode" in path:
        raise PermissionError("access service down")
    return host == "127.0.0.1"
