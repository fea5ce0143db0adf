"""What there is to deploy: the executors (folders with a config.yml), the flows, and their images' names.

Everything else in this package derives its output from these, so a new executor folder or a new flow YAML
needs no hand-written deployment file: only an entry in deploy/executors.yml (what one replica needs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = "localhost:5000"
# The root flow.yml is the image-translation pipeline; flows under flows/ are named by their file.
ROOT_FLOW_NAME = "image-translation"
GATEWAY_IMAGE = "transmodal-gateway"


class DeploymentConfigError(Exception):
    """An executor or flow that cannot be deployed as configured (the message says what to change)."""


def package_version(root: Path = REPO) -> str:
    with open(root / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["project"]["version"]


def image_name(repository: str, registry: str, version: str, gpu: bool = False) -> str:
    return f"{registry}/{repository}:{version}{'-gpu' if gpu else ''}"


def _requirement_name(line: str) -> str:
    return re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0].lower()


def listed_lines(path: Path) -> list[str]:
    """Non-empty lines of a requirements/apt list, without comments."""
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


@dataclass(frozen=True)
class ExecutorInfo:
    name: str  # the folder name, e.g. text_detector
    folder: Path
    profile: dict
    requirements: tuple[str, ...]

    @property
    def repository(self) -> str:
        return "transmodal-" + self.name.replace("_", "-")

    @property
    def has_gpu_image(self) -> bool:
        # A GPU image only helps executors with a torch backend.
        return any(_requirement_name(line) == "torch" for line in self.requirements)

    def runs_on_gpu(self, backend: str | None) -> bool:
        return backend in self.profile.get("gpu_backends", [])

    def image(self, registry: str, version: str, gpu: bool) -> str:
        return image_name(self.repository, registry, version, gpu)

    def resources(self, gpu: bool) -> dict:
        key = "gpu_resources" if gpu else "resources"
        if key not in self.profile:
            raise DeploymentConfigError(
                f"deploy/executors.yml: {self.name} has no `{key}`: "
                + ("declare what one replica on a CPU needs" if not gpu else "declare what one GPU replica needs")
            )
        return self.profile[key]


def load_executors(root: Path = REPO) -> dict[str, ExecutorInfo]:
    """Every executor folder (one with a config.yml), with its deployment profile from deploy/executors.yml."""
    profiles = yaml.safe_load((root / "deploy" / "executors.yml").read_text()) or {}
    executors = {}
    for config in sorted((root / "executors").glob("*/config.yml")):
        folder = config.parent
        if folder.name not in profiles:
            raise DeploymentConfigError(
                f"executor {folder.name} has no entry in deploy/executors.yml: add what one replica needs "
                f"(resources, gpu_backends, gpu_resources)"
            )
        executors[folder.name] = ExecutorInfo(
            name=folder.name,
            folder=folder,
            profile=profiles[folder.name],
            requirements=tuple(listed_lines(folder / "requirements.txt")),
        )
    return executors


@dataclass(frozen=True)
class FlowStep:
    """One executor of a flow: its entry in the flow YAML and what runs it."""

    entry: dict
    executor: ExecutorInfo
    backend: str

    @property
    def on_gpu(self) -> bool:
        return self.executor.runs_on_gpu(self.backend)

    @property
    def deployment_name(self) -> str:
        # The name jina's exporters give the executor's Deployment, Service and compose service.
        return self.entry["name"].replace("/", "-").replace("_", "-").lower()


@dataclass(frozen=True)
class FlowInfo:
    name: str  # image-translation, speech-to-image, ...
    path: Path
    spec: dict  # the flow YAML as written
    steps: tuple[FlowStep, ...]

    @property
    def namespace(self) -> str:
        return f"transmodal-{self.name}"

    @property
    def gpu_steps(self) -> tuple[FlowStep, ...]:
        return tuple(step for step in self.steps if step.on_gpu)


def flow_paths(root: Path = REPO) -> list[Path]:
    return [root / "flow.yml"] + sorted((root / "flows").glob("*.yml"))


def flow_name(path: Path, root: Path = REPO) -> str:
    return ROOT_FLOW_NAME if path == root / "flow.yml" else path.stem


def load_flow_info(path: Path, name: str, executors: dict[str, ExecutorInfo]) -> FlowInfo:
    spec = yaml.safe_load(path.read_text())
    steps = []
    for entry in spec.get("executors", []):
        uses = entry.get("uses", "")
        config = (path.parent / uses).resolve() if isinstance(uses, str) else None
        if config is None or config.name != "config.yml" or config.parent.name not in executors:
            raise DeploymentConfigError(
                f"{path.name}: executor {entry.get('name')!r} must use an executor folder's config.yml "
                f"(uses: executors/<name>/config.yml), not {uses!r}"
            )
        executor = executors[config.parent.name]
        configured = yaml.safe_load(config.read_text()).get("with", {}) or {}
        backend = (entry.get("uses_with") or {}).get("backend", configured.get("backend")) or ""
        steps.append(FlowStep(entry=entry, executor=executor, backend=backend))
    return FlowInfo(name=name, path=path, spec=spec, steps=tuple(steps))


def load_flows(root: Path = REPO, executors: dict[str, ExecutorInfo] | None = None) -> list[FlowInfo]:
    executors = executors if executors is not None else load_executors(root)
    return [load_flow_info(path, flow_name(path, root), executors) for path in flow_paths(root)]
