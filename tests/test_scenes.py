"""The scene world and its speech <-> image models (training/scenes, transmodal/nets/scenes.py) and the
backends that load them (ImageGenerator `scenes`, `scenes-from-speech`; ImageCaptioner `scenes`).

Tiny random networks are saved as training saves them and loaded through the backends' own code; the
shipped checkpoints are held to bounds on held-out scenes (their full numbers: training/scenes/README.md).
"""

import dataclasses
import io
import json
import os
import random
from typing import cast

import numpy as np
import pytest
import torch
from docarray import DocList
from PIL import Image

from executors.image_captioner.backends import SceneCaptioner as SceneCaptionerBackend
from executors.image_generator.backends import GenerationSettings, SceneSpeechToImage, SceneTextToImage
from training.scenes import data, evaluate, world
from transmodal import metrics
from transmodal.audio import speech_features
from transmodal.docs import MediaDoc
from transmodal.errors import BadInputError, ModelNotFoundError
from transmodal.nets import checkpoint
from transmodal.nets.scenes import (
    BoxLayoutGenerator,
    DualEncoder,
    SceneCaptioner,
    SceneGenerator,
    SpeechEncoder,
    Vocabulary,
    pad_frames,
)


def test_scenes_are_reproducible_and_their_captions_true():
    first, again = world.scenes(5, 40), world.scenes(5, 40)
    assert first == again
    assert np.array_equal(world.render(first[0], 64), world.render(again[0], 64))
    vocabulary = set(world.vocabulary())
    rng = random.Random(1)
    for scene in first:
        for text in (world.caption(scene), world.caption(scene, rng)):
            assert set(text.split()) <= vocabulary, text
        assert 1 <= len(scene.things) <= 3
        assert len({thing.colour for thing in scene.things}) == len(scene.things)  # colours tell things apart
        if scene.relation == "above":
            assert scene.things[0].y < scene.things[1].y
        if scene.relation == "to the left of":
            assert scene.things[0].x < scene.things[1].x
    assert world.render(first[0], 128).shape == (128, 128, 3)
    orange = world.Scene((world.Thing("star", "orange", "big", 0.5, 0.5, 0.3, 0),), None, "grey", 1)
    said = {world.caption(orange, random.Random(seed)) for seed in range(30)}
    assert any("an orange star" in text for text in said) and not any("a orange" in text for text in said)


def test_a_drawn_thing_has_its_colour_where_the_scene_puts_it():
    thing = world.Thing("square", "red", "big", 0.25, 0.75, 0.3, 0)
    pixels = world.render(world.Scene((thing,), None, "grey", 3), 64)
    assert tuple(pixels[48, 16]) == pytest.approx(world.COLOURS["red"], abs=12)
    assert abs(int(pixels[16, 48, 0]) - int(pixels[16, 48, 1])) < 30  # grey where nothing is


def test_the_canonical_picture_keeps_what_a_caption_says_and_no_more():
    for scene in world.scenes(11, 40):
        drawn = world.canonical(scene)
        assert world.caption(drawn) == world.caption(scene)  # the same things, sizes and relation
        assert world._relation_holds(list(drawn.things), drawn.relation)
        assert (drawn.background, drawn.background_seed) == ("grey", 0)
        assert all(thing.angle == 0 for thing in drawn.things)
    one = next(scene for scene in world.scenes(12, 40) if len(scene.things) == 1)
    moved = world.Scene((dataclasses.replace(one.things[0], x=0.2, y=0.8, angle=33.0),), None, "noise", 5)
    assert np.array_equal(world.render(world.canonical(one)), world.render(world.canonical(moved)))


def test_true_captions_say_the_picture_in_every_true_order_and_nothing_false():
    star = world.Thing("star", "red", "big", 0.3, 0.25, 0.3, 0.0)
    circle = world.Thing("circle", "blue", "small", 0.3, 0.75, 0.2, 0.0)  # straight below the star
    scene = world.Scene((star, circle), "above", "grey", 0)
    truths = world.true_captions(scene)
    assert truths == ["a big red star above a small blue circle", "a small blue circle below a big red star"]
    square = world.Thing("square", "green", "small", 0.8, 0.75, 0.2, 0.0)  # right of the circle, below the star
    three = world.true_captions(world.Scene((star, circle, square), "above", "grey", 0))
    assert three[0] == "a big red star above a small blue circle and a small green square"
    assert "a small green square to the right of a small blue circle and a big red star" in three
    assert "a small green square below a big red star and a small blue circle" in three
    assert not any("left of a small blue circle" in truth or "star below" in truth for truth in three)
    # the reference of a caption is the true caption fewest edits away; a wrong colour stays wrong
    said = "a small blue circle below a big green star".split()
    assert evaluate.nearest_true_captions([scene], [said]) == [truths[1].split()]


def test_bleu_and_token_error_rate_on_hand_checked_cases():
    reference = "a big red circle above a small blue square".split()
    assert metrics.bleu4([reference], [reference]) == pytest.approx(1.0)
    assert metrics.bleu4([reference], [reference[:3]]) == 0.0  # no 4-gram
    # the eighth of nine words wrong: it spoils 1 of 9 unigrams, 2 of 8 bigrams, 2 of 7 trigrams and 2 of 6
    # 4-grams; same length, no brevity penalty
    hypothesis = "a big red circle above a small green square".split()
    expected = (8 / 9 * 6 / 8 * 5 / 7 * 4 / 6) ** 0.25
    assert metrics.bleu4([reference], [hypothesis]) == pytest.approx(expected)
    assert metrics.token_error_rate([reference], [hypothesis]) == pytest.approx(1 / 9)


def test_vocabulary_round_trip():
    vocabulary = Vocabulary(world.vocabulary())
    ids = vocabulary.encode("A big RED circle, above a zebra!")
    assert vocabulary.decode(ids) == "a big red circle above a <unk>"
    batch, lengths = vocabulary.batch(["a red circle", "a star"], add_end=True)
    assert batch.shape == (2, 4) and lengths.tolist() == [4, 3] and batch[1, 3] == 0


def test_phonemes_give_one_line_of_phone_tokens_per_text():
    from transmodal.phones import espeak_phoneme_input, phonemes

    long = " ".join(["the big red circle is above the small blue square"] * 20)  # espeak-ng breaks its line
    said = phonemes(["a big red circle", "", "a red\ncircle", "a big, red circle. Yes!", "a big red circle", long])
    assert len(said) == 6 and said[0] == said[4] and said[1] == ""
    assert len(said[5].split()) == 20 * len(phonemes([long[: long.index("square") + 6]])[0].split())
    assert said[3].startswith(said[0])  # punctuation (where espeak-ng starts a new line) dropped, not split at
    assert said[2].split()[-4:] == said[0].split()[-4:]  # a line break inside a text joins, not splits
    assert f" {phonemes(['red'])[0]} " in f" {said[0]} "  # a word's phones, in the sentence's
    assert all("_" not in token and " " not in token for token in said[0].split())
    assert espeak_phoneme_input(said[0]) == "[[" + said[0].replace(" ", "|") + "]]"


def test_a_phone_vocabulary_keeps_its_tokens_as_they_are():
    vocabulary = Vocabulary(["r", "'E", "d", "@L"], units="phones")
    assert vocabulary.decode(vocabulary.encode("r 'E d x")) == "r 'E d <unk>"
    words = Vocabulary(world.vocabulary())
    assert words.decode(words.encode("RED,")) == "red"  # words: lower case, punctuation dropped
    with pytest.raises(ValueError, match="units must be one of"):
        Vocabulary([], units="letters")


@pytest.fixture(scope="module")
def tiny_checkpoints(tmp_path_factory):
    """Random tiny networks of every kind, saved the way training saves them."""
    folder = tmp_path_factory.mktemp("scenes")
    torch.manual_seed(0)
    words = world.vocabulary()
    made = {
        "encoder": (
            DualEncoder(words, dimension=16, width=4),
            "dual-encoder",
            {"words": words, "dimension": 16, "width": 4},
        ),
        "generator": (
            SceneGenerator(dimension=16, condition=8, noise=4, width=4),
            "scene-generator",
            {"dimension": 16, "condition": 8, "noise": 4, "width": 4},
        ),
        "captioner": (
            SceneCaptioner(words, width=4, hidden=16),
            "scene-captioner",
            {"words": words, "width": 4, "hidden": 16},
        ),
        "speech": (
            SpeechEncoder(mels=40, dimension=16, hidden=8),
            "speech-encoder",
            {"mels": 40, "dimension": 16, "hidden": 8},
        ),
    }
    paths = {}
    for name, (model, network, arguments) in made.items():
        paths[name] = str(folder / f"{name}.pt")
        checkpoint.save(model, network, arguments, paths[name])
    return paths


def test_text_to_image_backend_draws_reproducibly_from_its_seed(tiny_checkpoints):
    backend = SceneTextToImage(generator=tiny_checkpoints["generator"], encoder=tiny_checkpoints["encoder"])
    settings = GenerationSettings(num_images=2)
    ((first, second),) = backend.generate(["a big red circle above a blue square"], [[3, 4]], settings)
    ((again, _),) = backend.generate(["a big red circle above a blue square"], [[3, 5]], settings)
    assert first.seed == 3 and second.seed == 4
    assert Image.open(io.BytesIO(bytes(first.image))).size == (128, 128)
    assert bytes(first.image) == bytes(again.image)  # (an untrained network barely hears its noise)
    ((small,),) = backend.generate(["a red circle"], [[1]], GenerationSettings(width=64, height=64))
    assert Image.open(io.BytesIO(bytes(small.image))).size == (64, 64)
    with pytest.raises(BadInputError, match="knows none of the words"):
        backend.generate(["una casa roja"], [[1]], settings)


def test_speech_backend_reads_audio_not_text(tiny_checkpoints):
    assert SceneSpeechToImage.reads == "audio" and SceneTextToImage.reads == "text"
    backend = SceneSpeechToImage(
        generator=tiny_checkpoints["generator"],
        encoder=tiny_checkpoints["encoder"],
        speech_encoder=tiny_checkpoints["speech"],
    )
    tone = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32) * 0.3
    ((image,),) = backend.generate([(tone, 16000)], [[7]], GenerationSettings())
    assert Image.open(io.BytesIO(bytes(image.image))).size == (128, 128)


def test_captioner_backend_says_words_of_its_world(tiny_checkpoints):
    backend = SceneCaptionerBackend(checkpoint=tiny_checkpoints["captioner"])
    captions = backend.caption([world.render(scene, 128) for scene in world.scenes(2, 3)])
    assert len(captions) == 3
    assert all(set(caption.split()) <= set(world.vocabulary()) for caption in captions)


def test_missing_checkpoints_fail_naming_how_to_train(tmp_path):
    with pytest.raises(ModelNotFoundError, match="transmodal train text-to-image"):
        SceneTextToImage(generator=str(tmp_path / "none.pt"))
    with pytest.raises(ModelNotFoundError, match="transmodal train image-to-text"):
        SceneCaptionerBackend(checkpoint=str(tmp_path / "none.pt"))


def test_speech_features_are_normalised_log_mels():
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    tone = np.sin(np.arange(8000) / 8000 * 2 * np.pi * 500).astype(np.float32) + noise
    features = speech_features(tone, 8000)  # resampled to 16 kHz
    assert features.shape[0] == 40 and features.shape[1] == pytest.approx(100, abs=3)
    assert np.allclose(features.mean(1), 0, atol=1e-3) and np.allclose(features.std(1), 1, atol=1e-2)
    louder = speech_features(tone * 4, 8000)  # the level does not matter
    assert np.abs(features - louder).mean() < 0.01


@pytest.mark.parametrize("units", ["words", "phones"])
def test_captioner_fits_one_batch(units):
    from training.scenes.evaluate import in_units

    torch.manual_seed(0)
    scenes = world.scenes(9, 8)
    images = torch.from_numpy(np.stack([world.render(scene, 64) for scene in scenes])).permute(0, 3, 1, 2).float() / 255
    said = in_units([world.caption(scene) for scene in scenes], units)
    inventory = sorted({token for sentence in said for token in sentence.split()})
    model = SceneCaptioner(inventory, width=8, hidden=64, units=units, max_words=80)
    targets, _ = model.vocabulary.batch(said, add_end=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    # 300 steps: after 150, one of the eight captions still ended early on a 2026-11-30 machine (float
    # results differ between CPUs, and 150 steps were just enough on the one this test was written on)
    for _ in range(300):
        logits = model(images, targets)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=0
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    assert model.generate(images) == said


def test_training_writes_checkpoints_the_backends_load(tmp_path, monkeypatch):
    from training.scenes import train

    monkeypatch.setattr(data, "CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "runs")
    common = ["--minutes", "0.02", "--scenes", "64", "--out", out, "--threads", "1"]
    monkeypatch.setattr(train, "configs", _small_configs(train.configs))
    assert train.main("scene-encoder", common + ["--attributes", "1"]) == 0  # with the attribute head
    assert train.main("image-to-text", common) == 0
    vae = ["--method", "vae"]  # the conditional VAE way (the cpu config's default is the layout way, below)
    assert train.main("text-to-image", common + ["--teacher", f"{out}/scene-encoder-cpu.pt"] + vae) == 0
    gan = ["--method", "gan", "--out", f"{out}/gan"]  # the StackGAN way of training, kept beside the VAE way
    assert train.main("text-to-image", common + ["--teacher", f"{out}/scene-encoder-cpu.pt"] + gan) == 0
    assert (tmp_path / "runs" / "gan" / "text-to-image-cpu-samples.png").exists()
    layout = ["--method", "layout", "--out", f"{out}/layout"]  # regression to the canonical pictures
    layout += ["--semantic-teacher", f"{out}/scene-encoder-cpu.pt"]  # drawings judged by another encoder
    assert train.main("text-to-image", common + ["--teacher", f"{out}/scene-encoder-cpu.pt"] + layout) == 0
    assert (tmp_path / "cache" / "canonical-0-64.npz").exists()
    SceneTextToImage(generator=f"{out}/layout/text-to-image-cpu.pt", encoder=f"{out}/scene-encoder-cpu.pt")
    gan_backend = SceneTextToImage(generator=f"{out}/gan/text-to-image-cpu.pt", encoder=f"{out}/scene-encoder-cpu.pt")
    assert len(gan_backend.generate(["a red circle"], [[1]], GenerationSettings())[0]) == 1
    backend = SceneTextToImage(generator=f"{out}/text-to-image-cpu.pt", encoder=f"{out}/scene-encoder-cpu.pt")
    ((image,),) = backend.generate(["a red circle"], [[1]], GenerationSettings())
    assert Image.open(io.BytesIO(bytes(image.image))).size == (128, 128)
    assert SceneCaptionerBackend(checkpoint=f"{out}/image-to-text-cpu.pt").caption(
        [world.render(world.scenes(1, 1)[0])]
    )
    for name in ("scene-encoder", "image-to-text", "text-to-image"):
        assert (tmp_path / "runs" / f"{name}-cpu.json").exists()


def test_a_captioner_trained_on_phones_says_phones_and_the_image_captioner_passes_them_on(tmp_path, monkeypatch):
    from executors.image_captioner.executor import ImageCaptioner
    from training.scenes import train
    from transmodal.errors import ConfigurationError
    from transmodal.media import encode_image

    monkeypatch.setattr(data, "CACHE", str(tmp_path / "cache"))
    common = ["--minutes", "0.02", "--scenes", "64", "--out", str(tmp_path), "--threads", "1", "--units", "phones"]
    monkeypatch.setattr(train, "configs", _small_configs(train.configs))
    assert train.main("image-to-text", common) == 0
    path = str(tmp_path / "image-to-text-cpu-phones.pt")
    report = json.loads((tmp_path / "image-to-text-cpu-phones.json").read_text())
    assert report["validation"]["units"] == "phones" and report["config"]["arguments"]["units"] == "phones"
    assert report["config"]["arguments"]["words"].endswith(" phones")  # its inventory, counted as phones
    backend = SceneCaptionerBackend(checkpoint=path, units="phones")
    inventory = set(cast(SceneCaptioner, backend.model).vocabulary.words)
    assert backend.units == "phones" and {"'E", "s"} <= inventory  # phones, not words ("red" is r 'E d)
    with pytest.raises(ConfigurationError, match="says phones, not the words asked for"):
        SceneCaptionerBackend(checkpoint=path, units="words")
    with pytest.raises(SystemExit, match="--units phones is for image-to-text"):
        train.main("scene-encoder", common)
    captioner = ImageCaptioner(backend="scenes", backend_options={"checkpoint": path})
    (doc,) = captioner.caption(DocList[MediaDoc]([MediaDoc(image=encode_image(world.render(world.scenes(1, 1)[0])))]))
    assert doc.text is None and doc.phones is not None and set(doc.phones.split()) <= inventory


def test_the_slot_stage_gives_both_stages_their_shapes_and_fits_one_batch():
    torch.manual_seed(0)
    generator = SceneGenerator(dimension=16, condition=8, noise=4, width=4, stage_one="slots")
    small, large, _mu, _log_variance = generator(torch.randn(2, 16))
    assert small.shape == (2, 3, 64, 64) and large.shape == (2, 3, 128, 128)
    # the canonical pictures of four one-thing scenes: drawn by the slot stage after some steps
    scenes = world.scenes(5, 4)
    targets = torch.from_numpy(np.stack([world.render(world.canonical(scene), 64) for scene in scenes]))
    targets = targets.permute(0, 3, 1, 2).float() / 127.5 - 1
    embeddings = torch.nn.functional.one_hot(torch.arange(4), 16).float()
    optimiser = torch.optim.Adam(generator.parameters(), lr=3e-3)
    generator.eval()  # no sampling of the conditioning: one fixed picture a caption
    first = None
    for _ in range(150):
        drawn = generator(embeddings, torch.zeros(4, 4), stages=1)[0]
        loss = (drawn - targets).abs().mean()
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < first / 3, (first, loss.item())
    with pytest.raises(ValueError, match="stage_one"):
        SceneGenerator(stage_one="pixels")


def test_the_box_layout_generator_draws_a_thing_inside_its_box_only():
    from training.scenes import train

    torch.manual_seed(0)
    generator = BoxLayoutGenerator(dimension=16, condition=8, noise=4, code=4, width=4)
    small, large, _mu, _log_variance = generator(torch.randn(2, 16))
    assert small.shape == (2, 3, 64, 64) and large.shape == (2, 3, 128, 128)
    # one big thing whose box is the right half's middle: x in [0.3, 0.7] of the canvas's half side
    thing = world.Thing("square", "red", "big", 0.75, 0.5, 0.2, 0.0)
    labels = train.attribute_labels([world.Scene((thing,), None, "grey", 0)])
    box = torch.tensor([[[0.5, 0.0, 0.2], [0, 0, 0], [0, 0, 0]]])
    with torch.no_grad():
        drawn = generator.draw(train.labelled_layout(labels, box, 3))[0]
    background = torch.sigmoid(generator.background) * 2 - 1
    changed = (drawn - background[:, None, None]).abs().amax(0) > 1e-4  # (128, 128)
    rows, columns = changed.nonzero(as_tuple=True)
    # the box spans pixels 83-109 across and 51-77 down (its edge pixels blend); nothing is drawn beyond
    assert changed[64, 96] and columns.min() >= 82 and columns.max() <= 109 and rows.min() >= 50 and rows.max() <= 77


def test_the_box_layout_generator_learns_to_draw_labelled_layouts():
    from training.scenes import train

    torch.manual_seed(0)
    generator = BoxLayoutGenerator(dimension=16, condition=8, noise=4, code=4, width=8)
    scenes = world.scenes(5, 4)
    targets = torch.from_numpy(np.stack([world.render(world.canonical(scene), 128) for scene in scenes]))
    targets = targets.permute(0, 3, 1, 2).float() / 127.5 - 1
    layout = train.labelled_layout(train.attribute_labels(scenes), train.canonical_boxes(scenes, 3), 3)
    optimiser = torch.optim.Adam(generator.parameters(), lr=1e-2)
    losses = []
    for step in range(150):
        for parameter in [*generator.mask.parameters(), generator.shape_codes]:  # colours first, as training
            parameter.requires_grad_(step >= 30)
        loss = (generator.draw(layout) - targets).abs().mean()
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert losses[-1] < losses[0] / 3, (losses[0], losses[-1])


def test_the_layout_difference_is_nothing_for_the_same_embedding_and_grows_apart():
    from training.scenes import train

    torch.manual_seed(0)
    reader = BoxLayoutGenerator(dimension=16, condition=8, noise=4, code=4, width=4).eval()
    embedding = torch.randn(4, 16)
    same = train.layout_difference(reader, embedding, embedding).item()
    near = train.layout_difference(reader, embedding + 0.1 * torch.randn(4, 16), embedding).item()
    far = train.layout_difference(reader, torch.randn(4, 16), embedding).item()
    # (the presence term is a cross-entropy to soft targets: its floor is their entropy, the same for all three)
    assert same < near < far


def test_the_boxes_way_trains_a_generator_and_a_speech_encoder_that_matches_its_reading(tmp_path, monkeypatch):
    from training.scenes import train

    monkeypatch.setattr(data, "CACHE", str(tmp_path / "cache"))
    out = str(tmp_path / "runs")
    common = ["--minutes", "0.02", "--scenes", "64", "--out", out, "--threads", "1"]
    monkeypatch.setattr(train, "configs", _small_configs(train.configs))
    monkeypatch.setattr(train.data, "TRAIN_VOICES", (("flite", "awb"),))
    monkeypatch.setattr(train.data, "HELD_OUT_VOICES", (("flite", "slt"),))
    assert train.main("scene-encoder", common) == 0
    teacher = ["--teacher", f"{out}/scene-encoder-cpu.pt"]
    speech = common + teacher + ["--out", f"{out}/speech"]
    assert train.main("speech-encoder", speech) == 0
    boxes = common + teacher + ["--method", "boxes", "--speech-share", "0.5"]
    assert train.main("text-to-image", boxes + ["--speech-encoder", f"{out}/speech/speech-encoder-cpu.pt"]) == 0
    generator = f"{out}/text-to-image-cpu.pt"
    assert torch.load(generator, weights_only=True)["network"] == "box-layout-generator"
    backend = SceneTextToImage(generator=generator, encoder=f"{out}/scene-encoder-cpu.pt")
    ((image,),) = backend.generate(["a red circle"], [[1]], GenerationSettings())
    assert Image.open(io.BytesIO(bytes(image.image))).size == (128, 128)
    started = f"{out}/speech/speech-encoder-cpu.pt"
    reading = speech + ["--reader", generator, "--init", started, "--out", f"{out}/read"]
    assert train.main("speech-encoder", reading) == 0
    report = (tmp_path / "runs" / "read" / "speech-encoder-cpu.json").read_text()
    assert '"reader":' in report
    with pytest.raises(SystemExit, match="boxes way"):
        train.main("text-to-image", common + teacher + ["--method", "layout", "--speech-share", "0.5"])


def test_attribute_labels_follow_the_caption_and_ignore_what_a_scene_lacks():
    from training.scenes import train

    star, circle = (
        world.Thing("star", "red", "big", 0.3, 0.3, 0.3, 0.0),
        world.Thing("circle", "blue", "small", 0.3, 0.7, 0.2, 0.0),
    )
    scene = world.Scene((star, circle), "above", "grey", 0)
    (labels,) = train.attribute_labels([scene]).tolist()
    colours = list(world.COLOURS)
    assert labels[:6] == [colours.index("red"), 4, 1, colours.index("blue"), 0, 0]
    assert labels[6:9] == [-100, -100, -100] and labels[9] == world.RELATIONS.index("above")
    logits = torch.zeros(1, train.ATTRIBUTE_OUTPUTS, requires_grad=True)
    loss = train.attribute_loss(logits, torch.tensor([labels]))
    # uniform logits: log(7) + log(5) + log(2) for each of the two things, log(4) for the relation
    assert loss.item() == pytest.approx(2 * float(np.log(7 * 5 * 2)) + float(np.log(4)), rel=1e-5)


def _flickr8k_folder(root, pictures: int = 6) -> list[str]:
    """A tiny dataset in Flickr8k's layout (training/scenes/datasets.py): pictures of the world saved as
    JPEG at 4:3, two captions each, and one spoken caption each said by flite."""
    import soundfile

    scenes = world.scenes(3, pictures)
    names = [f"{index}_picture.jpg" for index in range(pictures)]
    (root / "Flicker8k_Dataset").mkdir()
    (root / "flickr_audio" / "wavs").mkdir(parents=True)
    tokens, spoken = [], []
    for index, (scene, name) in enumerate(zip(scenes, names)):
        Image.fromarray(world.render(scene, 128)).resize((160, 120)).save(root / "Flicker8k_Dataset" / name)
        said = [world.caption(scene), f"a photo of {world.caption(scene)} ."]
        tokens += [f"{name}#{number}\t{text}" for number, text in enumerate(said)]
        samples, rate = data.speak(said[0], "flite", "awb")
        soundfile.write(root / "flickr_audio" / "wavs" / f"{index}_0.wav", samples, rate)
        spoken.append(f"{index}_0.wav {name} #0")
    (root / "Flickr8k.token.txt").write_text("\n".join(tokens) + "\n")
    (root / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:4]) + "\n")
    (root / "Flickr_8k.devImages.txt").write_text("\n".join(names[4:]) + "\n")
    (root / "flickr_audio" / "wav2capt.txt").write_text("\n".join(spoken) + "\n")
    return names


def test_training_reads_a_real_dataset_in_flickr8ks_layout(tmp_path, monkeypatch):
    from training.scenes import datasets, train

    monkeypatch.setattr(data, "CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "flickr8k"
    folder.mkdir()
    names = _flickr8k_folder(folder)
    pool = datasets.flickr8k(str(folder), "train")
    assert pool.names == names[:4] and pool.small.shape == (4, 64, 64, 3) and pool.large.shape == (4, 128, 128, 3)
    assert pool.caption(0) == pool.captions[0][0] and pool.caption(0, random.Random(1)) in pool.captions[0]
    assert "photo" in datasets.vocabulary(pool)  # the dataset's own words, not only the world's

    out = str(tmp_path / "runs")
    common = ["--minutes", "0.02", "--out", out, "--threads", "1", "--data", str(folder)]
    monkeypatch.setattr(train, "configs", _small_configs(train.configs))
    assert train.main("scene-encoder", common) == 0
    teacher = ["--teacher", f"{out}/scene-encoder-cpu.pt"]
    assert train.main("image-to-text", common) == 0
    assert train.main("speech-encoder", common + teacher) == 0
    assert train.main("text-to-image", common + teacher + ["--method", "vae"]) == 0
    encoder = checkpoint.load(f"{out}/scene-encoder-cpu.pt", "dual-encoder")
    assert "photo" in encoder.text.vocabulary.words
    captioner = SceneCaptionerBackend(checkpoint=f"{out}/image-to-text-cpu.pt")
    assert isinstance(captioner.caption([world.render(world.scenes(1, 1)[0])])[0], str)
    with pytest.raises(SystemExit, match="layout"):
        train.main("text-to-image", common + teacher + ["--method", "layout"])
    with pytest.raises(SystemExit, match="--teacher"):
        train.main("speech-encoder", common)
    with pytest.raises(SystemExit, match="--attributes"):
        train.main("scene-encoder", common + ["--attributes", "1"])
    with pytest.raises(SystemExit, match="Flickr8k"):
        datasets.flickr8k(str(tmp_path), "train")


def _cub_folder(root, pictures: int = 6) -> list[str]:
    """A tiny dataset in CUB-200-2011's layout (training/scenes/datasets.py): pictures of the world in a
    wider frame of grey (at x 150-278, y 80-208 of 400 x 300), with that box, two captions each, and caption 1
    said by flite for one speaker."""
    import soundfile

    scenes = world.scenes(4, pictures)
    names = [f"00{1 + index % 2}.Shape_{index % 2}/Shape_{index}_{100 + index}.jpg" for index in range(pictures)]
    images, split, boxes = [], [], []
    for index, (scene, name) in enumerate(zip(scenes, names)):
        stem = os.path.splitext(name)[0]
        frame = Image.new("RGB", (400, 300), (128, 128, 128))
        frame.paste(Image.fromarray(world.render(scene, 128)), (150, 80))
        (root / "CUB_200_2011" / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        frame.save(root / "CUB_200_2011" / "images" / name)
        images.append(f"{index + 1} {name}")
        split.append(f"{index + 1} {int(index < 4)}")
        boxes.append(f"{index + 1} 150.0 80.0 128.0 128.0")
        (root / "text_c10" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "text_c10" / f"{stem}.txt").write_text(f"{world.caption(scene)}\nthis bird is {world.caption(scene)}\n")
        spoken = root / "CUB_200_2011_audio" / "audio" / "0" / f"{stem}_1.wav"
        spoken.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(spoken, *data.speak(f"this bird is {world.caption(scene)}", "flite", "awb"))
    for table, lines in (("images", images), ("train_test_split", split), ("bounding_boxes", boxes)):
        (root / "CUB_200_2011" / f"{table}.txt").write_text("\n".join(lines) + "\n")
    return names


def test_training_reads_cub_with_its_captions_boxes_and_spoken_captions(tmp_path, monkeypatch):
    from training.scenes import datasets, train

    monkeypatch.setattr(data, "CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "cub"
    names = _cub_folder(folder)
    pool = datasets.captioned(str(folder), "train")
    assert sorted(pool.names) == sorted(names[:4])  # (in a fixed shuffled order: every class within a limit)
    first = names.index(pool.names[0])
    assert pool.captions[0] == [world.caption(world.scenes(4, 6)[first]), f"this bird is {pool.captions[0][0]}"]
    # cropped to the box made 1.5 times larger (192 pixels around its centre), so at 128 x 128 the picture
    # lies at 21-107 both ways
    expected = np.asarray(Image.fromarray(world.render(world.scenes(4, 6)[first], 128)).resize((86, 86)), float)
    assert np.abs(pool.large[0, 21:107, 21:107].astype(float) - expected).mean() < 6
    assert len(datasets.captioned(str(folder), "train", limit=2)) == 2
    assert sorted(datasets.captioned(str(folder), "dev").names) == sorted(names[4:])
    # at the picture's edge the crop is moved inside it, not cut
    edge = tmp_path / "edge.png"
    Image.fromarray(np.pad(world.render(world.scenes(4, 1)[0], 128), ((0, 72), (0, 172), (0, 0)))).save(edge)
    moved = datasets._square(str(edge), (0.0, 0.0, 128.0, 128.0))  # the crop: 192 from the top left corner
    expected = np.asarray(Image.fromarray(world.render(world.scenes(4, 1)[0], 128)).resize((85, 85)), float)
    assert np.abs(moved[:85, :85].astype(float) - expected).mean() < 6
    speech = datasets.spoken(str(folder), pool)
    assert sorted(speech.scene_indices) == [0, 1, 2, 3] and all(
        said.startswith("this bird") for said in speech.captions
    )

    out = str(tmp_path / "runs")
    common = ["--minutes", "0.02", "--out", out, "--threads", "1", "--data", str(folder)]
    monkeypatch.setattr(train, "configs", _small_configs(train.configs))
    assert train.main("scene-encoder", common) == 0
    assert train.main("speech-encoder", common + ["--teacher", f"{out}/scene-encoder-cpu.pt"]) == 0
    assert "bird" in checkpoint.load(f"{out}/scene-encoder-cpu.pt", "dual-encoder").text.vocabulary.words
    with pytest.raises(SystemExit, match="no dataset in a known layout: Flickr8k or CUB"):
        datasets.captioned(str(tmp_path / "runs"), "train")


def _small_configs(configs):
    def small(model, name, method=None):
        config = configs(model, name, method)
        config.validation, config.batch_size, config.utterances = 16, 8, 8
        for key in ("width", "hidden"):
            if key in config.arguments:
                config.arguments[key] = 8 if key == "width" else 32
        return config

    return small


# --- the shipped checkpoints, on held-out scenes -------------------------------------------------------------


def test_shipped_captioner_describes_held_out_scenes():
    scenes = world.scenes(data.VALIDATION_SEED, 100)
    captions = SceneCaptionerBackend().caption([world.render(scene, 128) for scene in scenes])
    references = [world.caption(scene).split() for scene in scenes]
    assert metrics.bleu4(references, [caption.split() for caption in captions]) > 0.6  # 0.73 on 500 (README)


def test_shipped_phone_captioner_says_held_out_scenes_in_phones():
    scenes = world.scenes(data.VALIDATION_SEED, 100)
    backend = SceneCaptionerBackend(units="phones")
    said = [phones.split() for phones in backend.caption([world.render(scene, 128) for scene in scenes])]
    truths = evaluate.nearest_true_captions(scenes, said, "phones")
    assert metrics.token_error_rate(truths, said) < 0.15  # 5.9 % on 500 (README)


def test_shipped_scene_encoder_finds_the_caption_of_a_held_out_scene():
    from executors.image_generator.backends import CHECKPOINTS

    encoder = checkpoint.load(f"{CHECKPOINTS}/scene-encoder-cpu.pt", "dual-encoder")
    scenes = world.scenes(data.VALIDATION_SEED, 100)
    pool = data.ScenePool(scenes, np.stack([world.render(scene, 64) for scene in scenes]), np.zeros((0,)))
    assert evaluate.retrieval(encoder, pool)["image_to_text_r1"] > 0.5  # chance: 0.01


def _drawn_as_asked(pictures: np.ndarray, scenes: list) -> tuple[float, float]:
    """(share of the things said whose colour is drawn at their canonical centre, mean IoU of the things'
    pixels against the canonical picture's): what the box-layout generator's canonical drawings should show."""
    names = list(world.COLOURS)
    palette = np.array([world.COLOURS[name] for name in names], float)
    grey = world.render(world.canonical_background(), 128)[0, 0].astype(float)
    coloured = things = 0
    overlaps = []
    for picture, scene in zip(pictures.astype(float), scenes):
        for thing in world.canonical(scene).things:
            pixel = picture[int(thing.y * 128), int(thing.x * 128)]
            coloured += names[int(np.argmin(((palette - pixel) ** 2).sum(1)))] == thing.colour
            things += 1
        truth = np.abs(world.render(world.canonical(scene), 128) - grey).max(2) > 30
        drawn = np.abs(picture - grey).max(2) > 30
        overlaps.append((truth & drawn).sum() / max(1, (truth | drawn).sum()))
    return coloured / things, float(np.mean(overlaps))


def test_shipped_generator_draws_the_things_said_in_their_colours_and_shapes():
    # 40 held-out captions: measured 90 % of the things in their colour and IoU 0.74 (the StackGAN-shaped
    # generator shipped before: 44-49 % and 0.36); the judge's numbers are in training/scenes/README.md
    from executors.image_generator.backends import CHECKPOINTS

    generator = checkpoint.load(f"{CHECKPOINTS}/text-to-image-cpu-boxes.pt", "box-layout-generator")
    encoder = checkpoint.load(f"{CHECKPOINTS}/scene-encoder-cpu.pt", "dual-encoder")
    scenes = world.scenes(data.VALIDATION_SEED, 40)
    with torch.no_grad():
        _small, large, _mu, _log_variance = generator(encoder.text.encode([world.caption(scene) for scene in scenes]))
    coloured, overlap = _drawn_as_asked(((large.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy(), scenes)
    assert coloured > 0.75 and overlap > 0.6, (coloured, overlap)


def test_shipped_generator_draws_reproducibly_from_its_seed_and_says_how_sure_it_is():
    backend = SceneTextToImage()
    (first,) = backend.generate(["a big red square"], [[0, 1, 0]], GenerationSettings(num_images=3))
    assert bytes(first[0].image) == bytes(first[2].image) != bytes(first[1].image)  # a seed moves the things
    assert Image.open(io.BytesIO(bytes(first[0].image))).size == (128, 128)
    assert first[0].confidence is not None and first[0].confidence > 0.5


def test_shipped_speech_encoder_hears_which_scene_was_described(tmp_path, monkeypatch):
    from executors.image_generator.backends import CHECKPOINTS

    monkeypatch.setattr(data, "CACHE", str(tmp_path))
    scenes = world.scenes(data.VALIDATION_SEED, 40)
    speech = data.speech_pool(data.VALIDATION_SEED, scenes, data.HELD_OUT_VOICES, cache=False, vary=False)
    encoder = checkpoint.load(f"{CHECKPOINTS}/scene-encoder-cpu.pt", "dual-encoder")
    student = checkpoint.load(f"{CHECKPOINTS}/speech-encoder-cpu.pt", "speech-encoder")
    pool = data.ScenePool(scenes, np.stack([world.render(scene, 64) for scene in scenes]), np.zeros((0,)))
    found = evaluate.speech_retrieval(student, encoder, pool, speech)
    assert found["speech_to_image_r1"] > 0.2  # chance: 0.025; voices never heard in training


class _KnownAnswers(torch.nn.Module):
    """A stand-in judge that answers from the scenes themselves (or says yes to everything)."""

    def __init__(self, scenes, everything: bool = False):
        super().__init__()
        self.colours, self.shapes, self.first, self.second, self.relation = evaluate._labels(
            scenes, [False] * len(scenes)
        )
        self.everything = everything
        self.seen = 0

    def forward(self, images, first, second):
        rows = slice(self.seen, self.seen + len(images))
        self.seen += len(images)
        if self.everything:
            return torch.ones_like(self.colours[rows]), torch.ones_like(self.shapes[rows]), torch.zeros(len(images), 4)
        relation = torch.nn.functional.one_hot(self.relation[rows].clamp(min=0), len(world.RELATIONS)).float()
        return self.colours[rows] * 2 - 1, self.shapes[rows] * 2 - 1, relation


def test_the_judges_measure_ranks_so_saying_yes_to_everything_sees_no_more():
    scenes = world.scenes(11, 60)
    images = torch.zeros(len(scenes), 3, 64, 64)
    assert evaluate.judge_images(_KnownAnswers(scenes), images, scenes) == {
        "colour": 1.0,
        "shape": 1.0,
        "colour_and_shape": 1.0,
        "relation": 1.0,
    }
    # every logit equal: the k likeliest are the first k classes, right only by chance
    blind = evaluate.judge_images(_KnownAnswers(scenes, everything=True), images, scenes)
    assert blind["colour"] < 0.6 and blind["shape"] < 0.6 and blind["colour_and_shape"] <= blind["shape"]


def test_the_judges_outputs_on_a_tiny_configuration():
    judge = evaluate.AttributeJudge(width=4)
    images = torch.rand(3, 3, 64, 64)
    colours, shapes, relation = judge(images, torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]))
    assert colours.shape == (3, len(world.COLOURS)) and shapes.shape == (3, len(world.SHAPES))
    assert relation.shape == (3, len(world.RELATIONS))


def test_a_drawing_the_generator_is_unsure_of_is_flagged_for_a_person_to_check(monkeypatch):
    from executors.image_generator.executor import ImageGenerator

    executor = ImageGenerator(backend="scenes")
    (sure,) = executor.generate(DocList[MediaDoc]([MediaDoc(text="a big red square")]), {"seed": 1})
    assert sure.image is not None and sure.images[0].confidence > 0.5 and not sure.flags
    # the subject is the flag: the generator's own confidence is set low for it
    monkeypatch.setattr(SceneTextToImage, "_confidence", lambda self, embedding, in_world: 0.2)
    (doubted,) = executor.generate(DocList[MediaDoc]([MediaDoc(text="a big red square")]), {"seed": 1})
    assert doubted.image is not None and doubted.error is None
    assert len(doubted.flags) == 1 and "unsure what to draw (confidence 0.20)" in doubted.flags[0]
    assert "circles, squares" in doubted.flags[0]


def test_the_detector_head_leaves_the_embedding_as_it_was_and_says_a_probability():
    from training.scenes import detector

    torch.manual_seed(0)
    encoder = SpeechEncoder(mels=40, dimension=16, hidden=8, heads=2).eval()
    mels, lengths = torch.randn(3, 40, 30), torch.tensor([30, 20, 9])
    assert encoder.in_world(mels, lengths)[1] is None  # no head: cannot tell
    joined = detector.with_head(encoder, torch.nn.Linear(32, 1))
    embedding, in_world = joined.in_world(mels, lengths)
    assert torch.allclose(embedding, encoder(mels, lengths)) and torch.allclose(joined(mels, lengths), embedding)
    assert in_world is not None and in_world.shape == (3,) and bool(((in_world > 0) & (in_world < 1)).all())


def test_the_detector_head_separates_what_it_was_fitted_on_from_raw_features():
    from training.scenes import detector

    generator = torch.Generator().manual_seed(0)
    # far from standard: the head must fold its standardisation in to read the raw features
    inside = torch.randn(200, 6, generator=generator) * 50 + 300
    outside = torch.randn(100, 6, generator=generator) * 50 + 300
    inside[:, 2] += 150  # one feature tells them apart
    head = detector.fit_head(inside, outside, steps=400)
    with torch.no_grad():
        assert float((head(inside)[:, 0] > 0).float().mean()) > 0.9
        assert float((head(outside)[:, 0] < 0).float().mean()) > 0.9


def test_speech_the_detector_says_is_not_about_the_world_is_flagged(tiny_checkpoints, tmp_path):
    from training.scenes import detector

    encoder = checkpoint.load(tiny_checkpoints["speech"], "speech-encoder")
    unsure = torch.nn.Linear(16, 1)
    torch.nn.init.zeros_(unsure.weight)
    torch.nn.init.constant_(unsure.bias, -3.0)  # the subject is the flag: a head that says "not the world"
    path = str(tmp_path / "detecting.pt")
    joined = detector.with_head(cast(SpeechEncoder, encoder), unsure)
    checkpoint.save(joined, "speech-encoder", detector.encoder_arguments(joined) | {"detector": True}, path)
    backend = SceneSpeechToImage(
        generator=tiny_checkpoints["generator"], encoder=tiny_checkpoints["encoder"], speech_encoder=path
    )
    tone = np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32) * 0.3
    ((image,),) = backend.generate([(tone, 16000)], [[7]], GenerationSettings())
    assert image.confidence == pytest.approx(float(torch.sigmoid(torch.tensor(-3.0))), abs=1e-3)


def test_the_out_of_world_sentences_are_common_words_in_likely_order():
    from training.scenes import detector

    make = detector.sentence_maker(3)
    sentences = [make() for _ in range(20)]
    world_words = set(world.vocabulary())
    assert all(4 <= len(sentence.split()) <= 10 for sentence in sentences)
    assert len(set(sentences)) == 20
    assert sum(all(word in world_words for word in sentence.split()) for sentence in sentences) == 0
    assert detector.sentence_maker(3)() == sentences[0]  # from its seed


def test_shipped_speech_encoder_tells_the_worlds_captions_from_other_sentences_and_noise():
    from executors.image_generator.backends import CHECKPOINTS
    from training.scenes import detector

    student = cast(SpeechEncoder, checkpoint.load(f"{CHECKPOINTS}/speech-encoder-cpu.pt", "speech-encoder"))
    captions = [world.caption(scene) for scene in world.scenes(data.VALIDATION_SEED, 12)]
    # voices it never heard, saying its world and saying other things; and sounds that are not speech
    sets = {
        "world": detector.said(captions, data.HELD_OUT_VOICES, 1, vary=False),
        "other": detector.said(list(detector.OTHER_SENTENCES[:12]), data.HELD_OUT_VOICES, 1, vary=False),
        "near": detector.said(list(detector.NEAR_SENTENCES[:12]), data.HELD_OUT_VOICES, 1, vary=False),
        "noise": detector.not_speech(5, 12),
    }
    in_world = {}
    for name, clips in sets.items():
        _embedding, probability = student.in_world(
            *pad_frames([speech_features(*clip, student.mels) for clip in clips])
        )
        assert probability is not None
        in_world[name] = float((probability > 0.5).float().mean())
    assert in_world["world"] >= 0.75 and in_world["other"] <= 0.25 and in_world["noise"] <= 0.25, in_world
    assert in_world["near"] <= 0.5, in_world  # the world's words about other things: the hardest


def test_the_captioners_detector_head_is_fitted_and_saved_without_changing_its_captions(tiny_checkpoints, tmp_path):
    from training.scenes import detector

    before = checkpoint.load(tiny_checkpoints["captioner"], "scene-captioner")
    pictures = torch.rand(4, 3, 64, 64)
    assert before.in_world(pictures) is None  # no head: cannot tell
    report = detector.train_image(tiny_checkpoints["captioner"], str(tmp_path), count=8)
    after = checkpoint.load(str(tmp_path / "captioner.pt"), "scene-captioner")
    assert after.generate(pictures) == before.generate(pictures)
    in_world = after.in_world(pictures)
    assert in_world is not None and in_world.shape == (4,) and bool(((in_world >= 0) & (in_world <= 1)).all())
    assert set(report["flagged"]) == set(json.loads((tmp_path / "captioner.json").read_text())["detector"]["flagged"])


def test_shipped_captioner_flags_pictures_not_of_its_world():
    from executors.image_captioner.executor import ImageCaptioner
    from training.scenes import detector
    from transmodal.media import encode_image

    scene = world.render(world.scenes(data.VALIDATION_SEED, 1)[0], 128)
    (photo,) = detector.photographs(("motorcycle_left.png",))  # a photograph the head was not fitted on
    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    sign = np.asarray(Image.open(os.path.join(examples, "street-sign.png")).convert("RGB"))
    docs = DocList[MediaDoc]([MediaDoc(image=encode_image(pixels)) for pixels in (scene, photo, sign)])
    described = ImageCaptioner(backend="scenes").caption(docs)
    assert all(doc.error is None and doc.text for doc in described)  # described all the same, and flagged
    assert not described[0].flags
    for doc in described[1:]:
        assert len(doc.flags) == 1 and "looks unlike what it can describe" in doc.flags[0]
        assert "circles, squares" in doc.flags[0]


def test_shifted_speech_is_faster_and_cached_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE", str(tmp_path))
    scenes = world.scenes(4, 1)
    voices = (("flite", "awb"),)
    plain = data.speech_pool(4, scenes, voices, vary=False)
    shifted = data.speech_pool(4, scenes, voices, vary=False, shifted=1.0)
    assert plain.captions == shifted.captions  # the same words, played 1.1-1.4 times faster
    assert shifted.features[0].shape[1] < plain.features[0].shape[1] / 1.09
    assert len(list(tmp_path.glob("speech-*-shifted1.npz"))) == 1 and len(list(tmp_path.glob("speech-*"))) == 2
