"""The framing barrage (scripts/fuzz): malformed and slow HTTP requests against a real gunicorn service."""
