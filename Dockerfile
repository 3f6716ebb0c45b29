# The webhook service image that Cloud Run runs, one service per stream (settings come from env).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml ./
COPY service/ service/
# The runtime dependencies (flask, gunicorn, google-cloud-bigquery) and the Google Ads upload job's (the ads
# extra: Google's Data Manager client), at the versions pinned in pyproject.toml.
RUN pip install ".[ads]"
USER nobody
# Cloud Run sets $PORT; gunicorn.conf.py binds it and handles SIGTERM gracefully.
CMD ["gunicorn", "--config", "service/runtime/gunicorn.conf.py"]
