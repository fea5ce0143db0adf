"""Detector heads: is an utterance a caption of the scene world at all (the speech encoder's), is a picture
of the scene world at all (the captioner's)?

The student hears only captions of the world in training, so it maps any sound near some caption: its
embedding of "what time does the train leave" is as close to the world's captions as a caption's own
(training/scenes/README.md, "Bad input"). The attention-pooled features before the projection still tell
them apart, so a linear head on them is trained here, the encoder frozen (its embeddings, and every
speech -> image number, stay as they were):

- in the world: the speech encoder's own training utterances (captions of the training scenes said by the
  training voices, with speed, pitch and noise varied; the pool its `.json` names);
- not: sentences of common English words strung by their word-pair counts (`wordsegment`'s Google Web
  counts), said by the same voices the same way, and sounds that are not speech (noise of several colours
  and levels, tones, chords, sweeps, near silence).

Measured (`flagged`) on what training never sees: held-out scenes said by the held-out voices, sentences a
person wrote (`OTHER_SENTENCES`, and `NEAR_SENTENCES` that use the world's words about other things) said by
the held-out voices, and other seeds of the non-speech sounds.

    transmodal train speech-detector                       # the shipped speech encoder, with a head
    transmodal train speech-detector --encoder S.pt --out DIR

The captioner's head is alike (`train_image`): a logistic regression on the mean and maximum of its image
features, fitted on renders of the training scenes against pictures that are not of the world — crops of
real photographs (scikit-image's sample photos: `TRAIN_PHOTOS`) flipped and colour-jittered, whole photos,
signs with text (`transmodal.synthetic`) and noise — and measured on held-out scenes, other photographs
(`HELD_OUT_PHOTOS`), signs of another seed, and the project's example inputs (`examples/`).

    transmodal train image-detector                        # the shipped captioner, with a head
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import random
import time
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from training.batches import chunks
from training.scenes import data, world
from transmodal.nets import checkpoint
from transmodal.nets.scenes import SpeechEncoder, pad_frames

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "runs")
RATE = 16000

# Sentences about other things, said by the held-out voices: the measure only, never trained on.
OTHER_SENTENCES = (
    "a dog runs along the beach",
    "what time does the train leave",
    "please turn off the lights",
    "the weather is nice today",
    "i would like a cup of coffee",
    "my name is john",
    "where is the station",
    "the cat sleeps on the sofa",
    "open the window please",
    "we are going to the market tomorrow",
    "the price of bread went up",
    "can you help me with my homework",
    "a man rides a horse in the field",
    "the children play football in the park",
    "how much does this cost",
    "call me when you arrive",
    "the music is too loud",
    "she reads a book by the fire",
    "the car is parked outside",
    "good morning everyone",
    "a bird sits on the branch of an old tree",
    "two people walk down a busy street at night",
    "the kitchen smells of fresh bread",
    "turn left at the second traffic light",
    "a boat sails across the lake",
    "the meeting starts at nine",
    "my phone battery is almost empty",
    "a little girl holds a balloon",
    "the mountains are covered in snow",
    "thank you very much for your help",
)


# Sentences that use the world's words (colours, shapes, sizes, relations) about other things: the
# hardest out-of-world case, a measure only, never trained on.
NEAR_SENTENCES = (
    "a red car parked in front of a big house",
    "the blue sky above the green hills",
    "a small white dog to the left of the door",
    "two yellow taxis wait at the station",
    "a big orange sun sets behind the sea",
    "my purple shirt is on the chair",
    "a green bottle stands on the table",
    "a circle of friends sits around the fire",
    "the square is full of people",
    "she drew a star on the paper",
    "a small boat below the bridge",
    "the white cat sits above the stairs",
    "a red apple and a yellow banana",
    "the triangle is a musical instrument",
    "a blue bird to the right of the window",
    "a diamond ring in a small box",
)


def sentence_maker(seed: int):
    """A function that returns a sentence of common English words, each following the last as the Web's
    word-pair counts say it often does (four to ten words)."""
    from transmodal.word_frequencies import word_frequencies

    counts = word_frequencies("en")
    if counts is None:
        raise SystemExit("the out-of-world sentences need the word counts of `wordsegment`: pip install wordsegment")
    common = [word for word, _count in sorted(counts.unigrams.items(), key=lambda item: -item[1]) if word.isalpha()]
    common = common[:20000]
    known = set(common)
    following: dict[str, list[tuple[str, int]]] = collections.defaultdict(list)
    for pair, count in counts.bigrams.items():
        first, _, second = pair.partition(" ")
        if count > 50000 and first in known and second in known:
            following[first].append((second, count))
    rng = random.Random(seed)

    def sentence() -> str:
        word = rng.choice(common[:2000])
        words = [word]
        for _ in range(rng.randint(3, 9)):
            options = following.get(word)
            if options:
                choices, weights = zip(*options)
                word = rng.choices(choices, weights)[0]
            else:
                word = rng.choice(common[:5000])
            words.append(word)
        return " ".join(words)

    return sentence


def said(texts: list[str], voices, seed: int, vary: bool = True, shifted: float = 0.0) -> list[tuple[np.ndarray, int]]:
    """Each text said by a voice of `voices` in turn (with `vary`, at a random speed and pitch with noise,
    as the world's training utterances). A `shifted` share is played 1.1-1.4 times faster: pitch and
    formants rise together, as from a man's voice to a woman's or a child's."""
    rng = random.Random(seed)
    plans = []
    for index, text in enumerate(texts):
        engine, voice = voices[index % len(voices)]
        speed, pitch, snr = (
            (rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.25), rng.uniform(15, 40)) if vary else (1, 1, math.inf)
        )
        shift = rng.uniform(1.1, 1.4) if rng.random() < shifted else 1.0
        plans.append(data.Utterance(text, engine, voice, speed, pitch, snr, rng.randrange(1 << 30), shift))
    return data.say_all(plans)


def not_speech(seed: int, count: int) -> list[tuple[np.ndarray, int]]:
    """Sounds that are not speech, 0.5 to 4 s each: white and brown noise, tones, chords, sweeps, near
    silence, at random levels."""
    rng = np.random.default_rng(seed)
    sounds = []
    for index in range(count):
        length = int(RATE * rng.uniform(0.5, 4.0))
        time_axis = np.arange(length) / RATE
        kind = index % 6
        if kind == 0:
            samples = rng.standard_normal(length)
        elif kind == 1:
            samples = np.cumsum(rng.standard_normal(length))
            samples -= np.convolve(samples, np.ones(400) / 400, mode="same")  # brown noise without its drift
        elif kind == 2:
            samples = np.sin(2 * np.pi * rng.uniform(80, 4000) * time_axis)
        elif kind == 3:
            samples = np.sin(2 * np.pi * rng.uniform(100, 2000, size=(3, 1)) * time_axis).sum(0)
        elif kind == 4:
            start, end = rng.uniform(100, 4000, size=2)
            samples = np.sin(2 * np.pi * (start + (end - start) * time_axis / time_axis[-1] / 2) * time_axis)
        else:
            samples = rng.standard_normal(length) * 0.01
        samples = samples / (np.abs(samples).max() + 1e-9) * rng.uniform(0.05, 0.9)
        sounds.append((samples.astype(np.float32), RATE))
    return sounds


@torch.no_grad()
def pooled(encoder: SpeechEncoder, clips: list[tuple[np.ndarray, int]]) -> torch.Tensor:
    """The encoder's pooled features of each clip (batch, features)."""
    from transmodal.audio import speech_features

    features = [speech_features(samples, rate, encoder.mels) for samples, rate in clips]
    return torch.cat([encoder.pool(*pad_frames(features[part])) for part in chunks(len(features), 64)])


def fit_head(inside: torch.Tensor, outside: torch.Tensor, steps: int = 1500) -> torch.nn.Linear:
    """A logistic regression of in-world (1) against not (0), each side weighing half, on standardised
    features; the standardisation is folded into the returned layer, which reads the raw features."""
    features = torch.cat([inside, outside])
    labels = torch.cat([torch.ones(len(inside)), torch.zeros(len(outside))])
    weights = torch.cat(
        [torch.full((len(inside),), 0.5 / len(inside)), torch.full((len(outside),), 0.5 / len(outside))]
    )
    mean, spread = features.mean(0), features.std(0) + 1e-6
    standard = (features - mean) / spread
    head = torch.nn.Linear(features.shape[1], 1)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(steps):
        optimiser.zero_grad()
        losses = F.binary_cross_entropy_with_logits(head(standard)[:, 0], labels, reduction="none")
        (losses * weights).sum().backward()
        optimiser.step()
    folded = torch.nn.Linear(features.shape[1], 1)
    with torch.no_grad():
        folded.weight.copy_(head.weight / spread)
        folded.bias.copy_(head.bias - (head.weight[0] * mean / spread).sum())
    return folded


def with_head(encoder: SpeechEncoder, head: torch.nn.Linear) -> SpeechEncoder:
    """A copy of `encoder` with `head` as its detector (every other weight the same)."""
    return _joined(SpeechEncoder(**encoder_arguments(encoder), detector=True), encoder, head)


def _joined(network, trained, head: torch.nn.Linear):
    """`network` (built with a detector head) given `trained`'s weights and `head` as its `world` layer."""
    state = {key: value for key, value in trained.state_dict().items() if not key.startswith("world.")}
    network.load_state_dict(state | {"world.weight": head.weight.detach(), "world.bias": head.bias.detach()})
    return network.eval()


def save_with_head(source: str, head: torch.nn.Linear, path: str) -> None:
    """The network saved at `source` with `head` as its detector, saved to `path` in the source's precision
    (its arguments and every other weight the same)."""
    saved = torch.load(source, weights_only=True)
    network, arguments = saved["network"], saved["arguments"] | {"detector": True}
    joined = _joined(checkpoint.NETWORKS[network](**arguments), checkpoint.load(source, network), head)
    precision = "int8" if any(key.endswith(checkpoint.INT8_SCALE) for key in saved["state_dict"]) else "half"
    checkpoint.save(joined, network, arguments, path, precision=precision)


def encoder_arguments(encoder: SpeechEncoder) -> dict:
    hidden = encoder.gru.hidden_size
    return {
        "mels": encoder.mels,
        "dimension": encoder.project.out_features,
        "hidden": hidden,
        "heads": encoder.attention.out_features,
    }


@torch.no_grad()
def flagged(encoder: SpeechEncoder, generator=None, held_out: int = 200) -> dict:
    """The share of each held-out set whose in-world probability is below one half (and, with the box-layout
    `generator`, whose confidence as the ImageGenerator computes it — the lesser of that and the layout's —
    is): held-out scenes said by the held-out voices, plain and varied; `OTHER_SENTENCES` and
    `NEAR_SENTENCES` said by them; non-speech sounds of a seed training never uses."""
    from transmodal.audio import speech_features

    scenes = world.scenes(data.VALIDATION_SEED, held_out)
    captions = [world.caption(scene) for scene in scenes]
    sets = {
        "held-out scenes, held-out voices": said(captions, data.HELD_OUT_VOICES, 1, vary=False),
        "held-out scenes, held-out voices, varied": said(captions, data.HELD_OUT_VOICES, 2),
        "other sentences, held-out voices": said(list(OTHER_SENTENCES), data.HELD_OUT_VOICES, 3, vary=False),
        "other sentences, held-out voices, varied": said(list(OTHER_SENTENCES), data.HELD_OUT_VOICES, 4),
        "the world's words about other things, held-out voices": said(
            list(NEAR_SENTENCES), data.HELD_OUT_VOICES, 5, vary=False
        ),
        "not speech": not_speech(99, 60),
    }
    shares = {}
    for name, clips in sets.items():
        features = [speech_features(samples, rate, encoder.mels) for samples, rate in clips]
        probabilities, sure = [], []
        for part in chunks(len(features), 64):
            embedding, in_world = encoder.in_world(*pad_frames(features[part]))
            assert in_world is not None, "a speech encoder without a detector head"
            probabilities.append(in_world)
            if generator is not None:
                layout = generator.lay_out(generator.augment(embedding)[1])
                sure.append(torch.minimum(in_world, generator.confidence(layout)))
        shares[name] = {"flagged_by_detector": round(float((torch.cat(probabilities) < 0.5).float().mean()), 4)}
        if sure:
            shares[name]["flagged"] = round(float((torch.cat(sure) < 0.5).float().mean()), 4)
    return shares


def shipped(name: str) -> str:
    from executors.image_generator.backends import CHECKPOINTS

    return os.path.join(CHECKPOINTS, name)


def encoder_record(encoder_path: str) -> dict:
    """The `.json` written beside a checkpoint by its training (its config and numbers), or {}."""
    record_path = os.path.splitext(encoder_path)[0] + ".json"
    if not os.path.isfile(record_path):
        return {}
    with open(record_path) as file:
        return json.load(file)


def train(encoder_path: str, out: str, count: int, sounds: int, seed: int = 0) -> dict:
    """The encoder at `encoder_path` with a detector head fitted on `count` captions of its own training
    scenes (as its record says, else the cpu config's) against `count` other sentences and `sounds` that are
    not speech, all said as in training, half of the speech shifted higher (`said`); written to `out` with
    the encoder's record and a report of what the head flags."""
    from training.scenes.train import configs

    started = time.time()
    encoder = cast(SpeechEncoder, checkpoint.load(encoder_path, "speech-encoder"))
    record = encoder_record(encoder_path)
    trained = record.get("config") or dataclasses.asdict(configs("speech-encoder", "cpu"))
    rng = random.Random(seed)
    captions = [world.caption(scene, rng) for scene in world.scenes(trained["seed"], trained["scenes"])[:count]]
    make_sentence = sentence_maker(seed)
    sentences = [make_sentence() for _ in range(count)]
    inside = said(captions, data.TRAIN_VOICES, seed + 1, shifted=0.5)
    outside = said(sentences, data.TRAIN_VOICES, seed + 2, shifted=0.5) + not_speech(seed, sounds)
    print(json.dumps({"sentences": sentences[:5], "seconds": round(time.time() - started)}), flush=True)
    head = fit_head(pooled(encoder, inside), pooled(encoder, outside))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "speech-encoder-cpu.pt")
    save_with_head(encoder_path, head, path)
    generator = checkpoint.load(shipped("text-to-image-cpu-boxes.pt"), checkpoint.SCENE_GENERATORS)
    report = {
        "encoder": encoder_path,
        "captions": count,
        "other_sentences": count,
        "not_speech": sounds,
        "minutes": round((time.time() - started) / 60, 1),
        "flagged": flagged(cast(SpeechEncoder, checkpoint.load(path, "speech-encoder")), generator),
    }
    # the encoder's own record stays (its training config and numbers); the head's is added to it
    with open(os.path.join(out, "speech-encoder-cpu.json"), "w") as file:
        json.dump(record | {"detector": report}, file, indent=1)
    return report


# scikit-image's sample pictures (real photographs and scans, shipped with the package): the image head is
# fitted on crops of the first, measured on the second
TRAIN_PHOTOS = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
    "camera.png",
    "coins.png",
    "horse.png",
    "moon.png",
    "page.png",
    "text.png",
    "clock_motion.png",
    "hubble_deep_field.jpg",
    "chessboard_RGB.png",
)
HELD_OUT_PHOTOS = ("motorcycle_left.png", "retina.jpg", "logo.png", "microaneurysms.png", "cell.png", "ihc.png")
SIDE = 128  # the world's renders' size


def photographs(names: tuple[str, ...]) -> list[np.ndarray]:
    import skimage
    from PIL import Image

    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    return [np.asarray(Image.open(os.path.join(folder, name)).convert("RGB")) for name in names]


def not_the_world(seed: int, count: int, photos: list[np.ndarray]) -> list[np.ndarray]:
    """`count` SIDE x SIDE pictures that are not of the scene world, in turn: a crop of one of `photos`
    (flipped, colour-jittered), a whole photo squashed to the square, a sign with text, noise."""
    from PIL import Image

    from transmodal import synthetic

    rng = np.random.default_rng(seed)
    pictures = []
    for index in range(count):
        kind = index % 4
        if kind < 2:
            photo = photos[rng.integers(len(photos))]
            if kind == 0:
                side = int(rng.integers(min(photo.shape[:2]) // 6, min(photo.shape[:2]) + 1))
                top = int(rng.integers(0, photo.shape[0] - side + 1))
                left = int(rng.integers(0, photo.shape[1] - side + 1))
                photo = photo[top : top + side, left : left + side]
            pixels = np.asarray(Image.fromarray(photo).resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float32)
            if rng.random() < 0.5:
                pixels = pixels[:, ::-1]
            pixels = pixels * rng.uniform(0.7, 1.3, 3).astype(np.float32) + rng.uniform(-30, 30)
        elif kind == 2:
            words = [" ".join(str(word) for word in rng.choice(_SIGN_WORDS, size=rng.integers(1, 3)))]
            background = synthetic.BACKGROUNDS[rng.integers(len(synthetic.BACKGROUNDS))]
            sign = synthetic.make_sign(words, size=(SIDE, SIDE), background=background, seed=int(rng.integers(1 << 30)))
            pixels = sign.image.astype(np.float32)
        else:
            coarse = rng.uniform(0, 255, (int(rng.integers(2, 33)),) * 2 + (3,)).astype(np.uint8)
            pixels = np.asarray(Image.fromarray(coarse).resize((SIDE, SIDE), Image.Resampling.BICUBIC), np.float32)
        pictures.append(np.clip(pixels, 0, 255).astype(np.uint8))
    return pictures


_SIGN_WORDS = ("EXIT", "OPEN", "Café", "No smoking", "SALE", "Platform 2", "Bus stop", "PUSH", "Hotel", "Menu")


@torch.no_grad()
def image_pooled(captioner, pictures: list[np.ndarray]) -> torch.Tensor:
    from transmodal.nets.scenes import scene_pixels

    return torch.cat([captioner.pool(scene_pixels(pictures[part])) for part in chunks(len(pictures), 128)])


def image_flagged(captioner, held_out: int = 200) -> dict:
    """The share of each held-out set the captioner's head says is not of the scene world (probability below
    one half): renders of held-out scenes, other photographs, signs and noise of another seed, the
    project's example inputs."""
    from PIL import Image

    from transmodal.nets.scenes import scene_pixels

    examples = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples")
    sets = {
        "held-out scenes": [world.render(scene, SIDE) for scene in world.scenes(data.VALIDATION_SEED, held_out)],
        "other photographs (crops, whole)": [
            picture
            for index, picture in enumerate(not_the_world(98, held_out, photographs(HELD_OUT_PHOTOS)))
            if index % 4 < 2
        ],
        "signs with text, noise (another seed)": [
            picture
            for index, picture in enumerate(not_the_world(99, held_out, photographs(TRAIN_PHOTOS)))
            if index % 4 >= 2
        ],
        "the project's example inputs (examples/*.png)": [
            np.asarray(Image.open(os.path.join(examples, name)).convert("RGB"))
            for name in sorted(os.listdir(examples))
            if name.endswith(".png")
        ],
    }
    shares = {}
    for name, pictures in sets.items():
        in_world = torch.cat([captioner.in_world(scene_pixels(pictures[part])) for part in chunks(len(pictures), 128)])
        shares[name] = {"pictures": len(pictures), "flagged": round(float((in_world < 0.5).float().mean()), 4)}
    return shares


def train_image(captioner_path: str, out: str, count: int, seed: int = 0) -> dict:
    """The captioner at `captioner_path` with a detector head fitted on `count` renders of the training
    scenes against `count` pictures not of the world; written to `out` (its precision kept) with the
    captioner's record and a report of what the head flags."""
    from transmodal.nets.scenes import SceneCaptioner

    started = time.time()
    captioner = cast(SceneCaptioner, checkpoint.load(captioner_path, "scene-captioner"))
    scenes = [world.render(scene, SIDE) for scene in world.scenes(seed, count)]
    outside = not_the_world(seed, count, photographs(TRAIN_PHOTOS))
    head = fit_head(image_pooled(captioner, scenes), image_pooled(captioner, outside))
    os.makedirs(out, exist_ok=True)
    name = os.path.splitext(os.path.basename(captioner_path))[0]
    path = os.path.join(out, name + ".pt")
    save_with_head(captioner_path, head, path)
    report = {
        "captioner": captioner_path,
        "scenes": count,
        "not_the_world": count,
        "minutes": round((time.time() - started) / 60, 1),
        "flagged": image_flagged(checkpoint.load(path, "scene-captioner")),
    }
    with open(os.path.join(out, name + ".json"), "w") as file:
        json.dump(encoder_record(captioner_path) | {"detector": report}, file, indent=1)
    return report


def main_image(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal train image-detector", description="the captioner's head")
    parser.add_argument("--captioner", help="the captioner to give a head (default: the shipped one)")
    parser.add_argument("--count", type=int, default=3000, help="world renders, and other pictures, to train on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    from executors.image_captioner.backends import CHECKPOINTS

    captioner = args.captioner or os.path.join(CHECKPOINTS, "image-to-text-gpu.pt")
    print(json.dumps(train_image(captioner, args.out, args.count, args.seed)["flagged"], indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal train speech-detector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", help="the speech encoder to give a head (default: the shipped one)")
    parser.add_argument("--count", type=int, default=3000, help="world captions, and other sentences, to train on")
    parser.add_argument("--sounds", type=int, default=600, help="training sounds that are not speech")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    encoder = args.encoder or shipped("speech-encoder-cpu.pt")
    report = train(encoder, args.out, args.count, args.sounds, args.seed)
    print(json.dumps(report["flagged"], indent=1))
    return 0
