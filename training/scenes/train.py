"""Train the scene-world models within a time budget.

    transmodal train scene-encoder --config cpu      # the text-image dual encoder (teacher and judge)
    transmodal train image-to-text --config cpu      # the captioner (image -> words -> flite)
    transmodal train text-to-image --config cpu      # the two-stage conditional GAN, on the teacher's embeddings
    transmodal train speech-encoder --config cpu     # raw speech -> the teacher's caption embedding

Order: the scene encoder first; the generator and the speech encoder learn from its text embeddings.

- scene-encoder: symmetric InfoNCE over a batch of (image, caption) pairs (CLIP's loss); captions drawn in
  varied phrasings each time a scene is seen; `--attributes W` adds a linear head that must read each
  thing's colour, shape and size and the relation from both embeddings (what the generator and the
  speech encoder learn from must carry them).
- image-to-text: cross-entropy of the plain caption's words, teacher forcing.
- text-to-image: StackGAN, stage I (64 x 64) alone for the first half of the time, then both:
  matching-aware conditional loss (real image with a mismatched caption counts as fake) plus the
  unconditional loss, KL of the conditioning augmentation, and an L1 term to the scene the caption came
  from (weight `reconstruction`), which steadies a GAN trained for minutes on two cores; generated images
  are judged by the attribute classifier of training/scenes/evaluate.py. `--method vae` (the default) trains
  the same network as a conditional VAE; `--semantic W` adds the teacher's contrastive loss on drawings
  from the prior (the cpu config: 200), which is what makes the caption decide the colour (README).
- speech-encoder: cosine distance to the teacher's embedding of the spoken caption, plus InfoNCE against
  the scene images' embeddings; no transcripts.

`--data DIR` trains on a real dataset in Flickr8k's layout instead of the generated world (datasets.py).

Everything random comes from the seed; validation scenes come from a seed the training stream never uses.
Writes to --out: <model>-<config>.pt, .json (config, validation, time) and .png (loss curve).
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
    DualEncoder,
    NoiseEncoder,
    SceneCaptioner,
    SceneDiscriminator,
    SceneGenerator,
    SpeechEncoder,
)

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
    stage_one_share: float = 0.5  # text-to-image: the first half of the time trains the 64 x 64 stage alone
    # text-to-image: "vae" (conditional VAE), "gan" (StackGAN) or "layout" (regression to each scene's canonical
    # picture, world.canonical: the cpu and gpu configs' way; see README)
    method: str = "vae"
    semantic: float = 0.0  # text-to-image: weight of the teacher's contrastive loss on drawings from the prior
    # text-to-image, the layout way: extra weight of the L1 on the things' pixels (the grey around them is
    # most of a picture, and alone the regression draws grey first)
    foreground: float = 0.0
    # a real dataset's folder (training/scenes/datasets.py: Flickr8k with its spoken captions) instead of
    # the generated world; `scenes` and `validation` then cap its train and dev splits
    data: str = ""
    # scene-encoder: weight of the auxiliary loss that makes both embeddings tell each thing's colour, shape
    # and size and the relation (a linear head, training only; the generated world only, which has labels)
    attributes: float = 0.0
    # text-to-image: the scene encoder whose matching of drawings to their captions is the teacher's loss
    # (default: the teacher itself); see README: a teacher trained to expose attributes judges colours worse
    semantic_teacher: str = ""


def configs(model: str, name: str) -> TrainConfig:
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
        return TrainConfig(model, arguments, minutes=12.0, batch_size=64 if model != "speech-encoder" else 32)
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


def attribute_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each group of the head's outputs against its labels (absent ones ignored), summed."""
    total = logits.new_zeros(())
    for group, part in enumerate(logits.split(_ATTRIBUTE_GROUPS, dim=1)):
        if (labels[:, group] != -100).any():
            total = total + F.cross_entropy(part, labels[:, group], ignore_index=-100)
    return total


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
        if config.model == "text-to-image" and config.method == "layout":  # what the generator learns to draw
            self.targets = data.scene_pool(config.seed, config.scenes, processes=config.threads, canonical=True)
            self.held_out_targets = data.scene_pool(data.VALIDATION_SEED, config.validation, canonical=True)
            # the canonical grey (a flat field: the same at every size), what the things' pixels differ from
            self.canonical_grey = torch.from_numpy(world.render(world.canonical_background(), 64)[0, 0])
        self.teacher: DualEncoder | None = None
        self.started = time.perf_counter()
        if config.model in ("text-to-image", "speech-encoder"):
            self.teacher = load_teacher(teacher_path, self.device)
            for parameter in self.teacher.parameters():
                parameter.requires_grad_(False)
        self.critic_teacher = self.teacher
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
            self.speech = data.speech_pool(config.seed, pool.scenes, data.TRAIN_VOICES, config.utterances)
            self.held_out_speech = data.speech_pool(data.VALIDATION_SEED, held_out.scenes, data.HELD_OUT_VOICES)

    def _use_dataset(self, config: TrainConfig, teacher_path: str | None) -> None:
        """A real dataset's train and dev splits as the pools, its own words as the vocabulary, its
        recordings as the speech."""
        if config.model == "text-to-image" and config.method == "layout":
            raise SystemExit(
                "the layout way draws the generated world's canonical pictures: with --data, use --method vae or gan"
            )
        if config.attributes:
            raise SystemExit("--attributes needs the generated world's labels: a real dataset has none")
        if config.model in ("text-to-image", "speech-encoder") and teacher_path is None:
            raise SystemExit("with --data, give --teacher: the scene encoder trained on the same data")
        self.pool = datasets.flickr8k(config.data, "train", config.scenes)
        self.held_out = datasets.flickr8k(config.data, "dev", config.validation)
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
        elif self.config.method == "layout":
            self.model = SceneGenerator(**arguments)
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
            plain = [self.pool.caption(index) for index in indices]
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
            self._update(loss)
            return {"loss": loss.item()}
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
            if self.config.method == "layout":  # measured against what it learns to draw
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
            if self.config.model != "text-to-image":
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
        shown = self.held_out_targets if self.config.method == "layout" else self.held_out  # what it learns to draw
        grid = np.concatenate([np.concatenate(list(shown.large[:count]), 1), np.concatenate(list(drawn), 1)], 0)
        Image.fromarray(grid).save(path)
        with open(path[:-4] + ".txt", "w") as file:
            file.write("\n".join(captions) + "\n")


def out_config_name(config: TrainConfig) -> str:
    return "gpu" if config.device.startswith("cuda") else "cpu"


def _short(arguments: dict) -> dict:
    return {key: (f"{len(value)} words" if key == "words" else value) for key, value in arguments.items()}


def main(model: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"transmodal train {model}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="cpu", help="cpu (<= 30 min on 2 cores) or gpu")
    parser.add_argument("--minutes", type=float, help="time budget (default: the config's)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the config's)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu, cuda, ... (default: the config's)")
    parser.add_argument("--scenes", type=int, help="training pool size (default: the config's)")
    parser.add_argument(
        "--teacher", help="scene-encoder checkpoint (text-to-image, speech-encoder; default: the shipped one)"
    )
    parser.add_argument(
        "--method", choices=["vae", "gan", "layout"], help="text-to-image: how to train (default: the config's)"
    )
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
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    config = configs(model, args.config)
    overridable = ("minutes", "threads", "seed", "device", "scenes", "method", "semantic", "foreground", "data")
    for field in overridable + ("attributes", "semantic_teacher"):
        if getattr(args, field) is not None:
            setattr(config, field, getattr(args, field))
    if args.stage_one is not None:  # a network argument: recorded in the checkpoint
        config.arguments = dict(config.arguments, stage_one=args.stage_one)
    report = Trainer(config, args.teacher).run(args.out)
    print(json.dumps(report["validation"]))
    return 0
