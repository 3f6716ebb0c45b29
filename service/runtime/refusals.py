"""A request that will not become a row, and the JSON error a CRM admin reads about it."""

from __future__ import annotations

from flask import Response, jsonify


class Rejected(Exception):
    """A request that will not become a row; the message tells the CRM admin what to change."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response
