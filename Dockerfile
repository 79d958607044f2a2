# One image for every Relay process: `relay serve` (the default), `relay worker`, `relay migrate`.
#   docker build -t relay .
#   docker run --rm relay migrate
# docker-compose.yml runs a production-like stack from it; infra/terraform runs it on ECS Fargate.
# linux/amd64 only: neonize's wheel carries its Go core for x86_64 alone.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/relay
WORKDIR /src
# The package and what its build reads (the README is the project's long description).
COPY pyproject.toml README.md ./
COPY relay ./relay
COPY workers ./workers
COPY webhooks ./webhooks
RUN /opt/relay/bin/pip install .


FROM python:3.11-slim

# neonize imports python-magic, which needs libmagic; video and audio messages need ffmpeg and
# ffprobe for their length and preview.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid relay --home-dir /var/lib/relay --create-home relay

COPY --from=build /opt/relay /opt/relay

# RELAY_DATA_DIR holds what a process keeps locally (generated secrets when none are given, the
# per-session whatsmeow files when RELAY_WHATSAPP_STORE is not set, a worker's journal).
ENV PATH=/opt/relay/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RELAY_DATA_DIR=/var/lib/relay \
    RELAY_HOST=0.0.0.0 \
    RELAY_PORT=8080

USER relay
WORKDIR /var/lib/relay
# Declared so that a read-only root file system (infra/terraform) still has these two writable,
# with the owners and modes they have here (relay's data dir, a sticky /tmp).
VOLUME ["/var/lib/relay", "/tmp"]
EXPOSE 8080

# For the web process: /readyz answers 200 once the database and Redis are reachable. A worker
# or migrate container has no web port; docker-compose.yml turns the check off for them.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('RELAY_PORT', '8080'), timeout=3)"]

ENTRYPOINT ["relay"]
CMD ["serve"]
