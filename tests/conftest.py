import os

import pytest

# No model hub is reachable: a hub lookup would otherwise cost ~23 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
# One OpenMP thread (torch, OpenBLAS), set before they load: the test models are tiny, and where CPUs are few
# or shared, threads of one process wait on each other at every barrier. Measured on 2 busy cores: one step
# of the tiny Stable Diffusion 8.7 s on 2 threads, 0.8 s on 1; test_image_generator.py 204 s -> 47 s.
# Set OMP_NUM_THREADS to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_stable_diffusion_dir(tmp_path_factory) -> str:
    """A tiny random text-to-image pipeline (tiny_models.build_tiny_stable_diffusion), built once per run for
    the ImageGenerator's tests and the executor contract battery."""
    from tiny_models import build_tiny_stable_diffusion

    directory = str(tmp_path_factory.mktemp("tiny-stable-diffusion"))
    build_tiny_stable_diffusion(directory)
    return directory
