"""A request that will not become a row, and the JSON error a CRM admin reads about it."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


class Rejected(Exception):
    """A request that will not become a row; the message tells the CRM admin what to change."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """The bytes Flask's `jsonify` sends outside debug mode (compact, keys sorted, ASCII, a final newline),
    without its per-call lookups of the app's JSON provider."""
    response = Response(json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n", status=status,
                        mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)
