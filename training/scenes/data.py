"""Training data of the scene-world models: pools of rendered scenes (cached), and their captions spoken.

A pool renders each scene once at 128 x 128 and keeps a 64 x 64 copy (area-averaged); it is cached under
~/.cache/transmodal/scenes by seed and size, since rendering 8,000 scenes takes a minute on two cores.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import NamedTuple, Protocol

import numpy as np

from training.scenes import world

VALIDATION_SEED = 1_000_003  # never a training seed
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "transmodal", "scenes")


def image_batch(pixels: np.ndarray, device: str = "cpu"):
    """(n, height, width, 3) uint8 -> (n, 3, height, width) float tensor in [0, 1] on `device`."""
    import torch

    return torch.from_numpy(pixels).to(device).permute(0, 3, 1, 2).float() / 255


class Pictures(Protocol):
    """What training and validation take from a pool: the pictures at two sizes and their captions (the
    world's `ScenePool`, a real dataset's `datasets.CaptionedPool`)."""

    small: np.ndarray  # (n, 64, 64, 3) uint8
    large: np.ndarray  # (n, 128, 128, 3) uint8

    def __len__(self) -> int: ...

    def caption(self, index: int, rng=None) -> str: ...


@dataclasses.dataclass
class ScenePool:
    scenes: list[world.Scene]
    small: np.ndarray  # (n, 64, 64, 3) uint8
    large: np.ndarray  # (n, 128, 128, 3) uint8

    def __len__(self) -> int:
        return len(self.scenes)

    def caption(self, index: int, rng=None) -> str:
        """The scene said in a phrasing drawn by `rng` (training), or in the plain one (measuring)."""
        return world.caption(self.scenes[index], rng)


def _render_large(scenes: list[world.Scene]) -> np.ndarray:
    return np.stack([world.render(scene, 128) for scene in scenes])


def scene_pool(seed: int, count: int, cache: bool = True, processes: int = 1, canonical: bool = False) -> ScenePool:
    """The scenes of `seed` rendered (by `processes` processes: 40,000 scenes take four minutes in one);
    with `canonical`, each scene's `world.canonical` picture instead (the layout way's targets)."""
    import cv2

    scenes = world.scenes(seed, count)
    path = os.path.join(CACHE, f"{'canonical' if canonical else 'pool'}-{seed}-{count}.npz")
    if cache and os.path.isfile(path):
        stored = np.load(path)
        return ScenePool(scenes, stored["small"], stored["large"])
    drawn = [world.canonical(scene) for scene in scenes] if canonical else scenes
    if processes > 1 and count >= 1000:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        parts = [drawn[start : start + 500] for start in range(0, count, 500)]
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            large = np.concatenate(list(pool.map(_render_large, parts)))
    else:
        large = _render_large(drawn)
    small = np.stack([cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA) for image in large])
    if cache:
        os.makedirs(CACHE, exist_ok=True)
        np.savez(path + ".partial.npz", small=small, large=large)  # whole or not at all: runs may share the cache
        os.replace(path + ".partial.npz", path)
    return ScenePool(scenes, small, large)


MELS = 40  # log-mel bands of the speech encoder's input

# Voices that speak the captions: (engine, voice). The held-out voices are never heard in training, so the
# speech encoder is measured on speakers it does not know.
TRAIN_VOICES = (
    ("flite", "awb"),
    ("flite", "rms"),
    ("flite", "kal16"),
    ("flite", "kal"),
    ("espeak-ng", "en-us"),
    ("espeak-ng", "en-gb"),
    ("espeak-ng", "en-gb-scotland"),
    ("espeak-ng", "en-029"),
    # women's voices and more accents (espeak-ng's voice variants): with men's voices only, a held-out woman's
    # voice (flite slt) was heard far worse than the training voices (training/scenes/README.md)
    ("espeak-ng", "en-us+f2"),
    ("espeak-ng", "en-gb+f4"),
    ("espeak-ng", "en-us-nyc+f1"),
    ("espeak-ng", "en-gb-x-gbclan+f3"),
    ("espeak-ng", "en-gb-x-gbcwmd+m3"),
)
HELD_OUT_VOICES = (("flite", "slt"), ("espeak-ng", "en-gb-x-rp"))


def speak(text: str, engine: str, voice: str, speed: float = 1.0, pitch: float = 1.0) -> tuple[np.ndarray, int]:
    """Samples and rate of `text` said by flite or espeak-ng, slower or faster (`speed` > 1 is faster) and
    higher or lower (`pitch`)."""
    import subprocess
    import tempfile

    from transmodal.audio import decode_audio

    with tempfile.TemporaryDirectory(prefix="transmodal-scenes-") as directory:
        wav = os.path.join(directory, "speech.wav")
        if engine == "flite":
            command = ["flite", "-voice", voice, "-t", text, "-o", wav, "--setf", f"duration_stretch={1 / speed:.3f}"]
            command += ["--setf", f"int_f0_target_mean={110 * pitch:.1f}"] if voice in ("awb", "rms", "kal16") else []
        else:
            command = [
                "espeak-ng",
                "-v",
                voice,
                "-s",
                str(int(160 * speed)),
                "-p",
                str(int(50 * pitch)),
                "-w",
                wav,
                text,
            ]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        with open(wav, "rb") as file:
            return decode_audio(file.read())


class Utterance(NamedTuple):
    """What to say and how: `speak`'s arguments, then white noise at `snr` dB (from `noise_seed`), and the
    samples played `shift` times faster (pitch and formants raised together)."""

    text: str
    engine: str
    voice: str
    speed: float
    pitch: float
    snr: float
    noise_seed: int
    shift: float


def say_all(plans: list[Utterance]) -> list[tuple[np.ndarray, int]]:
    """Each utterance said (two at a time: the synthesisers are separate processes) -> (samples, rate)."""
    from concurrent.futures import ThreadPoolExecutor

    def say(plan: Utterance) -> tuple[np.ndarray, int]:
        samples, rate = speak(plan.text, plan.engine, plan.voice, plan.speed, plan.pitch)
        # the same samples at a higher rate: faster and higher
        return with_noise(samples, plan.snr, plan.noise_seed), round(rate * plan.shift)

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(say, plans))


def with_noise(samples: np.ndarray, snr: float, seed: int) -> np.ndarray:
    """`samples` with white noise at `snr` dB below their power (unchanged at an infinite `snr`)."""
    if math.isinf(snr):
        return samples
    power = float(np.mean(samples**2)) + 1e-9
    noise = np.random.default_rng(seed).standard_normal(len(samples)).astype(np.float32)
    return samples + noise * np.float32(np.sqrt(power / 10 ** (snr / 10)))


@dataclasses.dataclass
class SpeechPool:
    scene_indices: list[int]  # the scene each utterance describes
    captions: list[str]  # what was said
    features: list[np.ndarray]  # (mels, frames) each, `speech_features`
    audio: list[tuple[np.ndarray, int]] | None = None  # (samples, rate) each, when asked to keep them

    def batch(self, indices: list[int], rng=None):
        """(features padded to the longest (batch, mels, frames), lengths) as tensors; with `rng`, training
        augmentation: a random time mask and a little noise on the features."""
        from transmodal.nets.scenes import pad_frames

        chosen = []
        for index in indices:
            feature = self.features[index].copy()
            if rng is not None:
                width = rng.randint(0, max(1, feature.shape[1] // 10))
                start = rng.randint(0, max(0, feature.shape[1] - width))
                feature[:, start : start + width] = 0.0
                feature += np.float32(0.1) * np.random.default_rng(rng.randrange(1 << 30)).standard_normal(
                    feature.shape, np.float32
                )
            chosen.append(feature)
        return pad_frames(chosen)


def speech_pool(
    seed: int,
    scenes: list[world.Scene],
    voices,
    count: int | None = None,
    cache: bool = True,
    vary: bool = True,
    keep_audio: bool = False,
    shifted: float = 0.0,
) -> SpeechPool:
    """Captions of the first `count` scenes spoken, each by a voice of `voices`; with `vary`, at a random
    speed (0.8-1.25) and pitch (0.8-1.25), with noise at 15-40 dB SNR; a `shifted` share of them played
    1.1-1.4 times faster, so that pitch and formants rise together (a man's voice towards a woman's or a
    child's). Features cached like the scene pools."""
    import random

    from transmodal.audio import speech_features

    count = min(len(scenes), count or len(scenes))
    names = "-".join(voice for _engine, voice in voices)
    suffix = ("" if vary else "-plain") + (f"-shifted{shifted:g}" if shifted else "")
    path = os.path.join(CACHE, f"speech-{seed}-{count}-{len(scenes)}-{names}{suffix}.npz")
    cache = cache and not keep_audio  # (kept audio is never cached: only the evaluation asks for it)
    rng = random.Random(seed)
    plans = []
    for index in range(count):
        engine, voice = rng.choice(voices)
        speed, pitch, snr = rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25), rng.uniform(15, 40)
        if not vary:
            speed, pitch, snr = 1.0, 1.0, math.inf
        caption, noise_seed = world.caption(scenes[index], rng), rng.randrange(1 << 30)
        # (drawn only when asked for: the pools made before `shifted` stay as they were)
        shift = rng.uniform(1.1, 1.4) if shifted and rng.random() < shifted else 1.0
        plans.append(Utterance(caption, engine, voice, speed, pitch, snr, noise_seed, shift))
    indices, captions = list(range(count)), [plan.text for plan in plans]
    if cache and os.path.isfile(path):
        stored = np.load(path)
        # read once: each `stored["features"]` reads the whole array again, and a slice keeps its copy alive
        everything, offsets = stored["features"], stored["offsets"]
        features = [everything[:, offsets[i] : offsets[i + 1]] for i in range(count)]
        return SpeechPool(indices, captions, features)

    audio = say_all(plans)
    features = [speech_features(samples, rate) for samples, rate in audio]
    if cache:
        os.makedirs(CACHE, exist_ok=True)
        offsets = np.cumsum([0] + [feature.shape[1] for feature in features])
        np.savez(path, features=np.concatenate(features, axis=1), offsets=offsets)
    return SpeechPool(indices, captions, features, audio if keep_audio else None)
