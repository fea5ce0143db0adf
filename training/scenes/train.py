"""Train the scene-world models within a time budget.

    transmodal train scene-encoder --config cpu      # the text-image dual encoder (teacher and judge)
    transmodal train image-to-text --config cpu      # the captioner (image -> words -> flite)
    transmodal train image-to-text --units phones    # the captioner of phones (image -> phones -> espeak-ng)
    transmodal train text-to-image --config cpu      # the two-stage conditional GAN, on the teacher's embeddings
    transmodal train speech-encoder --config cpu     # raw speech -> the teacher's caption embedding

Order: the scene encoder first; the generator and the speech encoder learn from its text embeddings.

- scene-encoder: symmetric InfoNCE over a batch of (image, caption) pairs (CLIP's loss); captions drawn in
  varied phrasings each time a scene is seen; `--attributes W` adds a linear head that must read each
  thing's colour, shape and size and the relation from both embeddings (what the generator and the
  speech encoder learn from must carry them).
- image-to-text: cross-entropy of the plain caption's words, teacher forcing; with `--units phones`, of its
  phones as espeak-ng says them (transmodal.phones), the units of a language with no writing.
- text-to-image: StackGAN, stage I (64 x 64) alone for the first half of the time, then both:
  matching-aware conditional loss (real image with a mismatched caption counts as fake) plus the
  unconditional loss, KL of the conditioning augmentation, and an L1 term to the scene the caption came
  from (weight `reconstruction`), which steadies a GAN trained for minutes on two cores; generated images
  are judged by the attribute classifier of training/scenes/evaluate.py. `--method vae` (the default) trains
  the same network as a conditional VAE; `--semantic W` adds the teacher's contrastive loss on drawings
  from the prior (the cpu config: 200), which is what makes the caption decide the colour (README).
- speech-encoder: cosine distance to the teacher's embedding of the spoken caption, plus InfoNCE against
  the scene images' embeddings; no transcripts.

`--data DIR` trains on a real dataset in Flickr8k's or CUB-200-2011's layout instead of the generated world
(datasets.py).

Everything random comes from the seed; validation scenes come from a seed the training stream never uses.
Writes to --out: <model>-<config>[-phones].pt, .json (config, validation, time) and .png (loss curve).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import time
from typing import cast

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in training/eraser: spinning threads slow shared cores

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from training.curves import plot_losses  # noqa: E402
from training.scenes import data, datasets, world  # noqa: E402
from training.scenes.data import image_batch  # noqa: E402
from transmodal.nets import checkpoint  # noqa: E402
from transmodal.nets.scenes import (  # noqa: E402
    UNITS,
    BoxLayoutGenerator,
    DualEncoder,
    Layout,
    NoiseEncoder,
    SceneCaptioner,
    SceneDiscriminator,
    SceneGenerator,
    SpeechEncoder,
)
from transmodal.phones import phonemes  # noqa: E402

MODELS = ("scene-encoder", "image-to-text", "text-to-image", "speech-encoder")
NETWORK_NAMES = {
    "scene-encoder": "dual-encoder",
    "image-to-text": "scene-captioner",
    "text-to-image": "scene-generator",
    "speech-encoder": "speech-encoder",
}
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "runs")  # copy a .pt (and its .json) to the executor's checkpoints to ship it
SHIPPED_TEACHER = os.path.join(HERE, "..", "..", "executors", "image_generator", "checkpoints", "scene-encoder-cpu.pt")


@dataclasses.dataclass
class TrainConfig:
    model: str
    arguments: dict
    minutes: float = 10.0
    batch_size: int = 64
    learning_rate: float = 2e-3
    final_decay: float = 0.2  # the last fifth of the time at a tenth of the learning rate
    scenes: int = 8000  # the training pool (rendered once, cached)
    validation: int = 500
    seed: int = 0
    device: str = "cpu"
    threads: int = 2
    log_every: int = 25
    reconstruction: float = 10.0  # text-to-image: weight of the L1 term
    kl: float = 2.0  # text-to-image: weight of the conditioning augmentation's KL term
    utterances: int = 4000  # speech-encoder: spoken captions of the first scenes of the pool
    shifted: float = 0.0  # speech-encoder: the share of them played faster, pitch and formants higher
    stage_one_share: float = 0.5  # text-to-image: the first half of the time trains the 64 x 64 stage alone
    # text-to-image: "vae" (conditional VAE), "gan" (StackGAN) or "layout" (regression to each scene's canonical
    # picture, world.canonical: the cpu and gpu configs' way; see README)
    method: str = "vae"
    semantic: float = 0.0  # text-to-image: weight of the teacher's contrastive loss on drawings from the prior
    # text-to-image, the layout way: extra weight of the L1 on the things' pixels (the grey around them is
    # most of a picture, and alone the regression draws grey first)
    foreground: float = 0.0
    # a real dataset's folder (training/scenes/datasets.py: Flickr8k or CUB, with spoken captions) instead of
    # the generated world; `scenes` and `validation` then cap its train and dev splits
    data: str = ""
    # scene-encoder: weight of the auxiliary loss that makes both embeddings tell each thing's colour, shape
    # and size and the relation (a linear head, training only; the generated world only, which has labels)
    attributes: float = 0.0
    # text-to-image: the scene encoder whose matching of drawings to their captions is the teacher's loss
    # (default: the teacher itself); see README: a teacher trained to expose attributes judges colours worse
    semantic_teacher: str = ""
    # text-to-image, the boxes way: the share of each batch whose embedding is the speech encoder's of a
    # training utterance of the scene (Li et al. train the generator on speech embeddings), not the caption's
    speech_share: float = 0.0
    speech_encoder: str = ""  # that speech encoder (default: the shipped one)
    # speech-encoder: a boxes-way generator whose layout read from the spoken embedding must match the one it
    # reads from the teacher's embedding of what was said (still the teacher's signal: no transcript, no label)
    reader: str = ""
    reader_weight: float = 1.0
    init: str = ""  # a checkpoint of the same network to start from (default: fresh weights)


PHONES_PER_CAPTION = 80  # the phone captioner's longest output: a caption of three things is about 60 phones

# the boxes way's network (BoxLayoutGenerator): the whole embedding is read, so the condition keeps its size
BOXES_ARGUMENTS = {"dimension": 128, "condition": 128, "noise": 32, "slots": 3, "code": 16, "width": 32}


def configs(model: str, name: str, method: str | None = None) -> TrainConfig:
    """The `name` config (cpu, gpu) of `model`; for text-to-image, of the training `method` (default: the
    config's way)."""
    if model == "text-to-image" and method == "boxes":
        # the things' pixels weigh 11: unweighted, the grey around them won and every mask went transparent
        boxes = TrainConfig(model, dict(BOXES_ARGUMENTS), minutes=12.0, batch_size=512, learning_rate=2e-3)
        boxes = dataclasses.replace(boxes, kl=0.002, method="boxes", foreground=10.0)
        if name == "gpu":
            return dataclasses.replace(boxes, scenes=40000, device="cuda", threads=8, batch_size=128)
        if name != "cpu":
            raise SystemExit(f"unknown config {name!r}: cpu or gpu")
        return boxes
    config = _configs(model, name)
    if method is not None:
        config.method = method
    return config


def _configs(model: str, name: str) -> TrainConfig:
    words = world.vocabulary()
    every: dict[str, dict] = {
        "scene-encoder": {"words": words, "dimension": 128, "width": 32},
        "image-to-text": {"words": words, "width": 32, "hidden": 256},
        "text-to-image": {"dimension": 128, "condition": 64, "noise": 32, "width": 16},
        "speech-encoder": {"mels": data.MELS, "dimension": 128, "hidden": 128},
    }
    arguments = every[model]
    if name == "cpu":
        if model == "text-to-image":  # the shipped run: the layout way, the things' pixels weighing 11, 24 minutes
            return TrainConfig(
                model,
                arguments,
                minutes=24.0,
                batch_size=32,
                learning_rate=1e-3,
                kl=1.0,
                semantic=200.0,
                method="layout",
                foreground=10.0,
            )
        if model == "speech-encoder":  # four heads, 6,000 utterances, 30 % shifted higher (README: "Hearing it")
            arguments = dict(arguments, heads=4)
            return TrainConfig(model, arguments, minutes=12.0, batch_size=32, utterances=6000, shifted=0.3)
        return TrainConfig(model, arguments, minutes=12.0, batch_size=64)
    if name == "gpu":
        bigger = dict(arguments, width=64) if "width" in arguments else dict(arguments, hidden=256)
        gpu = TrainConfig(model, bigger, minutes=30.0, batch_size=128, scenes=40000, device="cuda", threads=8)
        if model == "text-to-image":  # the CPU run's way and losses
            return dataclasses.replace(
                gpu, learning_rate=1e-3, kl=1.0, semantic=200.0, method="layout", foreground=10.0
            )
        return gpu
    raise SystemExit(f"unknown config {name!r}: cpu or gpu")


# the scene encoder's auxiliary head: for each of three things its colour, shape and size, then the relation
_ATTRIBUTE_GROUPS = (len(world.COLOURS), len(world.SHAPES), len(world.SIZES)) * 3 + (len(world.RELATIONS),)
ATTRIBUTE_OUTPUTS = sum(_ATTRIBUTE_GROUPS)


def attribute_labels(scenes: list[world.Scene]) -> torch.Tensor:
    """(scenes, 10) class ids: each thing's colour, shape and size in the caption's order, then the
    relation; -100 where the scene has no such thing or no relation."""
    labels = torch.full((len(scenes), len(_ATTRIBUTE_GROUPS)), -100, dtype=torch.long)
    colours = list(world.COLOURS)
    for row, scene in enumerate(scenes):
        for position, thing in enumerate(scene.things[:3]):
            labels[row, position * 3 : position * 3 + 3] = torch.tensor(
                [colours.index(thing.colour), world.SHAPES.index(thing.shape), world.SIZES.index(thing.size)]
            )
        if scene.relation is not None:
            labels[row, -1] = world.RELATIONS.index(scene.relation)
    return labels


def attribute_loss(
    logits: torch.Tensor, labels: torch.Tensor, groups: tuple[int, ...] = _ATTRIBUTE_GROUPS
) -> torch.Tensor:
    """Cross-entropy of each group of the head's outputs against its labels (absent ones ignored), summed;
    `groups`: the outputs' sizes, as many as the labels' columns (by default all ten: `attribute_labels`)."""
    total = logits.new_zeros(())
    for group, part in enumerate(logits.split(groups, dim=1)):
        if (labels[:, group] != -100).any():
            total = total + F.cross_entropy(part, labels[:, group], ignore_index=-100)
    return total


def canonical_boxes(scenes: list[world.Scene], slots: int) -> torch.Tensor:
    """(scenes, slots, 3): where `world.canonical` draws each thing, as `BoxLayoutGenerator` gives a box
    (centre x, y in [-1, 1], half the side as a fraction of the canvas's half side); zeros past the things."""
    boxes = torch.zeros(len(scenes), slots, 3)
    for row, scene in enumerate(scenes):
        for slot, thing in enumerate(world.canonical(scene).things[:slots]):
            boxes[row, slot] = torch.tensor([thing.x * 2 - 1, thing.y * 2 - 1, thing.scale])
    return boxes


DRAWN = 16  # the boxes way: scenes of a batch whose labelled layout is drawn each step
COLOURS_FIRST = 0.05  # the boxes way: the share of the time that learns the palette alone (`_boxes_step`)


def labelled_layout(labels: torch.Tensor, boxes: torch.Tensor, slots: int) -> Layout:
    """The layout the labels say (`attribute_labels`' rows, `canonical_boxes`), as near-certain logits:
    what the boxes way's drawing part learns to draw."""
    certain = 12.0
    present = labels[:, 0 : 3 * slots : 3] != -100
    parts = {}
    for group, (name, classes) in enumerate(
        (("colour", len(world.COLOURS)), ("shape", len(world.SHAPES)), ("size", len(world.SIZES)))
    ):
        ids = labels[:, group : 3 * slots : 3].clamp(min=0)
        parts[name] = F.one_hot(ids, classes).float() * certain
    return Layout(presence=(present.float() * 2 - 1) * certain, box=boxes, **parts)


def layout_difference(reader: BoxLayoutGenerator, embedding: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How far the layout `reader` reads from `embedding` is from the one it reads from `target` (the
    teacher's): KL of the colour, shape and size distributions and of presence, L1 of the boxes, per thing."""
    read, wanted = (reader.lay_out(reader.augment(vector)[1]) for vector in (embedding, target))
    total = embedding.new_zeros(())
    for name in ("colour", "shape", "size"):
        total = (
            total
            + F.kl_div(
                F.log_softmax(read[name], -1), F.log_softmax(wanted[name], -1), log_target=True, reduction="none"
            )
            .sum(-1)
            .mean()
        )
    present = torch.sigmoid(wanted["presence"])
    total = total + F.binary_cross_entropy_with_logits(read["presence"], present)
    return total + ((read["box"] - wanted["box"]).abs().sum(-1) * present).mean()


def _learning_rate(config: TrainConfig, elapsed: float) -> float:
    return config.learning_rate * (0.1 if elapsed > config.minutes * 60 * (1 - config.final_decay) else 1.0)


def load_teacher(path: str | None, device: str) -> DualEncoder:
    path = path or os.path.normpath(SHIPPED_TEACHER)
    return cast(
        DualEncoder, checkpoint.load(path, "dual-encoder", device, "train it first: transmodal train scene-encoder")
    )


def kl_to_standard_normal(mu: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_variance)) || N(0, 1)), summed over dimensions, averaged over the batch."""
    return 0.5 * (mu.pow(2) + log_variance.exp() - 1 - log_variance).sum(1).mean()


def contrastive(similarity: torch.Tensor) -> torch.Tensor:
    targets = torch.arange(similarity.shape[0], device=similarity.device)
    return (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2


class Trainer:
    """One model's training: a step function per model, the shared loop, validation, saving."""

    def __init__(self, config: TrainConfig, teacher_path: str | None = None):
        self.config = config
        self.device = config.device
        self.rng = random.Random(config.seed)
        torch.manual_seed(config.seed)
        self.pool: data.Pictures
        self.held_out: data.Pictures
        if config.data:
            self._use_dataset(config, teacher_path)
        else:
            self._use_world(config)
        self.phones: dict[str, str] = {}  # caption -> its phones, for a captioner whose units are phones
        if config.arguments.get("units") == "phones":
            self._use_phones(config)
        if config.model == "text-to-image" and config.method in ("layout", "boxes"):  # what it learns to draw
            self.targets = data.scene_pool(config.seed, config.scenes, processes=config.threads, canonical=True)
            self.held_out_targets = data.scene_pool(data.VALIDATION_SEED, config.validation, canonical=True)
            # the canonical grey (a flat field: the same at every size), what the things' pixels differ from
            self.canonical_grey = torch.from_numpy(world.render(world.canonical_background(), 64)[0, 0].copy())
        self.teacher: DualEncoder | None = None
        self.started = time.perf_counter()
        if config.model in ("text-to-image", "speech-encoder"):
            self.teacher = load_teacher(teacher_path, self.device)
            for parameter in self.teacher.parameters():
                parameter.requires_grad_(False)
        self.critic_teacher = self.teacher
        if config.model == "text-to-image" and config.method == "boxes":
            self._use_layouts(config)
        if config.model == "text-to-image" and config.speech_share:
            self._use_speech_embeddings(config)
        if config.model == "text-to-image" and config.semantic_teacher:
            critic = load_teacher(config.semantic_teacher, self.device)
            critic.requires_grad_(False)
            self.critic_teacher = critic

    def _use_world(self, config: TrainConfig) -> None:
        """Pools of the generated world's scenes; their captions said by the training and held-out voices."""
        pool = data.scene_pool(config.seed, config.scenes, processes=config.threads)
        held_out = data.scene_pool(data.VALIDATION_SEED, config.validation)
        self.pool, self.held_out = pool, held_out
        if config.model == "speech-encoder":
            self.speech = data.speech_pool(
                config.seed, pool.scenes, data.TRAIN_VOICES, config.utterances, shifted=config.shifted
            )
            self.held_out_speech = data.speech_pool(data.VALIDATION_SEED, held_out.scenes, data.HELD_OUT_VOICES)

    def _use_phones(self, config: TrainConfig) -> None:
        """The phones of every plain caption the captioner learns from, made once by espeak-ng (one call for
        all), and their inventory as its vocabulary (a network argument: it travels in the checkpoint)."""
        from collections import Counter

        captions = sorted({self.pool.caption(index) for index in range(len(self.pool))})
        self.phones = dict(zip(captions, phonemes(captions)))
        counts = Counter(phone for said in self.phones.values() for phone in said.split())
        config.arguments = dict(config.arguments, words=[phone for phone, _count in counts.most_common()])

    def units_of(self, captions: list[str]) -> list[str]:
        """The captions as the captioner's targets: themselves, or their phones."""
        return (
            [self.phones[caption] for caption in captions]
            if self.config.arguments.get("units") == "phones"
            else captions
        )

    def _use_layouts(self, config: TrainConfig, phrasings: int = 4) -> None:
        """The boxes way's inputs and labels, computed once (the layout reader is a small network, and encoding
        captions or labelling scenes anew each step would cost most of a step): the teacher's embeddings of
        `phrasings` captions of each training scene, and each scene's `attribute_labels` and `canonical_boxes`."""
        captions = [self.pool.caption(index, self.rng) for _ in range(phrasings) for index in range(len(self.pool))]
        with torch.no_grad():
            encoded = [
                self.taught_by.text.encode(captions[start : start + 1000]) for start in range(0, len(captions), 1000)
            ]
        self.caption_embeddings = torch.cat(encoded).view(phrasings, len(self.pool), -1)
        scenes = cast(data.ScenePool, self.pool).scenes
        self.labels = attribute_labels(scenes)
        self.boxes = canonical_boxes(scenes, config.arguments["slots"])

    def _use_speech_embeddings(self, config: TrainConfig) -> None:
        """The speech encoder's embeddings of the training voices' utterances of the pool's first scenes,
        computed once (the encoder is not trained here)."""
        from training.scenes.evaluate import speech_embeddings

        if config.method != "boxes":  # (a real dataset is refused the boxes way before: `_use_dataset`)
            raise SystemExit("--speech-share trains the boxes way on the generated world (--method boxes)")
        path = config.speech_encoder or os.path.join(os.path.dirname(SHIPPED_TEACHER), "speech-encoder-cpu.pt")
        how = "train it first: transmodal train speech-encoder"
        encoder = checkpoint.load(path, "speech-encoder", self.device, how)
        speech = data.speech_pool(
            config.seed, cast(data.ScenePool, self.pool).scenes, data.TRAIN_VOICES, config.utterances
        )
        with torch.no_grad():
            self.spoken_embeddings = speech_embeddings(encoder, speech)
        self.spoken_scenes = speech.scene_indices

    def _use_dataset(self, config: TrainConfig, teacher_path: str | None) -> None:
        """A real dataset's train and dev splits as the pools, its own words as the vocabulary, its
        recordings as the speech."""
        if config.model == "text-to-image" and config.method in ("layout", "boxes"):
            raise SystemExit(
                f"the {config.method} way draws the generated world's canonical pictures: with --data, use "
                "--method vae or gan"
            )
        if config.attributes:
            raise SystemExit("--attributes needs the generated world's labels: a real dataset has none")
        if config.model in ("text-to-image", "speech-encoder") and teacher_path is None:
            raise SystemExit("with --data, give --teacher: the scene encoder trained on the same data")
        self.pool = datasets.captioned(config.data, "train", config.scenes)
        self.held_out = datasets.captioned(config.data, "dev", config.validation)
        if "words" in config.arguments:  # a network argument: the vocabulary travels in the checkpoint
            config.arguments = dict(config.arguments, words=datasets.vocabulary(self.pool))
        if config.model == "speech-encoder":
            self.speech = datasets.spoken(config.data, self.pool, config.utterances)
            self.held_out_speech = datasets.spoken(config.data, self.held_out)

    # --- models ---------------------------------------------------------------------------------------

    def build(self):
        arguments, model = self.config.arguments, self.config.model
        if model == "scene-encoder":
            self.model = DualEncoder(**arguments)
            self.attribute_head = torch.nn.Linear(arguments["dimension"], ATTRIBUTE_OUTPUTS).to(self.device)
        elif model == "image-to-text":
            self.model = SceneCaptioner(**arguments)
        elif model == "speech-encoder":
            self.model = SpeechEncoder(**arguments)
            if self.config.reader:
                how = "train it first: transmodal train text-to-image --method boxes"
                self.reader = cast(
                    BoxLayoutGenerator, checkpoint.load(self.config.reader, "box-layout-generator", self.device, how)
                )
                self.reader.requires_grad_(False)
        elif self.config.method == "layout":
            self.model = SceneGenerator(**arguments)
        elif self.config.method == "boxes":
            self.model = BoxLayoutGenerator(**arguments)
        elif self.config.method == "vae":
            self.model = SceneGenerator(**arguments)
            self.posterior = NoiseEncoder(arguments["dimension"], arguments["noise"], arguments["width"]).to(
                self.device
            )
        else:
            self.model = SceneGenerator(**arguments)
            width = arguments["width"]
            self.critics = torch.nn.ModuleList(
                [
                    SceneDiscriminator(64, arguments["dimension"], width),
                    SceneDiscriminator(128, arguments["dimension"], width),
                ]
            ).to(self.device)
            self.critic_optimiser = torch.optim.Adam(self.critics.parameters(), lr=2e-4, betas=(0.5, 0.999))
        if self.config.init:  # the weights of the same shapes; a part of another shape (more heads) starts fresh
            started_from = checkpoint.load(self.config.init, NETWORK_NAMES[model], self.device).state_dict()
            own = self.model.state_dict()
            kept = {key: value for key, value in started_from.items() if key in own and own[key].shape == value.shape}
            self.model.load_state_dict(kept, strict=False)
            print(json.dumps({"init": self.config.init, "fresh": sorted(set(own) - set(kept))}), flush=True)
        self.model.to(self.device)
        gan = model == "text-to-image" and self.config.method == "gan"
        betas = (0.5, 0.999) if gan else (0.9, 0.999)
        rate = 2e-4 if gan else self.config.learning_rate
        parameters = list(self.model.parameters())
        if model == "text-to-image" and self.config.method == "vae":
            parameters += list(self.posterior.parameters())
        if model == "scene-encoder":
            parameters += list(self.attribute_head.parameters())
        self.optimiser = torch.optim.Adam(parameters, lr=rate, betas=betas)

    def _batch(self, pool: data.Pictures, size: int) -> tuple[list[int], list[str]]:
        indices = [self.rng.randrange(len(pool)) for _ in range(size)]
        return indices, [pool.caption(index, self.rng) for index in indices]

    def step(self) -> dict:
        model, config = self.config.model, self.config
        if model == "text-to-image" and config.method == "boxes":  # its captions' embeddings are made once
            return self._boxes_step([self.rng.randrange(len(self.pool)) for _ in range(config.batch_size)])
        indices, captions = self._batch(self.pool, config.batch_size)
        if model == "scene-encoder":
            images = image_batch(self.pool.small[indices], self.device)
            image_embeddings, text_embeddings = self.model.image(images), self.model.text.encode(captions)
            loss = contrastive(self.model.similarity(image_embeddings, text_embeddings))
            losses = {"loss": loss.item()}
            if config.attributes and isinstance(self.pool, data.ScenePool):  # (never with --data: refused)
                labels = attribute_labels([self.pool.scenes[index] for index in indices]).to(self.device)
                told = attribute_loss(self.attribute_head(image_embeddings), labels) + attribute_loss(
                    self.attribute_head(text_embeddings), labels
                )
                losses["attributes"] = told.item()
                loss = loss + config.attributes * told
            self._update(loss)
            return losses
        if model == "image-to-text":
            images = image_batch(self.pool.small[indices], self.device)
            plain = self.units_of([self.pool.caption(index) for index in indices])
            targets, _ = self.model.vocabulary.batch(plain, add_end=True)
            targets = targets.to(self.device)
            logits = self.model(images, targets)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0)
            self._update(loss)
            return {"loss": loss.item()}
        if model == "speech-encoder":
            said = [self.rng.randrange(len(self.speech.captions)) for _ in range(config.batch_size)]
            features, lengths = self.speech.batch(said, self.rng)
            spoken = self.model(features.to(self.device), lengths)
            scenes = [self.speech.scene_indices[index] for index in said]
            with torch.no_grad():
                texts = self.taught_by.text.encode([self.speech.captions[index] for index in said])
                images = self.taught_by.image(image_batch(self.pool.small[scenes], self.device))
            loss = (1 - (spoken * texts).sum(1)).mean() + 0.5 * contrastive(self.taught_by.similarity(images, spoken))
            losses = {"loss": loss.item()}
            if self.config.reader:
                read = layout_difference(self.reader, spoken, texts)
                losses["read"] = read.item()
                loss = loss + self.config.reader_weight * read
            self._update(loss)
            return losses
        elapsed = time.perf_counter() - self.started
        stages = 1 if elapsed < config.minutes * 60 * config.stage_one_share else 2
        if config.method == "vae":
            return self._vae_step(indices, captions, stages)
        if config.method == "layout":
            return self._layout_step(indices, captions, stages)
        return self._gan_step(indices, captions, stages)

    def _layout_step(self, indices: list[int], captions: list[str], stages: int) -> dict:
        """The layout way: the caption fixes a picture (world.canonical: the things said, where the relation
        puts them, on grey), so the generator learns it by regression — L1 summed over pixels of both stages,
        as the VAE way, with noise from the prior that it learns to ignore — plus the KL of the conditioning
        augmentation and, with `semantic`, the teacher's loss."""
        with torch.no_grad():
            embedding = self.taught_by.text.encode(captions)
        small, large, mu, log_variance = self.model(embedding, stages=stages)
        reconstruction = self._weighted_l1(small, image_batch(self.targets.small[indices], self.device))
        if large is not None:
            reconstruction = reconstruction + 0.25 * self._weighted_l1(
                large, image_batch(self.targets.large[indices], self.device)
            )
        loss = reconstruction.mean() + self.config.kl * kl_to_standard_normal(mu, log_variance)
        losses = {"loss": loss.item() / 1000}
        # these drawings are already from the prior's noise: the teacher judges them, not a second set
        loss = self._with_semantic(loss, losses, embedding, captions, stages, drawn=(small, large))
        self._update(loss)
        return losses

    def _boxes_step(self, indices: list[int]) -> dict:
        """The boxes way (BoxLayoutGenerator), its two parts trained apart on the world's labels: the layout
        read from the embedding learns each said thing's presence, canonical box, colour, shape and size
        (cross-entropy, box L1) on the whole batch; the palette, the background and the shape generator's
        masks learn to draw the labels' own layout as the canonical picture (L1, the things' pixels weighing
        1 + `foreground`) on `DRAWN` of its scenes — drawing costs far more than reading. With `speech_share`,
        part of the batch is conditioned on the speech encoder's embedding of a training utterance of its
        scene (as Li et al. train their generator on speech embeddings)."""
        model = cast(BoxLayoutGenerator, self.model)
        # colours before shapes: the palette starts near grey, and a thing drawn in a colour further from its
        # own than the grey around it is made transparent faster than its colour moves (every mask went
        # transparent so); the masks are held, each thing a soft square, for the first `COLOURS_FIRST` of the time
        shaping = time.perf_counter() - self.started > COLOURS_FIRST * self.config.minutes * 60
        for parameter in [*model.mask.parameters(), model.shape_codes]:
            parameter.requires_grad_(shaping)
        spoken = int(round(self.config.speech_share * len(indices)))
        if spoken:
            said = [self.rng.randrange(len(self.spoken_scenes)) for _ in range(spoken)]
            indices = indices[: len(indices) - spoken] + [self.spoken_scenes[index] for index in said]
        written = indices[: len(indices) - spoken]
        phrasing = torch.randint(0, self.caption_embeddings.shape[0], (len(written),))
        embedding = self.caption_embeddings[phrasing, written].to(self.device)
        if spoken:
            embedding = torch.cat([embedding, self.spoken_embeddings[said].to(self.device)])
        condition, mu, log_variance = model.augment(embedding)
        layout = model.lay_out(condition)
        labels = self.labels[indices].to(self.device)
        present = labels[:, 0 : 3 * model.slots : 3] != -100  # (batch, slots)
        # each thing's colour, shape and size logits in `attribute_labels`' order (the relation is not read)
        logits = [layout[name][:, slot] for slot in range(model.slots) for name in ("colour", "shape", "size")]
        groups = _ATTRIBUTE_GROUPS[: 3 * model.slots]
        told = attribute_loss(torch.cat(logits, dim=1), labels[:, : 3 * model.slots], groups)
        presence = F.binary_cross_entropy_with_logits(layout["presence"], present.float())
        boxes = self.boxes[indices].to(self.device)
        box = ((layout["box"] - boxes).abs().sum(2) * present).sum() / present.sum()
        drawn = list(range(min(DRAWN, len(indices))))
        large = model.draw(labelled_layout(labels[drawn], boxes[drawn], model.slots))
        target = image_batch(self.targets.large[[indices[row] for row in drawn]], self.device)
        drawing = self._weighted_l1(large, target).mean() / target[0].numel()
        loss = told + presence + 10 * box + 10 * drawing + self.config.kl * kl_to_standard_normal(mu, log_variance)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()  # (not clipped: the reader's and the drawing's gradients differ in size, and Adam scales each)
        self.optimiser.step()
        return {"loss": loss.item(), "told": told.item(), "box": box.item(), "drawing": drawing.item()}

    def _vae_step(self, indices: list[int], captions: list[str], stages: int) -> dict:
        """The conditional VAE way: the noise that redraws this very scene comes from the posterior, so the
        L1 to the scene is well posed (where things are is in the noise, not averaged away); its KL to
        N(0, 1) lets drawing sample the noise from the prior. Stage I alone first, as for the GAN."""
        with torch.no_grad():
            embedding = self.taught_by.text.encode(captions)
        small_real = image_batch(self.pool.small[indices], self.device)
        large_real = image_batch(self.pool.large[indices], self.device) * 2 - 1 if stages == 2 else None
        mu_z, log_variance_z = self.posterior(small_real, embedding)
        noise = mu_z + torch.randn_like(mu_z) * (0.5 * log_variance_z).exp()
        small, large, mu, log_variance = self.model(embedding, noise, stages=stages)
        # summed over pixels (a Laplace likelihood), so the KL terms weigh as much as one image's detail
        reconstruction = (small - (small_real * 2 - 1)).abs().sum((1, 2, 3)).mean()
        if large is not None:
            reconstruction = reconstruction + 0.25 * (large - large_real).abs().sum((1, 2, 3)).mean()
        kl_noise = kl_to_standard_normal(mu_z, log_variance_z)
        kl_condition = kl_to_standard_normal(mu, log_variance)
        loss = reconstruction + self.config.kl * (kl_noise + kl_condition)
        losses = {"loss": loss.item() / 1000, "kl": kl_noise.item() / 100}
        loss = self._with_semantic(loss, losses, embedding, captions, stages)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.optimiser.param_groups[0]["params"], 5.0)
        self.optimiser.step()
        return losses

    def _weighted_l1(self, drawn: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 summed over pixels, per image, of a drawing in [-1, 1] against a canonical picture in [0, 1];
        the things' pixels (unlike the canonical grey) weigh 1 + `foreground`."""
        weight: float | torch.Tensor = 1.0
        if self.config.foreground:
            grey = self.canonical_grey.to(target).view(1, 3, 1, 1)
            things = ((target * 255 - grey).abs().amax(1, keepdim=True) > 12).float()
            weight = 1.0 + self.config.foreground * things
        return (weight * (drawn - (target * 2 - 1)).abs()).sum((1, 2, 3))

    def _with_semantic(
        self,
        loss: torch.Tensor,
        losses: dict,
        embedding: torch.Tensor,
        captions: list[str],
        stages: int,
        drawn: tuple | None = None,
    ) -> torch.Tensor:
        """`loss` plus the teacher's loss (`_semantic`) at its weight, when it has one (logged in `losses`)."""
        if not self.config.semantic:
            return loss
        semantic = self._semantic(embedding, captions, stages, drawn)
        losses["semantic"] = semantic.item()
        return loss + self.config.semantic * semantic

    def _semantic(
        self, embedding: torch.Tensor, captions: list[str], stages: int, drawn: tuple | None = None
    ) -> torch.Tensor:
        """AttnGAN's DAMSM idea with this world's teacher: a drawing from noise of the prior must be the
        image, among the batch's, that the teacher matches to its own caption (both stages' drawings, the
        128 x 128 one at the teacher's 64 x 64). The reconstruction alone lets the posterior's noise carry
        the colours (the prior's drawings were grey); this term makes the condition decide what is drawn.
        `drawn`: the step's own (64, 128) drawings, where they are already from the prior (the layout way).
        With a `semantic_teacher`, that encoder matches the drawings to its own embeddings of the captions."""
        small, large = drawn if drawn is not None else self.model(embedding, stages=stages)[:2]
        drawings = [small] if large is None else [small, F.avg_pool2d(large, 2)]
        critic = cast(DualEncoder, self.critic_teacher)
        said = embedding if critic is self.teacher else critic.text.encode(captions)
        losses = [
            contrastive(critic.similarity(critic.image(self._jitter((image + 1) / 2)), said)) for image in drawings
        ]
        return torch.stack(losses).mean()

    def _jitter(self, images: torch.Tensor, most: int = 6) -> torch.Tensor:
        """The batch moved by up to `most` pixels (edges reflected): a drawing must please the teacher
        wherever it stands, not by a stripe along a border that its position-aware features over-read."""
        size = images.shape[-1]
        padded = F.pad(images, (most, most, most, most), mode="reflect")
        x, y = self.rng.randint(0, 2 * most), self.rng.randint(0, 2 * most)
        return padded[..., y : y + size, x : x + size]

    @property
    def taught_by(self) -> DualEncoder:
        """The scene encoder whose embeddings the generator and the speech encoder learn from."""
        if self.teacher is None:
            raise RuntimeError(f"{self.config.model} has no teacher")
        return self.teacher

    def _update(self, loss: torch.Tensor) -> None:
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimiser.step()

    def _gan_step(self, indices: list[int], captions: list[str], stages: int) -> dict:
        """One critic update and one generator update; `stages` = 1 trains the 64 x 64 stage alone (StackGAN
        trains its stage I first), 2 both."""
        with torch.no_grad():
            embedding = self.taught_by.text.encode(captions)
        reals = [image_batch(self.pool.small[indices], self.device) * 2 - 1]
        small, large, mu, log_variance = self.model(embedding, stages=stages)
        fakes = [small]
        if stages == 2:
            reals.append(image_batch(self.pool.large[indices], self.device) * 2 - 1)
            fakes.append(large)
        mismatched = embedding.roll(1, dims=0)  # another scene's caption (scenes rarely repeat)
        ones, zeros = torch.ones(len(indices), device=self.device), torch.zeros(len(indices), device=self.device)
        bce = F.binary_cross_entropy_with_logits
        critic_loss = torch.zeros((), device=self.device)
        for critic, real, fake in zip(self.critics, reals, fakes):
            real_joint, real_plain = critic(real, embedding)
            fake_joint, fake_plain = critic(fake.detach(), embedding)
            wrong_joint, _ = critic(real, mismatched)
            critic_loss = critic_loss + bce(real_joint, ones) + bce(real_plain, ones)
            critic_loss = (
                critic_loss + 0.5 * (bce(fake_joint, zeros) + bce(wrong_joint, zeros)) + bce(fake_plain, zeros)
            )
        self.critic_optimiser.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimiser.step()
        generator_loss = torch.zeros((), device=self.device)
        for critic, real, fake in zip(self.critics, reals, fakes):
            fake_joint, fake_plain = critic(fake, embedding)
            generator_loss = generator_loss + bce(fake_joint, ones) + bce(fake_plain, ones)
            generator_loss = generator_loss + self.config.reconstruction * F.l1_loss(fake, real)
        kl = kl_to_standard_normal(mu, log_variance)
        generator_loss = generator_loss + self.config.kl * kl
        self._update(generator_loss)
        return {"loss": generator_loss.item(), "critic": critic_loss.item()}

    # --- validation -------------------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self) -> dict:
        from training.scenes import evaluate

        self.model.eval()
        try:
            if self.config.model == "scene-encoder":
                return evaluate.retrieval(self.model, self.held_out, self.device)
            if self.config.model == "image-to-text":
                return evaluate.captioning(self.model, self.held_out, self.device)
            if self.config.model == "speech-encoder":
                return evaluate.speech_retrieval(
                    self.model, self.teacher, self.held_out, self.held_out_speech, self.device
                )
            if self.config.method in ("layout", "boxes"):  # measured against what it learns to draw
                return evaluate.generation_l1(self.model, self.teacher, self.held_out_targets, self.device)
            return evaluate.generation_l1(self.model, self.teacher, self.held_out, self.device)
        finally:
            self.model.train()

    def run(self, out: str) -> dict:
        torch.set_num_threads(self.config.threads)
        self.build()
        self.model.train()
        started, history, step = time.perf_counter(), [], 0
        self.started = started
        budget = self.config.minutes * 60
        while time.perf_counter() - started < budget:
            rate = _learning_rate(self.config, time.perf_counter() - started)
            if self.config.model != "text-to-image" or self.config.method == "boxes":
                for group in self.optimiser.param_groups:
                    group["lr"] = rate
            losses = self.step()
            step += 1
            if step % self.config.log_every == 0:
                history.append({"step": step, "seconds": round(time.perf_counter() - started, 1), **losses})
                print(json.dumps(history[-1]), flush=True)
        validation = self.validate()
        name = f"{self.config.model}-{out_config_name(self.config)}"
        os.makedirs(out, exist_ok=True)
        network = NETWORK_NAMES[self.config.model]
        if self.config.model == "text-to-image" and self.config.method == "boxes":
            network = "box-layout-generator"
        checkpoint.save(self.model, network, self.config.arguments, os.path.join(out, f"{name}.pt"))
        report = {
            "config": dataclasses.asdict(self.config) | {"arguments": _short(self.config.arguments)},
            "steps": step,
            "minutes": round((time.perf_counter() - started) / 60, 1),
            "validation": validation,
        }
        with open(os.path.join(out, f"{name}.json"), "w") as file:
            json.dump(report, file, indent=1)
        plot_losses(history, os.path.join(out, f"{name}.png"), self.config.model)
        if self.config.model == "text-to-image":
            self.save_samples(os.path.join(out, f"{name}-samples.png"))
        return report

    @torch.no_grad()
    def save_samples(self, path: str, count: int = 8) -> None:
        """Held-out captions, their scenes (top row: as rendered, or as the layout way draws them) and the
        generator's 128 x 128 images (below)."""
        from PIL import Image

        self.model.eval()
        captions = [self.held_out.caption(index) for index in range(min(count, len(self.held_out)))]
        _small, large, _mu, _log_variance = self.model(self.taught_by.text.encode(captions))
        drawn = ((large.clamp(-1, 1) + 1) * 127.5).byte().permute(0, 2, 3, 1).cpu().numpy()
        # what it learns to draw
        shown = self.held_out_targets if self.config.method in ("layout", "boxes") else self.held_out
        grid = np.concatenate([np.concatenate(list(shown.large[:count]), 1), np.concatenate(list(drawn), 1)], 0)
        Image.fromarray(grid).save(path)
        with open(path[:-4] + ".txt", "w") as file:
            file.write("\n".join(captions) + "\n")


def out_config_name(config: TrainConfig) -> str:
    name = "gpu" if config.device.startswith("cuda") else "cpu"
    return name + ("-phones" if config.arguments.get("units") == "phones" else "")


def _short(arguments: dict) -> dict:
    units = arguments.get("units", "words")  # the list is of phones for a captioner of phones
    return {key: (f"{len(value)} {units}" if key == "words" else value) for key, value in arguments.items()}


def main(model: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"transmodal train {model}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="cpu", help="cpu (<= 30 min on 2 cores) or gpu")
    parser.add_argument("--minutes", type=float, help="time budget (default: the config's)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the config's)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--scenes", type=int, help="training pool size (default: the config's)")
    parser.add_argument("--utterances", type=int, help="speech-encoder: spoken captions (at most --scenes)")
    parser.add_argument("--learning-rate", type=float, help="the starting learning rate (default: the config's)")
    parser.add_argument("--shifted", type=float, help="speech-encoder: share of utterances shifted higher (0-1)")
    parser.add_argument(
        "--teacher", help="scene-encoder checkpoint (text-to-image, speech-encoder; default: the shipped one)"
    )
    parser.add_argument(
        "--method",
        choices=["vae", "gan", "layout", "boxes"],
        help="text-to-image: how to train (default: the config's)",
    )
    parser.add_argument(
        "--speech-share",
        type=float,
        help="text-to-image, boxes: share of each batch conditioned on the speech encoder's embeddings",
    )
    parser.add_argument("--speech-encoder", help="text-to-image, boxes: that speech encoder (default: the shipped one)")
    parser.add_argument(
        "--semantic", type=float, help="text-to-image: weight of the teacher's loss (default: the config's)"
    )
    parser.add_argument("--foreground", type=float, help="text-to-image, layout: extra weight of the things' pixels")
    parser.add_argument(
        "--attributes", type=float, help="scene-encoder: weight of the loss that its embeddings tell the attributes"
    )
    parser.add_argument(
        "--stage-one", choices=["stack", "slots"], help="text-to-image: the 64 x 64 stage (default: the config's)"
    )
    parser.add_argument(
        "--data",
        help="a real dataset's folder instead of the generated world (the layout: training/scenes/datasets.py)",
    )
    parser.add_argument(
        "--semantic-teacher", help="text-to-image: the scene encoder that judges drawings (default: the teacher)"
    )
    parser.add_argument("--reader", help="speech-encoder: a boxes-way generator whose layout reading it must match")
    parser.add_argument("--reader-weight", type=float, help="speech-encoder: that loss's weight (default: 1)")
    parser.add_argument("--init", help="a checkpoint of the same network to start from (its parts of the same shapes)")
    parser.add_argument("--heads", type=int, help="speech-encoder: attention heads of its pooling (default: 1)")
    parser.add_argument(
        "--units", choices=UNITS, help="image-to-text: words, or phones (espeak-ng's, of the captions; default: words)"
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    config = configs(model, args.config, args.method)
    overridable: tuple[str, ...] = ("minutes", "threads", "seed", "device", "scenes", "utterances", "learning_rate")
    overridable += ("shifted", "semantic", "foreground", "data")
    extra = ("attributes", "semantic_teacher", "speech_share", "speech_encoder", "reader", "reader_weight", "init")
    for field in overridable + extra:
        if getattr(args, field) is not None:
            setattr(config, field, getattr(args, field))
    if args.stage_one is not None:  # a network argument: recorded in the checkpoint
        config.arguments = dict(config.arguments, stage_one=args.stage_one)
    if args.heads is not None:
        config.arguments = dict(config.arguments, heads=args.heads)
    if args.units == "phones":
        if model != "image-to-text":
            raise SystemExit("--units phones is for image-to-text: the captioner's units")
        config.arguments = dict(config.arguments, units="phones", max_words=PHONES_PER_CAPTION)
    report = Trainer(config, args.teacher).run(args.out)
    print(json.dumps(report["validation"]))
    return 0
