"""gunicorn settings shared by the Cloud Run image, scripts/dev and the tests.

One process per instance, so that the hits in flight share one BigQuery write (group commit). Its threads
parse requests and run the view; a hit waiting for its write is parked and holds no thread
(service/runtime/parking.py).
"""

import os
from typing import Any

from service.runtime.allocator import keep_large_buffers_returnable
from service.runtime.settings import process_settings

# Read (and checked) here, in the arbiter: a bad environment stops gunicorn with the variable's name
# before a worker starts, and the workers inherit the parsed settings.
SETTINGS = process_settings()

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"
wsgi_app = "service.runtime.app:create_app()"
# gthread that spends a thread only on a request ready to be worked on (service/runtime/gunicorn_worker.py).
worker_class = "service.runtime.gunicorn_worker.ThreadSparingWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# Cloud Run sends up to `concurrency` requests at once. Parked hits need no thread, but a hit on a blocking path
# does (a spool upload while BigQuery is down, service/runtime/spooling_sink.py): one thread per request in
# flight keeps an outage from queueing hits inside the instance.
# The stream's Cloud Run concurrency, carried by the service's env (service/model/service_env.py).
threads = SETTINGS.spec.threads
# Cloud Run gives a container 10 s after SIGTERM: finish in-flight requests within that.
graceful_timeout = 8
timeout = 60
keepalive = 5
# gunicorn 25+ opens a runtime control socket at one fixed path per user; several local services (and
# tests) would fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = None  # one structured line per hit comes from the app instead
logger_class = "service.runtime.gunicorn_logger.NoAccessLogLogger"
# Only Google's front end reaches a Cloud Run container, and hookstream reads no X-Forwarded-* header;
# trusting the peer also spares gunicorn parsing its IP address on every request.
forwarded_allow_ips = "*"
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "service.runtime.logs.JsonFormatter"}},
    # gunicorn's error lines quote request lines and URIs, which may hold the endpoint secret.
    "filters": {"redact_request": {"()": "service.runtime.gunicorn_logger.RedactRequestFilter"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        "gunicorn_stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout",
                            "filters": ["redact_request"]},
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["gunicorn_stdout"], "level": "INFO", "propagate": False},
        # Off (see service/runtime/gunicorn_logger.py): an access line would print the path, which may hold the secret.
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """In the arbiter, before any worker is forked (they inherit the allocator's setting)."""
    keep_large_buffers_returnable()


def worker_exit(server: Any, worker: Any) -> None:
    """On SIGTERM gunicorn stops taking requests and lets running ones finish; then release the sink."""
    from service.runtime.app import EndpointFlask

    app = getattr(worker, "wsgi", None)  # gunicorn's Worker attribute: the loaded app, once a worker ran
    if isinstance(app, EndpointFlask):
        app.close_sink()
