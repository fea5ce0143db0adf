"""Deployment files generated from the flows and executors: Dockerfiles, Kubernetes, docker compose, JCloud.

`make k8s` (python -m deploy.export) regenerates all of them; `make images` builds the images.
"""
