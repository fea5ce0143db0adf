# The gateway of every transmodal flow (the Kubernetes, compose and JCloud exports name it as
# <registry>/transmodal-gateway:<version>): Jina's gateway with transmodal's HTTP body limit and readiness
# that follows the executors (transmodal/gateway.py, configured by deploy/gateway.yml, which the exports start
# as `jina gateway --uses config.yml`). It needs no executor code: it learns the document types from the
# executors. It is Jina at the project's tested versions (pydantic, aiohttp and grpcio pins matter to the
# HTTP gateway), not a hub image. Build from the repository root (`make images` builds it with the executors):
#   docker build -f deploy/gateway.Dockerfile -t localhost:5000/transmodal-gateway:0.1.0 .
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# tini runs as PID 1: it passes SIGTERM on to jina and reaps orphaned processes.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 transmodal
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 JINA_OPTOUT_TELEMETRY=1

# transmodal's core dependencies (jina, docarray, ...) at the tested versions, and the books extra (PDF pages):
# the same image runs the web page and HTTP API (`transmodal web`, the web Deployment of the Kubernetes export).
COPY constraints.txt pyproject.toml /srv/transmodal/
COPY transmodal/ /srv/transmodal/transmodal/
COPY executors/__init__.py /srv/transmodal/executors/
RUN python -m pip install --upgrade "pip>=24,<26" \
 && pip install -c /srv/transmodal/constraints.txt "/srv/transmodal[books]"

USER transmodal
WORKDIR /home/transmodal
COPY deploy/gateway.yml /home/transmodal/config.yml
# gRPC on 8080, HTTP on 8081: the ports the Kubernetes export gives the gateway.
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=10s --retries=3 CMD ["jina", "ping", "gateway", "grpc://127.0.0.1:8080"]
ENTRYPOINT ["tini", "--", "jina", "gateway"]
CMD ["--uses", "config.yml", "--protocol", "grpc", "http", "--port", "8080", "8081"]
