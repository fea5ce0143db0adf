"""Measures of the scene-world models on held-out scenes (training/scenes/README.md has the results).

- dual encoder: R-precision / recall@1 of image -> caption retrieval among the held-out set (and back);
- captioner: BLEU-4 and token error rate of its captions against the plain caption the scene was made
  from, and against the true caption of the scene nearest to each (`world.true_captions`: a picture does
  not tell which of its things the caption it came from named first);
- generator: L1 to the scene the caption came from (a training-time check), and, in `transmodal eval
  scenes`, the attribute accuracy of its images judged by a separately trained attribute classifier and
  R-precision by the dual encoder.
"""

from __future__ import annotations

import os
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from training.batches import chunks
from training.scenes import world
from training.scenes.data import Pictures, ScenePool, image_batch
from transmodal.metrics import bleu4, edit_distance, token_error_rate
from transmodal.nets.scenes import DualEncoder, SceneCaptioner, SpeechEncoder
from transmodal.phones import phonemes

BATCH = 128  # scenes a network call during evaluation


@torch.no_grad()
def retrieval(model, pool: Pictures, device: str = "cpu") -> dict:
    """Recall@1 both ways over the whole held-out set (plain captions): the R-precision of the papers with
    one relevant caption per image."""
    captions = [pool.caption(index) for index in range(len(pool))]
    images = torch.cat([model.image(image_batch(pool.small[part], device)) for part in chunks(len(captions), BATCH)])
    texts = torch.cat([model.text.encode(captions[part]) for part in chunks(len(captions), BATCH)])
    similarity = images @ texts.T
    truth = torch.arange(len(captions), device=similarity.device)
    return {
        "image_to_text_r1": round((similarity.argmax(1) == truth).float().mean().item(), 4),
        "text_to_image_r1": round((similarity.argmax(0) == truth).float().mean().item(), 4),
        "scenes": len(captions),
    }


def caption_scores(references: list[list[str]], hypotheses: list[list[str]]) -> dict:
    return {
        "bleu4": round(bleu4(references, hypotheses), 4),
        "token_error_rate": round(token_error_rate(references, hypotheses), 4),
        "exact": round(sum(r == h for r, h in zip(references, hypotheses)) / len(references), 4),
    }


def in_units(texts: list[str], units: str) -> list[str]:
    """Texts as a captioner of `units` says them: themselves (words), or their phones (espeak-ng's)."""
    return texts if units == "words" else phonemes(texts)


def nearest_true(scenes: list[world.Scene], hypotheses: list[list[str]], units: str = "words") -> list[tuple]:
    """For each caption said of a scene, the scene's true caption (`world.true_captions`) fewest edits away
    in `units`: the reference it is scored against, as BLEU scores against the nearest of several. Each as
    (the caption in words, its tokens in `units`)."""
    truths = [world.true_captions(scene) for scene in scenes]
    said_as = iter(in_units([truth for scene_truths in truths for truth in scene_truths], units))
    nearest = []
    for scene_truths, said in zip(truths, hypotheses):
        candidates = [(truth, next(said_as).split()) for truth in scene_truths]
        nearest.append(min(candidates, key=lambda candidate: edit_distance(candidate[1], said)))
    return nearest


def nearest_true_captions(
    scenes: list[world.Scene], hypotheses: list[list[str]], units: str = "words"
) -> list[list[str]]:
    """The tokens of `nearest_true`."""
    return [tokens for _caption, tokens in nearest_true(scenes, hypotheses, units)]


@torch.no_grad()
def captions_of(model, pool: Pictures, device: str = "cpu") -> list[str]:
    """The captioner's caption of each picture of the pool (at 64 x 64)."""
    captions: list[str] = []
    for part in chunks(len(pool), BATCH):
        captions += model.generate(image_batch(pool.small[part], device))
    return captions


def captioning(model, pool: Pictures, device: str = "cpu") -> dict:
    """The captioner's scores against each scene's plain caption, and, on the generated world, against its
    nearest true caption ("against_true_captions"), in the captioner's units (words or phones)."""
    units = model.vocabulary.units
    references = [said.split() for said in in_units([pool.caption(index) for index in range(len(pool))], units)]
    hypotheses = [caption.split() for caption in captions_of(model, pool, device)]
    scores = caption_scores(references, hypotheses) | {"scenes": len(references), "units": units}
    if isinstance(pool, ScenePool):
        truths = nearest_true_captions(pool.scenes, hypotheses, units)
        scores["against_true_captions"] = caption_scores(truths, hypotheses)
    return scores


@torch.no_grad()
def generation_l1(generator, teacher, pool: Pictures, device: str = "cpu") -> dict:
    captions = [pool.caption(index) for index in range(len(pool))]
    errors = []
    for part in chunks(len(captions), BATCH):
        _small, large, _mu, _log_variance = generator(teacher.text.encode(captions[part]))
        errors.append((((large + 1) / 2) - image_batch(pool.large[part], device)).abs().mean().item())
    return {"l1_128": round(float(np.mean(errors)), 4), "scenes": len(captions)}


@torch.no_grad()
def speech_retrieval(speech_encoder, teacher, pool: Pictures, speech, device: str = "cpu") -> dict:
    """Spoken caption -> image recall@1 among the held-out scenes (through the teacher's image embedder),
    and the mean cosine between the speech and the teacher's text embedding of what was said."""
    spoken = []
    for part in chunks(len(speech.captions), 64):
        features, lengths = speech.batch(list(range(part.start, part.stop)))
        spoken.append(speech_encoder(features.to(device), lengths))
    spoken_embeddings = torch.cat(spoken)
    scenes = speech.scene_indices
    images = torch.cat(
        [teacher.image(image_batch(pool.small[scenes][part], device)) for part in chunks(len(scenes), BATCH)]
    )
    texts = torch.cat([teacher.text.encode(speech.captions[part]) for part in chunks(len(scenes), BATCH)])
    truth = torch.arange(len(scenes), device=images.device)
    return {
        "speech_to_image_r1": round(((spoken_embeddings @ images.T).argmax(1) == truth).float().mean().item(), 4),
        "text_to_image_r1": round(((texts @ images.T).argmax(1) == truth).float().mean().item(), 4),
        "cosine_to_text": round((spoken_embeddings * texts).sum(1).mean().item(), 4),
        "utterances": len(scenes),
    }


# --- the judge: an attribute classifier trained apart from every model it judges ---------------------------


class AttributeJudge(torch.nn.Module):
    """Image -> which colours and which shapes are in it (multi-label), and, asked about two colours, where
    the thing of the first stands relative to the thing of the second (above / below / left / right).

    Whether a colour or shape is there is read from the feature map's maximum over positions (a star is a
    star wherever it stands: learnt once, not once per position, as from the flattened map, which left the
    first judge seeing a third of the shapes); where things stand, from the flattened map."""

    VERSION = 2  # of the architecture: a cached judge of another version is trained again

    def __init__(self, width: int = 16):
        from transmodal.nets.scenes import ImageFeatures

        super().__init__()
        self.features = ImageFeatures(width)
        channels = self.features.channels
        self.presence = torch.nn.Sequential(torch.nn.Linear(channels, 256), torch.nn.ReLU())
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channels * 64, 256), torch.nn.ReLU())
        self.colours = torch.nn.Linear(256, len(world.COLOURS))
        self.shapes = torch.nn.Linear(256, len(world.SHAPES))
        self.relation = torch.nn.Sequential(
            torch.nn.Linear(256 + 2 * len(world.COLOURS), 128),
            torch.nn.ReLU(),
            torch.nn.Linear(128, len(world.RELATIONS)),
        )

    def forward(self, images: torch.Tensor, first: torch.Tensor, second: torch.Tensor):
        features = self.features(images)
        presence = self.presence(features.amax(dim=(2, 3)))
        body = self.body(features)
        query = torch.cat([F.one_hot(first, len(world.COLOURS)), F.one_hot(second, len(world.COLOURS))], dim=1).float()
        return self.colours(presence), self.shapes(presence), self.relation(torch.cat([body, query], dim=1))


_COLOUR_IDS = {colour: index for index, colour in enumerate(world.COLOURS)}
_SHAPE_IDS = {shape: index for index, shape in enumerate(world.SHAPES)}
_RELATION_IDS = {relation: index for index, relation in enumerate(world.RELATIONS)}
_INVERSE = {
    "above": "below",
    "below": "above",
    "to the left of": "to the right of",
    "to the right of": "to the left of",
}


def _labels(scenes: list[world.Scene], swap: list[bool]):
    colours = torch.zeros(len(scenes), len(world.COLOURS))
    shapes = torch.zeros(len(scenes), len(world.SHAPES))
    first, second, relation = [], [], []
    for row, (scene, swapped) in enumerate(zip(scenes, swap)):
        for thing in scene.things:
            colours[row, _COLOUR_IDS[thing.colour]] = 1
            shapes[row, _SHAPE_IDS[thing.shape]] = 1
        if scene.relation is None:
            first.append(0)  # no relation to learn
            second.append(0)
            relation.append(-100)
            continue
        a, b, said = scene.things[0].colour, scene.things[1].colour, scene.relation
        if swapped:
            a, b, said = b, a, _INVERSE[said]
        first.append(_COLOUR_IDS[a])
        second.append(_COLOUR_IDS[b])
        relation.append(_RELATION_IDS[said])
    return colours, shapes, torch.tensor(first), torch.tensor(second), torch.tensor(relation)


@torch.enable_grad()  # (called from the evaluation, which runs without gradients)
def train_judge(pool: ScenePool, minutes: float = 4.0, seed: int = 7, device: str = "cpu") -> AttributeJudge:
    """The judge, trained on real renders of the training pool (with flips of the relation's query)."""
    import random
    import time

    torch.manual_seed(seed)
    rng = random.Random(seed)
    judge = AttributeJudge().to(device)
    optimiser = torch.optim.Adam(judge.parameters(), lr=2e-3)
    started = time.perf_counter()
    while time.perf_counter() - started < minutes * 60:
        indices = [rng.randrange(len(pool.scenes)) for _ in range(64)]
        colours, shapes, first, second, relation = _labels(
            [pool.scenes[i] for i in indices], [rng.random() < 0.5 for _ in indices]
        )
        colour_logits, shape_logits, relation_logits = judge(
            image_batch(pool.small[indices], device), first.to(device), second.to(device)
        )
        loss = (
            F.binary_cross_entropy_with_logits(colour_logits, colours.to(device))
            + F.binary_cross_entropy_with_logits(shape_logits, shapes.to(device))
            + F.cross_entropy(relation_logits, relation.to(device), ignore_index=-100)
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return judge.eval()


@torch.no_grad()
def judge_images(judge: AttributeJudge, images: torch.Tensor, scenes: list[world.Scene]) -> dict:
    """Share of the described things whose colour and whose shape the judge sees in `images` (in [0, 1],
    at 64 x 64 or resized), and of described relations it sees between the first two things.

    A thing's colour is seen when it is among the judge's k likeliest colours, k the number of colours
    the scene has (shapes alike): a ranking, so a judge that says yes to everything sees no more."""
    colours_seen = shapes_seen = both_seen = things = relations_seen = relations = 0
    for part in chunks(len(scenes), BATCH):
        chunk = scenes[part]
        _colours, _shapes, first, second, relation = _labels(chunk, [False] * len(chunk))
        colour_logits, shape_logits, relation_logits = judge(
            images[part], first.to(images.device), second.to(images.device)
        )
        for row, scene in enumerate(chunk):
            likeliest_colours = colour_logits[row].topk(len({thing.colour for thing in scene.things})).indices
            likeliest_shapes = shape_logits[row].topk(len({thing.shape for thing in scene.things})).indices
            for thing in scene.things:
                colour_seen = _COLOUR_IDS[thing.colour] in likeliest_colours.tolist()
                shape_seen = _SHAPE_IDS[thing.shape] in likeliest_shapes.tolist()
                colours_seen, shapes_seen = colours_seen + colour_seen, shapes_seen + shape_seen
                both_seen += colour_seen and shape_seen
                things += 1
            if scene.relation is not None:
                relations += 1
                relations_seen += int(relation_logits[row].argmax().item() == _RELATION_IDS[scene.relation])
    return {
        "colour": round(colours_seen / things, 4),
        "shape": round(shapes_seen / things, 4),
        "colour_and_shape": round(both_seen / things, 4),  # the measure: both right
        "relation": round(relations_seen / max(1, relations), 4),
    }


@torch.no_grad()
def r_precision(
    encoder, images: torch.Tensor, scenes: list[world.Scene], distractors: int = 99, seed: int = 3
) -> float:
    """AttnGAN's R-precision with R = 1: the image's own caption ranked first among it and `distractors`
    captions of other scenes, by the dual encoder."""
    import random

    rng = random.Random(seed)
    captions = [world.caption(scene) for scene in scenes]
    texts = torch.cat([encoder.text.encode(captions[part]) for part in chunks(len(captions), BATCH)])
    embedded = torch.cat([encoder.image(images[part]) for part in chunks(len(captions), BATCH)])
    hits = 0
    for index in range(len(captions)):
        candidates = [other for other in range(len(captions)) if captions[other] != captions[index]]
        others = rng.sample(candidates, min(distractors, len(candidates)))
        scores = embedded[index] @ texts[[index] + others].T
        hits += int(scores.argmax().item() == 0)
    return round(hits / len(captions), 4)


# --- `transmodal eval scenes` --------------------------------------------------------------------------------


def _generated(generator, embeddings: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(64 x 64, 128 x 128) images in [0, 1] for `embeddings`, the noise from `seed`."""
    torch.manual_seed(seed)
    small, large = [], []
    for part in chunks(len(embeddings), BATCH):
        one, two, _mu, _log_variance = generator(embeddings[part])
        small.append((one + 1) / 2)
        large.append((two + 1) / 2)
    return torch.cat(small).clamp(0, 1), torch.cat(large).clamp(0, 1)


def speech_embeddings(speech_encoder, speech) -> torch.Tensor:
    spoken = []
    for part in chunks(len(speech.captions), 64):
        features, lengths = speech.batch(list(range(part.start, part.stop)))
        spoken.append(speech_encoder(features, lengths))
    return torch.cat(spoken)


def _transcribe(audio: list[tuple[np.ndarray, int]], language: str = "en") -> list[str]:
    """Whisper base (faster-whisper, the SpeechRecognizer's default) on each clip."""
    from docarray import DocList

    from executors.speech_recognizer.executor import SpeechRecognizer
    from transmodal.audio import encode_wav
    from transmodal.docs import MediaDoc

    recognizer = SpeechRecognizer(source_lang=language)
    docs = DocList[MediaDoc](
        [MediaDoc(audio=encode_wav(samples, rate), source_lang=language) for samples, rate in audio]  # type: ignore[arg-type]  # docarray validates the bytes into AudioBytes
    )
    return [doc.text or "" for doc in recognizer.recognize(docs)]


def _translate(texts: list[str], source: str, target: str) -> list[str]:
    """Apertium through the TextTranslator, as the translated speech-to-image flow does."""
    from docarray import DocList

    from executors.text_translator.executor import TextTranslator
    from transmodal.docs import MediaDoc

    translator = TextTranslator(source_lang=source, target_lang=target)
    docs = DocList[MediaDoc]([MediaDoc(text=text or "-", source_lang=source, target_lang=target) for text in texts])
    return [doc.translation or "" for doc in translator.translate(docs)]


def spanish_cascade(generator, encoder, judge, held_out: ScenePool, count: int) -> tuple[dict, float, float]:
    """flows/speech-to-image-translated.yml measured: the captions in Spanish (Apertium), said by espeak-ng's
    Spanish voice, heard by Whisper, translated back by Apertium, drawn. (judged, R-precision, Whisper WER)."""
    from training.scenes import data
    from transmodal.metrics import word_error_rate

    scenes = held_out.scenes[:count]
    spanish = _translate([world.caption(scene) for scene in scenes], "en", "es")
    audio = [data.speak(text, "espeak-ng", "es") for text in spanish]
    heard = _transcribe(audio, "es")
    english = _translate(heard, "es", "en")
    _small, drawn = _generated(generator, encoder.text.encode(english))
    wer = word_error_rate(" ".join(spanish), " ".join(heard))
    return judge_images(judge, drawn, scenes), r_precision(encoder, drawn, scenes), round(wer, 4)


def _row(name: str, judged: dict, precision: float) -> str:
    seen = f"{judged['colour']:.1%} | {judged['shape']:.1%} | {judged['colour_and_shape']:.1%}"
    return f"| {name} | {seen} | {judged['relation']:.1%} | {precision:.1%} |"


def shipped_paths(checkpoints: dict | None = None) -> dict:
    """The shipped checkpoints `run` measures, by role; `checkpoints` replaces some."""
    from executors.image_captioner.backends import CHECKPOINTS as CAPTIONER_CHECKPOINTS
    from executors.image_generator.backends import CHECKPOINTS as GENERATOR_CHECKPOINTS

    return {
        "encoder": os.path.join(GENERATOR_CHECKPOINTS, "scene-encoder-cpu.pt"),
        "generator": os.path.join(GENERATOR_CHECKPOINTS, "text-to-image-cpu-boxes.pt"),
        "stackgan": os.path.join(GENERATOR_CHECKPOINTS, "text-to-image-cpu-layout.pt"),
        "speech": os.path.join(GENERATOR_CHECKPOINTS, "speech-encoder-cpu.pt"),
        "captioner": os.path.join(CAPTIONER_CHECKPOINTS, "image-to-text-gpu.pt"),
        "phones": os.path.join(CAPTIONER_CHECKPOINTS, "image-to-text-cpu-phones.pt"),
        "gan": os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs", "gan", "text-to-image-cpu-gan.pt"),
    } | (checkpoints or {})


@torch.no_grad()
def run(count: int = 500, spoken: int = 200, judge_minutes: float = 4.0, checkpoints: dict | None = None) -> dict:
    """Every measure of the issue on `count` held-out scenes and `spoken` held-out-voice utterances."""
    from training.scenes import data
    from transmodal.metrics import word_error_rate
    from transmodal.nets import checkpoint

    paths = shipped_paths(checkpoints)
    encoder = cast(DualEncoder, checkpoint.load(paths["encoder"], "dual-encoder"))
    generator = checkpoint.load(paths["generator"], checkpoint.SCENE_GENERATORS)
    speech_encoder = checkpoint.load(paths["speech"], "speech-encoder")
    captioner = cast(SceneCaptioner, checkpoint.load(paths["captioner"], "scene-captioner"))
    held_out = data.scene_pool(data.VALIDATION_SEED, count)
    results: dict = {"scenes": count, "utterances": spoken}

    judge_path = os.path.join(data.CACHE, f"judge-v{AttributeJudge.VERSION}-{judge_minutes:g}.pt")
    if os.path.isfile(judge_path):  # the judge depends on nothing that is judged: train it once
        judge = AttributeJudge()
        judge.load_state_dict(torch.load(judge_path, weights_only=True))
        judge.eval()
    else:
        judge = train_judge(data.scene_pool(0, 8000), judge_minutes)
        os.makedirs(data.CACHE, exist_ok=True)
        torch.save(judge.state_dict(), judge_path)
    real = image_batch(held_out.small, "cpu")
    rows = {
        "real images (the judge's own accuracy)": (
            judge_images(judge, real, held_out.scenes),
            r_precision(encoder, real, held_out.scenes),
        )
    }

    plain = [world.caption(scene) for scene in held_out.scenes]
    text_embeddings = torch.cat([encoder.text.encode(plain[part]) for part in chunks(count, BATCH)])
    generators = {"": generator}
    # the StackGAN-shaped generator (shipped before the box-layout one), and the StackGAN way of training
    for key, way in (("stackgan", ", StackGAN-shaped generator"), ("gan", ", StackGAN training")):
        if paths.get(key) and os.path.isfile(paths[key]):
            generators[way] = checkpoint.load(paths[key], checkpoint.SCENE_GENERATORS)
    for way, drawing in generators.items():
        for size, images in zip(("64 x 64", "128 x 128"), _generated(drawing, text_embeddings)):
            rows[f"text -> image{way} ({size})"] = (
                judge_images(judge, images, held_out.scenes),
                r_precision(encoder, images, held_out.scenes),
            )

    for label, vary in (
        ("held-out voices", False),
        ("held-out voices, noise 15-40 dB, speed and pitch 0.8-1.25", True),
    ):
        speech = data.speech_pool(
            data.VALIDATION_SEED + int(vary), held_out.scenes, data.HELD_OUT_VOICES, spoken, vary=vary, keep_audio=True
        )
        scenes = [held_out.scenes[index] for index in speech.scene_indices]
        _small, direct = _generated(generator, speech_embeddings(speech_encoder, speech))
        rows[f"speech -> image, direct ({label})"] = (
            judge_images(judge, direct, scenes),
            r_precision(encoder, direct, scenes),
        )
        heard = _transcribe(speech.audio or [])
        results[f"whisper_wer ({label})"] = round(word_error_rate(" ".join(speech.captions), " ".join(heard)), 4)
        _small, cascade = _generated(generator, encoder.text.encode(heard))
        rows[f"speech -> text -> image, Whisper cascade ({label})"] = (
            judge_images(judge, cascade, scenes),
            r_precision(encoder, cascade, scenes),
        )
    judged, precision, results["whisper_wer (Spanish, espeak-ng es)"] = spanish_cascade(
        generator, encoder, judge, held_out, spoken
    )
    rows["Spanish speech -> Whisper -> Apertium -> image (espeak-ng es)"] = (judged, precision)
    results["speech_to_image"] = {
        name: {**judged, "r_precision": precision} for name, (judged, precision) in rows.items()
    }

    results |= image_to_speech_both(paths, held_out, spoken)
    results["retrieval"] = retrieval(encoder, held_out)
    if getattr(speech_encoder, "world", None) is not None:  # its detector head: what the ImageGenerator flags
        from training.scenes import detector

        results["bad_input"] = detector.flagged(cast(SpeechEncoder, speech_encoder), generator, spoken)
    if captioner.world is not None:  # the captioner's head: what the ImageCaptioner flags
        from training.scenes import detector

        results["bad_input_images"] = detector.image_flagged(captioner, spoken)
    return results


def image_to_speech_both(paths: dict, held_out: ScenePool, spoken: int) -> dict:
    """`image_to_speech` of the captioner of words and, where there is one, of the captioner of phones."""
    from transmodal.nets import checkpoint

    results: dict = {}
    for key, path in (("image_to_speech", paths["captioner"]), ("image_to_phones", paths["phones"])):
        if key == "image_to_phones" and not os.path.isfile(path):
            continue
        captioner = cast(SceneCaptioner, checkpoint.load(path, "scene-captioner"))
        results[key], results[f"{key}_true"] = image_to_speech(captioner, held_out, spoken)
    return results


def image_to_speech(captioner: SceneCaptioner, held_out: ScenePool, spoken: int) -> tuple[dict, dict]:
    """The captioner's units scored against each held-out scene's plain caption and against its nearest true
    caption, and the round trip: its first `spoken` descriptions said as the SpeechSynthesizer says them
    (words by flite awb, its English voice; phones by espeak-ng en-us, through its phoneme input) and heard by
    Whisper base, the word error rate against the caption in words."""
    from executors.speech_synthesizer.backends import EspeakSynthesizer, FliteSynthesizer
    from transmodal.metrics import word_error_rate

    units = captioner.vocabulary.units
    plain = [world.caption(scene) for scene in held_out.scenes]
    described = captions_of(captioner, held_out)
    hypotheses = [caption.split() for caption in described]
    truths = nearest_true(held_out.scenes, hypotheses, units)
    against_plain = caption_scores([said.split() for said in in_units(plain, units)], hypotheses)
    against_true = caption_scores([tokens for _caption, tokens in truths], hypotheses)
    if units == "phones":
        espeak = EspeakSynthesizer()
        said = [espeak.speak_phones(phones, "en") for phones in described[:spoken]]
    else:
        flite = FliteSynthesizer(voice="awb")
        said = [flite.speak(caption, "en") for caption in described[:spoken]]
    heard = " ".join(_transcribe(said))
    against_plain["whisper_wer_of_spoken_caption"] = round(word_error_rate(" ".join(plain[:spoken]), heard), 4)
    true_words = " ".join(caption for caption, _tokens in truths[:spoken])
    against_true["whisper_wer_of_spoken_caption"] = round(word_error_rate(true_words, heard), 4)
    return against_plain | {"units": units}, against_true | {"units": units}


def image_to_speech_table(results: dict) -> str:
    """The captioners' table: their units against the references, and the round trip in words."""
    lines = [
        "| image -> speech (scene captioner + flite awb), against | BLEU-4 | token error rate | exact captions "
        "| Whisper WER of the spoken description |",
        "|---|---|---|---|---|",
    ]
    for key, against in (
        ("image_to_speech", "the caption the scene was made from"),
        ("image_to_speech_true", "the scene's nearest true caption"),
        ("image_to_phones", "in phones (captioner of phones + espeak-ng): the caption the scene was made from"),
        ("image_to_phones_true", "in phones (captioner of phones + espeak-ng): the scene's nearest true caption"),
    ):
        if key not in results:
            continue
        captioning = results[key]
        lines.append(
            f"| {against} | {captioning['bleu4']:.3f} | {captioning['token_error_rate']:.1%} | "
            f"{captioning['exact']:.1%} | {captioning['whisper_wer_of_spoken_caption']:.1%} |"
        )
    return "\n".join(lines)


def markdown(results: dict) -> str:
    lines = [
        f"Speech -> image on {results['scenes']} held-out scenes ({results['utterances']} spoken by the held-out "
        "voices flite slt and espeak-ng en-gb-x-rp), judged by an attribute classifier trained apart on real renders:",
        "",
        "| images | colour right | shape right | both right | relation right | R-precision (1 of 100) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in results["speech_to_image"].items():
        lines.append(_row(name, row, row["r_precision"]))
    lines += ["", image_to_speech_table(results)]
    lines += [
        "",
        "Dual encoder retrieval on the held-out scenes: image -> caption R@1 "
        f"{results['retrieval']['image_to_text_r1']:.1%}, caption -> image R@1 "
        f"{results['retrieval']['text_to_image_r1']:.1%} (among all {results['scenes']}).",
    ]
    if "bad_input" in results:
        lines += [
            "",
            "| speech -> image, what is flagged for a person to check (confidence below 0.5) | by the detector head "
            "| by the detector or the layout's doubt (what the ImageGenerator flags) |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {shares['flagged_by_detector']:.1%} | {shares['flagged']:.1%} |"
            for name, shares in results["bad_input"].items()
        ]
    if "bad_input_images" in results:
        lines += [
            "",
            "| image -> speech, pictures flagged as not of the scene world | pictures | flagged |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {shares['pictures']} | {shares['flagged']:.1%} |"
            for name, shares in results["bad_input_images"].items()
        ]
    lines += [""] + [
        f"Whisper base WER on the spoken captions ({key[13:-1]}): {value:.1%}."
        for key, value in results.items()
        if key.startswith("whisper_wer")
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="transmodal eval scenes", description="the scene-world speech <-> image models"
    )
    parser.add_argument("--count", type=int, default=500, help="held-out scenes (default: 500)")
    parser.add_argument("--spoken", type=int, default=200, help="held-out utterances per speech set (default: 200)")
    parser.add_argument("--judge-minutes", type=float, default=4.0)
    parser.add_argument(
        "--part", choices=["all", "image-to-speech"], default="all", help="image-to-speech: the captioners only"
    )
    parser.add_argument("--json", help="also save the numbers")
    parser.add_argument("--markdown", help="also save the tables")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.part == "image-to-speech":  # minutes, not the whole run's forty
        from training.scenes import data

        held_out = data.scene_pool(data.VALIDATION_SEED, args.count)
        results = image_to_speech_both(shipped_paths(), held_out, args.spoken)
        tables = image_to_speech_table(results)
    else:
        results = run(args.count, args.spoken, args.judge_minutes)
        tables = markdown(results)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as file:
            file.write(tables + "\n")
    print(tables)
    return 0
