"""The webhook service that Cloud Run runs: Flask app, auth checks, group commit, sink, metrics, logs, gunicorn."""
