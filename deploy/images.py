"""Builds (and optionally pushes) every image, tagged with the package version (`make images`):

    <registry>/transmodal-<executor>:<version>       from executors/<executor>/Dockerfile
    <registry>/transmodal-<executor>:<version>-gpu   from executors/<executor>/Dockerfile.gpu
    <registry>/transmodal-gateway:<version>          from docker/gateway.Dockerfile

    python -m deploy.images [--registry HOST[/PATH]] [--push] [--only NAME ...] [--dry-run]

Every build's context is the repository root (.dockerignore keeps it to the files the images copy).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path

from deploy import catalog

GATEWAY_DOCKERFILE = "docker/gateway.Dockerfile"


def builds(root: Path, registry: str, version: str) -> list[tuple[str, str]]:
    """(Dockerfile path relative to root, image tag) of every image, gateway first."""
    images = [(GATEWAY_DOCKERFILE, catalog.image_name(catalog.GATEWAY_IMAGE, registry, version))]
    for executor in catalog.load_executors(root).values():
        for variant, gpu in (("Dockerfile", False), ("Dockerfile.gpu", True)):
            path = executor.folder / variant
            if path.exists():
                images.append((path.relative_to(root).as_posix(), executor.image(registry, version, gpu)))
    return images


def commands(images: list[tuple[str, str]], push: bool) -> list[list[str]]:
    steps = []
    for dockerfile, tag in images:
        steps.append(["docker", "build", "-f", dockerfile, "-t", tag, "."])
        if push:
            steps.append(["docker", "push", tag])
    return steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.images", description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", default=catalog.DEFAULT_REGISTRY)
    parser.add_argument("--push", action="store_true", help="push each image after building it")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="only these images (transmodal-text-detector, transmodal-gateway, ...)")
    parser.add_argument("--dry-run", action="store_true", help="print the docker commands instead of running them")
    args = parser.parse_args(argv)
    images = builds(catalog.REPO, args.registry, catalog.package_version())
    if args.only:
        images = [(dockerfile, tag) for dockerfile, tag in images
                  if tag.rsplit("/", 1)[-1].split(":")[0] in args.only]
    for command in commands(images, args.push):
        print("+", shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, cwd=catalog.REPO, check=True)


if __name__ == "__main__":
    main()
