"""gunicorn's logger without the access log.

gunicorn turns its access log on whenever a logging config is given (we give one, for JSON lines), and
then formats an access line for every request. hookstream writes its own line per hit instead, and an
access line would print the request path, which in token mode holds the endpoint secret.
"""

from gunicorn.glogging import Logger


class NoAccessLogLogger(Logger):  # type: ignore[misc]
    def _compute_access_log_enabled(self) -> bool:
        return False

    def access(self, *args: object, **kwargs: object) -> None:
        return None
