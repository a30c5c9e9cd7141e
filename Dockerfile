# One image for every process type (see Procfile): pick the process with the command, e.g.
#   docker run IMAGE newsflow worker --queues clean
#   docker run IMAGE newsflow scheduler
#   docker run -p 9464:9464 IMAGE newsflow serve     # metrics, health checks, the dashboard
# Dependencies come from requirements.lock (as in `make setup` and .ci/run), runtime ones only.
# The lock pins torch's CPU build (torch==X+cpu), which PyTorch publishes on its own wheel index
# rather than on PyPI: TORCH_INDEX_URL names that index (set it to a mirror if you have one).
FROM python:3.11-slim AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY workers ./workers
# The lock as constraints: newsflow's runtime dependencies at the lock's versions, without the
# dev tools it also pins; the build tools first, so building newsflow needs nothing unpinned.
RUN python -m venv /opt/newsflow \
 && /opt/newsflow/bin/pip install -c requirements.lock pip setuptools wheel \
 && /opt/newsflow/bin/pip install --extra-index-url "$TORCH_INDEX_URL" --no-build-isolation \
      -c requirements.lock . \
 && /opt/newsflow/bin/pip check

FROM python:3.11-slim
# `newsflow serve` listens on every interface in a container (its port is published or scraped
# from outside); outside one it keeps the loopback default.
# MALLOC_ARENA_MAX: two malloc arenas per process keep threaded workers' memory down (see
# workers/processes.py, where `newsflow run` sets the same for its children).
ENV PATH=/opt/newsflow/bin:$PATH PYTHONUNBUFFERED=1 NEWSFLOW_LOG_FORMAT=json \
    NEWSFLOW_SERVE_HOST=0.0.0.0 NEWSFLOW_SERVE_PORT=9464 MALLOC_ARENA_MAX=2
RUN useradd --create-home --uid 10001 newsflow
COPY --from=build /opt/newsflow /opt/newsflow
# py3langid's model unpacked once into the image (66 MB), so no container unpacks it on start
# (workers/stages/langid_model.py); every process maps the same read-only files.
ENV XDG_CACHE_HOME=/opt/newsflow-cache
RUN python -c "from workers.stages.langid_model import default_cache_dir, load_identifier; \
load_identifier(default_cache_dir())" && test -n "$(ls /opt/newsflow-cache/newsflow)"
COPY --chown=newsflow:newsflow config /app/config
WORKDIR /app
USER newsflow
EXPOSE 9464
# Checks what the container runs (workers/healthcheck.py): `newsflow serve` by GET /healthz
# (urllib: the image has no curl), a worker or the scheduler by a heartbeat in the last minute.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "workers.healthcheck"]
CMD ["newsflow", "worker"]
