"""Each flow YAML rewritten for where it runs: its executors as container images (for Jina's Kubernetes and
docker compose exporters, and JCloud), or as local processes spread over the GPUs of one machine.

An executor runs its -gpu image (and gets a GPU) when the flow selects one of its `gpu_backends`
(deploy/executors.yml); everything else about a step (name, replicas, env, uses_with) is the flow's own.
"""

from __future__ import annotations

import contextlib
import copy
import os
from pathlib import Path

import yaml

from deploy.catalog import GATEWAY_IMAGE, FlowInfo, image_name

MONITORING_PORT = 9090  # fixed: the exporters would otherwise write a random port into every file
MODELS_MOUNT = "/models"
GPU_COUNT_VARIABLE = "TRANSMODAL_GPUS"


def container_spec(flow: FlowInfo, registry: str, version: str) -> dict:
    """The flow with each executor replaced by its image (`docker://...`), and transmodal's gateway image
    (which starts transmodal.gateway.TransmodalGateway from its config.yml) unless the flow names one."""
    spec = copy.deepcopy(flow.spec)
    spec.setdefault("with", {})["port_monitoring"] = MONITORING_PORT
    gateway = spec.setdefault("gateway", {})
    gateway.setdefault("uses", "docker://" + image_name(GATEWAY_IMAGE, registry, version))
    for entry, step in zip(spec["executors"], flow.steps):
        entry["uses"] = "docker://" + step.executor.image(registry, version, gpu=step.on_gpu)
        entry["port_monitoring"] = MONITORING_PORT
    return spec


def _jcloud_cpu(quantity: str) -> float | int:
    cores = float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    return int(cores) if cores.is_integer() else cores


def _jcloud_memory(quantity: str) -> str:
    # JCloud takes decimal units (16G); Kubernetes' binary ones (Gi) are within 7 % of them.
    return quantity.replace("Gi", "G").replace("Mi", "M")


def jcloud_spec(flow: FlowInfo, registry: str, version: str) -> dict:
    """The containerized flow with `jcloud:` resources per executor, for `jc deploy`."""
    spec = container_spec(flow, registry, version)
    spec["with"].pop("port", None)  # JCloud gives the gateway its own address
    spec["with"].pop("port_monitoring", None)
    for entry, step in zip(spec["executors"], flow.steps):
        entry.pop("port_monitoring", None)
        needs = step.executor.resources(gpu=step.on_gpu)
        resources = {"cpu": _jcloud_cpu(needs["cpu"]), "memory": _jcloud_memory(needs["memory_limit"])}
        if step.on_gpu:
            resources["gpu"] = 1
        entry["jcloud"] = {"resources": resources}
        autoscale = step.executor.profile.get("autoscale")
        if autoscale:
            entry["jcloud"]["autoscale"] = {
                "min": autoscale["min_replicas"],
                "max": autoscale["max_replicas"],
                "metric": "concurrency",
                "target": 1,
            }
    return spec


def local_gpu_spec(flow: FlowInfo, out_dir: Path) -> dict:
    """The flow run locally (`transmodal serve`), its GPU executors replicated once per GPU: with
    CUDA_VISIBLE_DEVICES: RR, Jina gives replica i the i-th visible GPU (round robin)."""
    spec = copy.deepcopy(flow.spec)
    for entry, step in zip(spec["executors"], flow.steps):
        entry["uses"] = os.path.relpath(step.executor.folder / "config.yml", out_dir)
        if step.on_gpu:
            entry["replicas"] = "${{ ENV." + GPU_COUNT_VARIABLE + " }}"
            entry["env"] = {**entry.get("env", {}), "CUDA_VISIBLE_DEVICES": "RR"}
    return spec


@contextlib.contextmanager
def _exporter_environment(registry: str, version: str):
    # Offline, the exporters would ask Jina's hub for the gateway image and to rebuild executor images.
    settings = {
        "JINA_GATEWAY_IMAGE": image_name(GATEWAY_IMAGE, registry, version),
        "JINA_HUB_NO_IMAGE_REBUILD": "1",
        "JINA_OPTOUT_TELEMETRY": "1",
        "JINA_LOG_LEVEL": "INFO",
    }  # the compose exporter writes the current level into the gateway
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def export_kubernetes(flow: FlowInfo, registry: str, version: str, out_dir: Path) -> None:
    """`jina export kubernetes` of the containerized flow: a ConfigMap, Service and Deployment per executor."""
    from jina import Flow

    with _exporter_environment(registry, version):
        Flow.load_config(container_spec(flow, registry, version)).to_kubernetes_yaml(
            str(out_dir), k8s_namespace=flow.namespace
        )


def export_compose(flow: FlowInfo, registry: str, version: str) -> dict:
    """`jina export docker-compose` of the containerized flow, for one GPU host: every executor mounts the
    model weights read-only from $TRANSMODAL_MODELS, GPU executors reserve the GPU, tini is PID 1."""
    import tempfile

    from jina import Flow

    spec = container_spec(flow, registry, version)
    for entry in spec["executors"]:
        entry["volumes"] = [
            f"${{TRANSMODAL_MODELS:?set TRANSMODAL_MODELS to the model weights folder}}:{MODELS_MOUNT}:ro"
        ]
    with _exporter_environment(registry, version), tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "docker-compose.yml")
        Flow.load_config(spec).to_docker_compose_yaml(path, network_name="transmodal")
        with open(path) as file:
            compose = yaml.safe_load(file)
    gpu_services = {step.deployment_name for step in flow.gpu_steps}
    for name, service in compose["services"].items():
        service["entrypoint"] = ["tini", "--", "jina"]
        service["restart"] = "unless-stopped"
        # The exporter pings every 2 s, which starts a Python interpreter that often; a model may take minutes
        # to load.
        service["healthcheck"].update({"interval": "30s", "timeout": "10s", "start_period": "600s"})
        if name.split("-rep-")[0] in gpu_services:
            service["deploy"] = {
                "resources": {"reservations": {"devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]}}
            }
    return compose
