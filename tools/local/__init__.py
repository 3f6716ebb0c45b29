"""The local stack: a real BigQuery emulator and real gunicorn services, built from infra/streams.py."""
