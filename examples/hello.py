"""The demo app `make run` serves: says hello and which interpreter answered."""


def application(environ, start_response):
    body = (
        "Hello from mod_subinterp %s\n"
        "pool %s, interpreter %d (generation %d), Python %s\n"
        % (
            environ["mod_subinterp.version"],
            environ["mod_subinterp.pool"],
            environ["mod_subinterp.interpreter"],
            environ["mod_subinterp.generation"],
            __import__("sys").version.split()[0],
        )
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
