"""The contract every executor keeps, written once and run for each executor listed in EXECUTORS (as
diffusers' PipelineTesterMixin does for every pipeline). A new executor gets these tests by being listed.

- An unknown backend fails at construction with a ConfigurationError listing the registry's choices.
- A model-backed backend whose model is missing fails at construction, fast and without asking a model
  hub, with a ModelNotFoundError naming the `with: backend_options` key and the environment variable.
- A document that failed upstream passes through untouched.
- Corrupt input fails only its own document, with `error_stage` the executor's name.
- Every document's `trace` gets the executor's name appended, failed or not.
- Request parameters that no stage can use (nested too deep, a lone surrogate, a language of the wrong
  type) fail every document with the executor's name and the cause, as transmodal's client would refuse
  to send them: not every caller is that client.

Executors are built directly as Python classes (no Flow), once per module, on cheap offline backends.
Tests of what one executor does beyond this contract stay in its own test file.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import importlib
import inspect
import os
import socket
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pytest
from docarray import DocList
from jina import Executor
from tiny_models import flite_wav

from executors.image_captioner.backends import CAPTIONERS
from executors.image_captioner.executor import ImageCaptioner
from executors.image_generator.backends import GENERATORS
from executors.image_generator.executor import ImageGenerator
from executors.pixel_translator.backends import PIXEL_TRANSLATORS
from executors.pixel_translator.executor import PixelTranslator
from executors.speech_recognizer.backends import RECOGNIZERS
from executors.speech_recognizer.executor import SpeechRecognizer
from executors.speech_synthesizer.backends import SYNTHESIZERS
from executors.speech_synthesizer.executor import SpeechSynthesizer
from executors.text_detector.backends import DETECTORS
from executors.text_detector.executor import TextDetector
from executors.text_eraser.backends import ERASERS
from executors.text_eraser.executor import TextEraser
from executors.text_renderer.backends import LAYOUTS
from executors.text_renderer.executor import TextRenderer
from executors.text_translator.backends import TRANSLATORS
from executors.text_translator.executor import TextTranslator
from transmodal import fonts, strips, synthetic
from transmodal.backends import Registry
from transmodal.docs import MediaDoc, TextRegion, TextStyle
from transmodal.errors import ConfigurationError, ModelNotFoundError
from transmodal.media import encode_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class ModelBackend:
    """A backend that loads weights, and what a missing model's error must tell the user to set."""

    name: str
    env_var: str
    key: str = "model"  # in `with: backend_options`
    has_default: bool = False  # a model ships with the code: configuring none is no error


@dataclasses.dataclass(frozen=True)
class ExecutorContract:
    executor: type[Executor]
    endpoint: str  # the @requests method
    registry: Registry  # where `backend` names are looked up
    backend: str  # cheap and offline: the one the document tests run on
    good: Callable[[], MediaDoc]  # a document the executor processes
    corrupt: Callable[[], MediaDoc]  # a document whose input is bad: it must fail, alone
    writes: str  # the field a good document gets (or gets changed)
    options: Callable[..., dict] = dict  # further `with:` options, given the values of the `needs` fixtures
    needs: tuple[str, ...] = ()
    model_backends: tuple[ModelBackend, ...] = ()

    @property
    def name(self) -> str:
        return self.executor.__name__


# --- inputs ------------------------------------------------------------------------------------------------


@functools.cache
def _sign() -> synthetic.Sign:
    return synthetic.make_sign(
        ["Hot soup"],
        size=(320, 160),
        font_file=fonts.font_path(fonts.SANS_BOLD),
        font_size=40,
        text_color=(20, 20, 20),
        background_color=(240, 240, 240),
        seed=1,
    )


@functools.cache
def _sign_png() -> bytes:
    return encode_image(_sign().image)


def _sign_region(translation: str | None = None) -> TextRegion:
    """The region a perfect detector would report for the sign."""
    (box,) = _sign().line_boxes
    x0, y0, x1, y1 = box
    return TextRegion(
        polygon=[[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        lines=[list(box)],
        text="Hot soup",
        translation=translation,
        style=TextStyle(font_size=float(y1 - y0)),
    )


@functools.cache
def _strip_png() -> bytes:
    """A text strip as the pixel translator was trained on (black on white, its face and size)."""
    ink = strips.render("No parking")
    return encode_image(np.repeat(((1 - ink) * 255).astype(np.uint8)[..., None], 3, axis=2))


@functools.cache
def _speech() -> bytes:
    with tempfile.TemporaryDirectory(prefix="contract-speech-") as directory:
        return flite_wav("Good morning.", directory)


NOT_AN_IMAGE = b"\x89PNG\r\n\x1a\n not really a png"
NOT_A_WAV = b"RIFF\x00\x00\x00\x00WAVEnot really a wav file"


# --- the table: one row per executor -------------------------------------------------------------------------

EXECUTORS = [
    ExecutorContract(
        TextDetector,
        "detect",
        DETECTORS,
        backend="tesseract",
        writes="regions",
        good=lambda: MediaDoc(image=_sign_png()),
        corrupt=lambda: MediaDoc(image=NOT_AN_IMAGE),
        model_backends=(
            ModelBackend("transformers", "TRANSMODAL_OCR_MODEL"),
            ModelBackend("see", "TRANSMODAL_SEE_CHECKPOINT", key="checkpoint", has_default=True),
        ),
    ),
    ExecutorContract(
        TextEraser,
        "erase",
        ERASERS,
        backend="opencv-telea",
        writes="image",
        good=lambda: MediaDoc(image=_sign_png(), regions=[_sign_region()]),
        corrupt=lambda: MediaDoc(image=NOT_AN_IMAGE, regions=[_sign_region()]),  # without regions it is skipped
        model_backends=(
            ModelBackend("diffusers", "TRANSMODAL_INPAINT_MODEL"),
            ModelBackend("pconv", "TRANSMODAL_INPAINTER_CHECKPOINT", key="checkpoint", has_default=True),
        ),
    ),
    ExecutorContract(
        TextTranslator,
        "translate",
        TRANSLATORS,
        backend="apertium",
        writes="translation",
        good=lambda: MediaDoc(text="Hot soup", source_lang="en", target_lang="es"),
        corrupt=lambda: MediaDoc(text="Hot soup", source_lang="en", target_lang="xx"),
        model_backends=(ModelBackend("transformers", "TRANSMODAL_TRANSLATION_MODEL"),),
    ),
    ExecutorContract(
        TextRenderer,
        "render",
        LAYOUTS,
        backend="pillow",
        writes="image",
        good=lambda: MediaDoc(image=_sign_png(), regions=[_sign_region("Sopa caliente")]),
        corrupt=lambda: MediaDoc(image=NOT_AN_IMAGE, regions=[_sign_region("Sopa caliente")]),
    ),
    ExecutorContract(
        SpeechRecognizer,
        "recognize",
        RECOGNIZERS,
        backend="pocketsphinx",
        writes="text",
        good=lambda: MediaDoc(audio=_speech()),
        corrupt=lambda: MediaDoc(audio=NOT_A_WAV),
        model_backends=(
            # Default "whisper-base" from the models folder: present wherever `make install` ran.
            ModelBackend("faster-whisper", "TRANSMODAL_FASTER_WHISPER_MODEL", has_default=True),
            ModelBackend("whisper", "TRANSMODAL_WHISPER_MODEL"),
            ModelBackend("transformers", "TRANSMODAL_ASR_MODEL"),
        ),
    ),
    ExecutorContract(
        SpeechSynthesizer,
        "synthesize",
        SYNTHESIZERS,
        backend="flite",
        writes="audio",
        good=lambda: MediaDoc(text="Good morning."),
        corrupt=lambda: MediaDoc(text=" \n "),
        model_backends=(ModelBackend("transformers", "TRANSMODAL_TTS_MODEL"),),
    ),
    ExecutorContract(
        ImageGenerator,
        "generate",
        GENERATORS,
        backend="scenes",  # the offline default; diffusers on a tiny model: tests/test_image_generator.py
        writes="images",
        good=lambda: MediaDoc(text="a red circle"),
        corrupt=lambda: MediaDoc(text="  "),
        options=lambda: {"seed": 0},
        model_backends=(
            ModelBackend("diffusers", "TRANSMODAL_IMAGE_MODEL"),
            ModelBackend("scenes", "TRANSMODAL_SCENE_GENERATOR", key="generator", has_default=True),
            ModelBackend("scenes-from-speech", "TRANSMODAL_SPEECH_ENCODER", key="speech_encoder", has_default=True),
        ),
    ),
    ExecutorContract(
        ImageCaptioner,
        "caption",
        CAPTIONERS,
        backend="ocr",
        writes="text",  # describes images by their writing
        good=lambda: MediaDoc(image=_sign_png()),
        corrupt=lambda: MediaDoc(image=NOT_AN_IMAGE),
        model_backends=(
            ModelBackend("transformers", "TRANSMODAL_CAPTION_MODEL"),
            ModelBackend("scenes", "TRANSMODAL_SCENE_CAPTIONER", key="checkpoint", has_default=True),
        ),
    ),
    ExecutorContract(
        PixelTranslator,
        "translate",
        PIXEL_TRANSLATORS,
        backend="conv",
        writes="image",
        good=lambda: MediaDoc(image=_strip_png()),
        corrupt=lambda: MediaDoc(image=NOT_AN_IMAGE),
        model_backends=(
            ModelBackend("attention", "TRANSMODAL_PIXEL_TRANSLATOR", key="checkpoint", has_default=True),
            ModelBackend("conv", "TRANSMODAL_PIXEL_TRANSLATOR_CONV", key="checkpoint", has_default=True),
        ),
    ),
]


@pytest.fixture(scope="module", params=EXECUTORS, ids=lambda contract: contract.name)
def contract(request) -> ExecutorContract:
    return request.param


@pytest.fixture(scope="module")
def executor(contract, request) -> Executor:
    """The executor on its offline backend, built once per module (tests are grouped by executor)."""
    needed = [request.getfixturevalue(name) for name in contract.needs]
    return contract.executor(backend=contract.backend, **contract.options(*needed))


def run(contract: ExecutorContract, executor: Executor, docs: list[MediaDoc]) -> DocList[MediaDoc]:
    return getattr(executor, contract.endpoint)(DocList[MediaDoc](docs), parameters={})


def failed_upstream(contract: ExecutorContract) -> MediaDoc:
    return contract.good().model_copy(
        update={"error": "cannot decode audio", "error_stage": "Upstream", "trace": ["Upstream"]}
    )


# --- the table itself ----------------------------------------------------------------------------------------


def test_every_executor_is_listed():
    defined = set()
    for path in glob.glob(os.path.join(ROOT, "executors", "*", "executor.py")):
        module = importlib.import_module(os.path.relpath(path, ROOT)[:-3].replace(os.sep, "."))
        defined |= {
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Executor) and cls.__module__ == module.__name__
        }
    assert defined == {contract.executor for contract in EXECUTORS}


def test_listed_backends_exist(contract):
    assert contract.backend in contract.registry.names
    for backend in contract.model_backends:
        assert backend.name in contract.registry.names


def test_the_listed_endpoint_serves_media_docs(contract, executor):
    served = executor.requests["/default"]
    assert served.fn.__name__ == contract.endpoint
    assert served.request_schema == served.response_schema == DocList[MediaDoc]


# --- construction --------------------------------------------------------------------------------------------


def test_unknown_backend_lists_the_choices(contract):
    with pytest.raises(ConfigurationError, match="unknown .* backend 'no-such-backend'") as unknown:
        contract.executor(backend="no-such-backend")
    assert str(unknown.value).split("choose one of: ")[1].split(", ") == contract.registry.names


# Where the model should be: a directory that does not exist, one left empty (a volume mounted without the
# weights), or nowhere (neither the `with:` key nor the environment variable set).
MISSING_MODELS = [
    pytest.param(contract, backend, configured, id=f"{contract.name}-{backend.name}-{configured}")
    for contract in EXECUTORS
    for backend in contract.model_backends
    for configured in ("missing-directory", "empty-directory", "nothing")
    if not (configured == "nothing" and backend.has_default)
]


@pytest.mark.parametrize("contract, backend, configured", MISSING_MODELS)
def test_missing_model_fails_fast_naming_what_to_set(contract, backend, configured, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSMODAL_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv(backend.env_var, raising=False)
    model = tmp_path / "model"
    if configured == "empty-directory":
        model.mkdir()
    options = {} if configured == "nothing" else {backend.key: str(model)}
    connections = []

    def no_network(sock, address, *args):
        connections.append(address)
        raise OSError(f"the test allows no network: {address}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    # The first attempt pays for importing the backend's libraries; the second shows the failure itself
    # (under 1 s measured on 2 busy cores; a hub lookup would take ~23 s, and the socket guard sees one).
    for _ in range(2):
        started = time.perf_counter()
        with pytest.raises(ModelNotFoundError) as missing:
            contract.executor(backend=backend.name, backend_options=options)
    assert time.perf_counter() - started < 5
    assert not connections, f"asked the network: {connections}"
    message = str(missing.value)
    assert f"with: backend_options: {{{backend.key}:" in message and backend.env_var in message, message
    assert os.listdir(tmp_path) == (["model"] if configured == "empty-directory" else [])
    assert not model.exists() or not os.listdir(model)  # nothing was downloaded or created


# --- documents -----------------------------------------------------------------------------------------------


def test_a_document_failed_upstream_passes_through_untouched(contract, executor):
    doc = failed_upstream(contract)
    before = doc.model_dump(exclude={"trace"})
    (result,) = run(contract, executor, [doc])
    assert result.error == "cannot decode audio" and result.error_stage == "Upstream"
    assert result.model_dump(exclude={"trace"}) == before


def test_corrupt_input_fails_only_its_own_document(contract, executor):
    good = contract.good()
    first, corrupt, last = run(contract, executor, [contract.good(), contract.corrupt(), contract.good()])
    assert corrupt.failed and corrupt.error.strip(), corrupt.error
    assert corrupt.error_stage == contract.name == executor.metas.name
    for doc in (first, last):
        assert not doc.failed, doc.error
        written = getattr(doc, contract.writes)
        assert written is not None and not _same(written, getattr(good, contract.writes)), contract.writes


def test_every_documents_trace_gets_the_executors_name(contract, executor):
    docs = [contract.good().model_copy(update={"trace": ["Upstream"]}), contract.corrupt(), failed_upstream(contract)]
    result = run(contract, executor, docs)
    assert [doc.trace for doc in result] == [["Upstream", contract.name], [contract.name], ["Upstream", contract.name]]


def _same(first, second) -> bool:
    if isinstance(first, DocList) or isinstance(second, DocList):
        return len(first) == len(second) == 0
    if isinstance(first, np.ndarray):
        return np.array_equal(first, second)
    return first == second


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"inner": value}
    return value


@pytest.mark.parametrize(
    "parameters, cause",
    [
        ({"source_lang": "en\ud800"}, "lone surrogate"),
        ({"target_lang": ["es"]}, "must be a language code string"),
        ({"options": _nested(40)}, "nested more than"),
    ],
    ids=["surrogate", "language-list", "nested"],
)
def test_unusable_parameters_fail_every_document_by_stage(contract, executor, parameters, cause):
    docs = DocList[MediaDoc]([contract.good(), contract.good(), failed_upstream(contract)])
    first, second, upstream = getattr(executor, contract.endpoint)(docs, parameters=parameters)
    for doc in (first, second):
        assert doc.error_stage == contract.name and cause in doc.error, doc.error
        assert doc.error.startswith(f"{contract.name}: the request's parameters cannot be used")
    assert upstream.error_stage == "Upstream"  # an earlier failure is kept, not overwritten
