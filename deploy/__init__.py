"""Deployment: one parametrised Dockerfile for every executor's image (deploy/executor.Dockerfile), and the
Kubernetes, docker compose, JCloud and local multi-GPU files generated from the flows and executors.

`make k8s` (python -m deploy.export) writes the generated files into build/deploy/; `make images`
(python -m deploy.images) builds the images.
"""
