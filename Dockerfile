# payreq: a slim, non-root image in two stages (docs/deploy.md).
#   docker build -t payreq .
# Stage 1 builds a wheel and installs it with its dependencies into a virtualenv;
# stage 2 copies only that virtualenv onto a slim Python, runs as an unprivileged user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
RUN python -m venv /opt/payreq \
 && /opt/payreq/bin/pip install --upgrade pip \
 && /opt/payreq/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/payreq/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAYREQ_LOG_JSON=true
RUN groupadd --system --gid 10001 payreq \
 && useradd --system --uid 10001 --gid payreq --home-dir /var/lib/payreq --create-home payreq
COPY --from=build /opt/payreq /opt/payreq
USER payreq
WORKDIR /var/lib/payreq
EXPOSE 8000
# liveness for orchestrators; readiness is /readyz (database, migrations, Redis, worker)
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["payreq", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
