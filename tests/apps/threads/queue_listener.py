"""logging.handlers.QueueListener started at import and stopped at exit, as Sentry and
OpenTelemetry stop their workers: its interpreter ends normally when recycled."""
import atexit
import logging
import logging.handlers
import queue

records = queue.Queue()
listener = logging.handlers.QueueListener(records, logging.NullHandler())
listener.start()
atexit.register(listener.stop)
log = logging.getLogger("queue_listener_app")
log.addHandler(logging.handlers.QueueHandler(records))


def application(environ, start_response):
    log.warning("request %s", environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"generation %d" % environ["mod_subinterp.generation"]]
