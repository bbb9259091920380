# Two images from one file (see docs/deploy.md):
#   docker build --target api    -t forecast-api .     # FastAPI + onnxruntime, no TensorFlow
#   docker build --target worker -t forecast-worker .  # Celery worker with CPU TensorFlow
# The API serves forecasts from ONNX and never imports TensorFlow, so its image is built from
# the lock of the base dependencies (requirements/api.txt); the worker's lock adds the `train`
# extra (requirements/worker.txt).

FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# ---------------------------------------------------------------- dependency layers (cached)
# The dependencies come from the locks alone (pinned and hashed, `make lock` writes them): the
# images install exactly what the tests ran with, and editing the code never reinstalls them.
FROM base AS api-deps
WORKDIR /build
COPY requirements/api.txt ./requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/api.txt

# The worker's venv starts from the API's (shared layer) and adds the train extra's lock.
FROM api-deps AS worker-deps
COPY requirements/worker.txt ./requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/worker.txt

# ---------------------------------------------------------------- runtime
FROM base AS runtime
# A fixed uid, so a bind-mounted or NFS artifact store can be chowned to it on the host.
RUN groupadd --system --gid 10001 forecast \
    && useradd --system --uid 10001 --gid forecast --create-home --home-dir /home/forecast \
       --shell /usr/sbin/nologin forecast \
    && mkdir -p /var/lib/forecast/models \
    && chown forecast:forecast /var/lib/forecast/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv/forecast \
    FORECAST_MODEL_DIR=/var/lib/forecast/models \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /srv/forecast

FROM runtime AS api
COPY --from=api-deps /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations/ ./migrations/
COPY app/ ./app/
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["python", "-m", "app.serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS worker
COPY --from=worker-deps /opt/venv /opt/venv
COPY alembic.ini ./
COPY migrations/ ./migrations/
COPY app/ ./app/
USER 10001:10001
# The worker answers a broadcast ping from the broker (its node name is celery@<container id>).
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["sh", "-c", "celery -A app.training.jobs.celery_app:celery inspect ping --destination celery@$HOSTNAME --timeout 10"]
# Docker's SIGTERM is Celery's warm shutdown: the running job is finished first (docs/workers.md).
CMD ["celery", "-A", "app.training.jobs.celery_app:celery", "worker", "--loglevel=INFO", "--concurrency=1"]
