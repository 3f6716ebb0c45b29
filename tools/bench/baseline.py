"""The benchmark's baseline: a bare Flask app that reads the body and answers a small JSON.

Served by scripts/bench with the same gunicorn config file, workers and threads as hookstream, so the
gap between the two is what hookstream itself costs (group commit, logging, counters, BigQuery).
"""

from __future__ import annotations

import uuid

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/hooks")
    def receive() -> Response:
        body = request.get_data(cache=False)
        return jsonify(status="stored", hit_id=str(uuid.uuid4()), bytes=len(body))

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    return app
