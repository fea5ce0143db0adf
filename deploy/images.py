"""Builds (and optionally pushes) every image, tagged with the package version (`make images`):

    <registry>/transmodal-<executor>:<version>       deploy/executor.Dockerfile --build-arg EXECUTOR=<executor>
    <registry>/transmodal-<executor>:<version>-gpu   the same on a CUDA base image, with GPU=1 (torch backends only)
    <registry>/transmodal-gateway:<version>          deploy/gateway.Dockerfile

    python -m deploy.images [--registry HOST[/PATH]] [--push] [--only NAME ...] [--dry-run]

Every build's context is the repository root (.dockerignore keeps it to the files the images copy).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path

from deploy import catalog

EXECUTOR_DOCKERFILE = "deploy/executor.Dockerfile"
GATEWAY_DOCKERFILE = "deploy/gateway.Dockerfile"
# The CUDA libraries torch needs come with its wheel (nvidia-* packages); the CUDA base image provides the
# NVIDIA container runtime settings. Ubuntu 22.04 has Python 3.11, the version the project's pins are tested on.
GPU_BASE_IMAGE = "nvidia/cuda:12.8.1-runtime-ubuntu22.04"


def builds(root: Path, registry: str, version: str) -> list[tuple[str, dict[str, str], str]]:
    """(Dockerfile path relative to root, build arguments, image tag) of every image, gateway first."""
    images: list[tuple[str, dict[str, str], str]] = [
        (GATEWAY_DOCKERFILE, {}, catalog.image_name(catalog.GATEWAY_IMAGE, registry, version))
    ]
    for executor in catalog.load_executors(root).values():
        images.append((EXECUTOR_DOCKERFILE, {"EXECUTOR": executor.name}, executor.image(registry, version, False)))
        if executor.has_gpu_image:
            images.append(
                (
                    EXECUTOR_DOCKERFILE,
                    {"EXECUTOR": executor.name, "BASE_IMAGE": GPU_BASE_IMAGE, "GPU": "1"},
                    executor.image(registry, version, True),
                )
            )
    return images


def commands(images: list[tuple[str, dict[str, str], str]], push: bool) -> list[list[str]]:
    steps = []
    for dockerfile, build_args, tag in images:
        arguments = [part for name, value in build_args.items() for part in ("--build-arg", f"{name}={value}")]
        steps.append(["docker", "build", "-f", dockerfile, *arguments, "-t", tag, "."])
        if push:
            steps.append(["docker", "push", tag])
    return steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default=catalog.DEFAULT_REGISTRY)
    parser.add_argument("--push", action="store_true", help="push each image after building it")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="only these images (transmodal-text-detector, transmodal-gateway, ...)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the docker commands instead of running them")
    args = parser.parse_args(argv)
    images = builds(catalog.REPO, args.registry, catalog.package_version())
    if args.only:
        images = [image for image in images if image[2].rsplit("/", 1)[-1].split(":")[0] in args.only]
    for command in commands(images, args.push):
        print("+", shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, cwd=catalog.REPO, check=True)


if __name__ == "__main__":
    main()
