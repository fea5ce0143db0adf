"""Real datasets in their usual layout for the scene models' training commands (`--data DIR`): the same
networks trained on real pictures, captions and spoken captions instead of the generated world.

Flickr8k with the Flickr Audio Caption Corpus (Harwath and Glass, 2015), as their archives unpack:

    DIR/Flicker8k_Dataset/<image>.jpg      the pictures (the archive's spelling; Flickr8k_Dataset/ or Images/ too)
    DIR/Flickr8k.token.txt                 <image>.jpg#<n><TAB><caption>, five captions a picture
    DIR/Flickr_8k.trainImages.txt          one picture's name a line; devImages.txt is the held-out split
    DIR/flickr_audio/wav2capt.txt          <wav> <image>.jpg #<n>   (the spoken captions: speech-encoder only)
    DIR/flickr_audio/wavs/<wav>

Pictures are centre-cropped to a square and kept at 128 x 128 and 64 x 64, like the world's scenes, and
cached under data.CACHE (decoding 8,000 JPEGs takes minutes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections import Counter

import numpy as np

from training.scenes import data

PICTURE_FOLDERS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images")
SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt"}


@dataclasses.dataclass
class CaptionedPool:
    """Real pictures and their captions, in the shape the trainer takes a `data.ScenePool` in."""

    names: list[str]  # the pictures' file names
    captions: list[list[str]]  # each picture's captions
    small: np.ndarray  # (n, 64, 64, 3) uint8
    large: np.ndarray  # (n, 128, 128, 3) uint8

    def __len__(self) -> int:
        return len(self.names)

    def caption(self, index: int, rng=None) -> str:
        """One of the picture's captions drawn by `rng` (training), or its first (measuring)."""
        said = self.captions[index]
        return said[rng.randrange(len(said))] if rng is not None else said[0]


def _require(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise SystemExit(f"not a Flickr8k folder: no {what} at {path} (the layout: training/scenes/datasets.py)")
    return path


def _read_captions(root: str) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    with open(_require(os.path.join(root, "Flickr8k.token.txt"), "caption file"), encoding="utf-8") as file:
        for line in file:
            key, _tab, text = line.rstrip("\n").partition("\t")
            if text.strip():
                captions.setdefault(key.split("#")[0], []).append(text.strip())
    return captions


def _picture_folder(root: str) -> str:
    for name in PICTURE_FOLDERS:
        if os.path.isdir(os.path.join(root, name)):
            return os.path.join(root, name)
    return _require(os.path.join(root, PICTURE_FOLDERS[0]), "picture folder")


def _square(path: str, size: int = 128) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        picture = image.convert("RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    return np.asarray(picture.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS))


def flickr8k(root: str, split: str, limit: int | None = None, cache: bool = True) -> CaptionedPool:
    """The pictures of `split` ("train" or "dev") that have captions, the first `limit` of them."""
    import cv2

    captions = _read_captions(root)
    with open(_require(os.path.join(root, SPLIT_FILES[split]), f"{split} split file"), encoding="utf-8") as file:
        names = [line.strip() for line in file if line.strip() in captions][:limit]
    if not names:
        raise SystemExit(f"no captioned pictures in {root}'s {split} split")
    key = hashlib.sha1(f"{os.path.abspath(root)}|{'|'.join(names)}".encode()).hexdigest()[:12]
    path = os.path.join(data.CACHE, f"flickr8k-{split}-{len(names)}-{key}.npz")
    if cache and os.path.isfile(path):
        large = np.load(path)["large"]
    else:
        folder = _picture_folder(root)
        large = np.stack([_square(os.path.join(folder, name)) for name in names])
        if cache:
            os.makedirs(data.CACHE, exist_ok=True)
            np.savez(path + ".partial.npz", large=large)
            os.replace(path + ".partial.npz", path)
    small = np.stack([cv2.resize(picture, (64, 64), interpolation=cv2.INTER_AREA) for picture in large])
    return CaptionedPool(names, [captions[name] for name in names], small, large)


def vocabulary(pool: CaptionedPool, least: int = 2) -> list[str]:
    """Words said at least `least` times in the pool's captions, commonest first (the rest read as <unk>)."""
    from transmodal.nets.scenes import words_of

    counts: Counter[str] = Counter(word for said in pool.captions for caption in said for word in words_of(caption))
    return [word for word, count in counts.most_common() if count >= least]


def spoken(root: str, pool: CaptionedPool, limit: int | None = None) -> data.SpeechPool:
    """The Flickr Audio Caption Corpus's recordings of the pool's captions (its first `limit`), as the speech
    encoder's features."""
    from transmodal.audio import decode_audio, speech_features

    audio = os.path.join(root, "flickr_audio")
    index_of = {name: index for index, name in enumerate(pool.names)}
    picture_indices, said, features = [], [], []
    with open(_require(os.path.join(audio, "wav2capt.txt"), "spoken-caption index"), encoding="utf-8") as file:
        for line in file:
            parts = line.split()
            if len(parts) != 3 or parts[1] not in index_of:
                continue
            wav, index, number = parts[0], index_of[parts[1]], int(parts[2].lstrip("#"))
            if number >= len(pool.captions[index]):  # a recording of a caption the token file lacks
                continue
            with open(_require(os.path.join(audio, "wavs", wav), "recording"), "rb") as recording:
                samples, rate = decode_audio(recording.read())
            picture_indices.append(index)
            said.append(pool.captions[index][number])
            features.append(speech_features(samples, rate))
            if limit is not None and len(features) >= limit:
                break
    if not features:
        raise SystemExit(f"no recordings of {root}'s captioned pictures in flickr_audio/wav2capt.txt")
    return data.SpeechPool(picture_indices, said, features)
