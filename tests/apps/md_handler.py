"""A SubinterpHandlerScript: renders the resource Apache mapped the URL to (SCRIPT_FILENAME)."""
import html


def application(environ, start_response):
    with open(environ["SCRIPT_FILENAME"], encoding="utf-8") as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append("<h1>%s</h1>" % html.escape(line[2:]))
        elif line:
            out.append("<p>%s</p>" % html.escape(line))
    body = ("<!-- %s %s -->\n" % (environ["SCRIPT_NAME"], environ["mod_subinterp.pool"])
            + "\n".join(out) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]
