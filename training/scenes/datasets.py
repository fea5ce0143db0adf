"""Real datasets in their usual layouts for the scene models' training commands (`--data DIR`): the same
networks trained on real pictures, captions and spoken captions instead of the generated world. The layout
is told by what DIR holds.

Flickr8k with the Flickr Audio Caption Corpus (Harwath and Glass, 2015), as their archives unpack:

    DIR/Flicker8k_Dataset/<image>.jpg      the pictures (the archive's spelling; Flickr8k_Dataset/ or Images/ too)
    DIR/Flickr8k.token.txt                 <image>.jpg#<n><TAB><caption>, five captions a picture
    DIR/Flickr_8k.trainImages.txt          one picture's name a line; devImages.txt is the held-out split
    DIR/flickr_audio/wav2capt.txt          <wav> <image>.jpg #<n>   (the spoken captions: speech-encoder only)
    DIR/flickr_audio/wavs/<wav>

CUB-200-2011 with Reed et al.'s ten captions a bird and spoken captions (the birds of Li et al.'s "Direct
Speech-to-Image Translation"), as their archives unpack side by side:

    DIR/CUB_200_2011/images/<class>/<image>.jpg        the pictures
    DIR/CUB_200_2011/images.txt                        <id> <class>/<image>.jpg
    DIR/CUB_200_2011/train_test_split.txt              <id> <1: train, 0: the held-out split>
    DIR/CUB_200_2011/bounding_boxes.txt                <id> <x> <y> <width> <height> (optional: crops to the bird)
    DIR/text_c10/<class>/<image>.txt                   its captions, one a line (cvpr2016_cub; text/ too)
    DIR/CUB_200_2011_audio/audio/<speaker>/<class>/<image>_<n>.wav
                                                       caption n said (speech-encoder only; Li et al.'s layout)

Pictures are cropped to a square (the centre; a bird to its box enlarged 1.5 times, as StackGAN crops) and
kept at 128 x 128 and 64 x 64, like the world's scenes, and cached under data.CACHE (decoding thousands of
JPEGs takes minutes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from collections import Counter

import numpy as np

from training.scenes import data

PICTURE_FOLDERS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images")
SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "dev": "Flickr_8k.devImages.txt"}
CUB = "CUB_200_2011"
CUB_TEXT_FOLDERS = ("text_c10", "text")
CUB_AUDIO = os.path.join("CUB_200_2011_audio", "audio")
CROP_VERSION = 2  # raise when `_square` crops otherwise: cached pictures are then made anew
LAYOUTS = "Flickr8k or CUB-200-2011 (the layouts: training/scenes/datasets.py)"


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


def _require(path: str, what: str, layout: str = "Flickr8k") -> str:
    if not os.path.exists(path):
        raise SystemExit(f"not a {layout} folder: no {what} at {path} (the layout: training/scenes/datasets.py)")
    return path


def _is_cub(root: str) -> bool:
    """Whether `root` is in CUB-200-2011's layout (else it is read as Flickr8k's)."""
    return os.path.isdir(os.path.join(root, CUB))


def captioned(root: str, split: str, limit: int | None = None, cache: bool = True) -> CaptionedPool:
    """The captioned pictures of `split` ("train" or "dev") of the dataset at `root`, in whichever layout."""
    if _is_cub(root):
        return cub(root, split, limit, cache)
    if os.path.isfile(os.path.join(root, "Flickr8k.token.txt")):
        return flickr8k(root, split, limit, cache)
    raise SystemExit(f"{root} holds no dataset in a known layout: {LAYOUTS}")


def spoken(root: str, pool: CaptionedPool, limit: int | None = None) -> data.SpeechPool:
    """The recordings of the pool's captions (its first `limit`) in the dataset at `root`, as the speech
    encoder's features."""
    if _is_cub(root):
        return _features(_cub_recordings(root, pool), pool, limit, root)
    return _features(_flickr_recordings(root, pool), pool, limit, root)


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


def _square(path: str, box: tuple[float, float, float, float] | None = None, size: int = 128) -> np.ndarray:
    """The picture cropped to a square, `size` a side: the largest centred one, or, given the (x, y, width,
    height) `box` of what it shows, one 1.5 times the box's longer side around the box's centre (StackGAN's
    crop of a bird), kept inside the picture."""
    from PIL import Image

    with Image.open(path) as image:
        picture = image.convert("RGB")
    if box is None or min(box[2:]) <= 0:  # no box, or an empty one: the centre
        side = min(picture.size)
        left, top = (picture.width - side) // 2, (picture.height - side) // 2
    else:
        x, y, width, height = box
        side = min(int(max(width, height) * 1.5), *picture.size)
        left = int(min(max(x + width / 2 - side / 2, 0), picture.width - side))
        top = int(min(max(y + height / 2 - side / 2, 0), picture.height - side))
    return np.asarray(picture.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS))


def _pictures(name: str, root: str, names: list[str], paths: list[str], boxes: list | None, cache: bool):
    """The pictures at `paths` as (64 x 64, 128 x 128) squares, cached under the dataset's `name`; each
    cropped to its box in `boxes` where it has one (None: the centre)."""
    import cv2

    # the crop is part of the key: boxes given or not, and CROP_VERSION for how they are used
    key = hashlib.sha1(f"{os.path.abspath(root)}|{'|'.join(names)}|{boxes}|{CROP_VERSION}".encode()).hexdigest()[:12]
    path = os.path.join(data.CACHE, f"{name}-{len(names)}-{key}.npz")
    if cache and os.path.isfile(path):
        large = np.load(path)["large"]
    else:
        large = np.stack([_square(picture, boxes[index] if boxes else None) for index, picture in enumerate(paths)])
        if cache:
            os.makedirs(data.CACHE, exist_ok=True)
            np.savez(path + ".partial.npz", large=large)
            os.replace(path + ".partial.npz", path)
    small = np.stack([cv2.resize(picture, (64, 64), interpolation=cv2.INTER_AREA) for picture in large])
    return small, large


def flickr8k(root: str, split: str, limit: int | None = None, cache: bool = True) -> CaptionedPool:
    """The pictures of `split` ("train" or "dev") that have captions, the first `limit` of them."""
    captions = _read_captions(root)
    with open(_require(os.path.join(root, SPLIT_FILES[split]), f"{split} split file"), encoding="utf-8") as file:
        names = [line.strip() for line in file if line.strip() in captions][:limit]
    if not names:
        raise SystemExit(f"no captioned pictures in {root}'s {split} split")
    folder = _picture_folder(root)
    paths = [os.path.join(folder, name) for name in names]
    small, large = _pictures(f"flickr8k-{split}", root, names, paths, None, cache)
    return CaptionedPool(names, [captions[name] for name in names], small, large)


def _cub_table(root: str, name: str) -> dict[str, list[str]]:
    """One of CUB-200-2011's tables: <id> <values...> a line."""
    table = {}
    with open(_require(os.path.join(root, CUB, name), name, "CUB-200-2011"), encoding="utf-8") as file:
        for line in file:
            if line.strip():
                key, *values = line.split()
                table[key] = values
    return table


def _cub_captions(root: str, name: str) -> list[str]:
    stem = os.path.splitext(name)[0]
    for folder in CUB_TEXT_FOLDERS:
        path = os.path.join(root, folder, stem + ".txt")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as file:
                return [line.strip() for line in file if line.strip()]
    return []


def cub(root: str, split: str, limit: int | None = None, cache: bool = True) -> CaptionedPool:
    """The birds of `split` ("train": CUB's training split; "dev": its held-out one) that have captions,
    the first `limit` of them, each cropped to its bounding box where the dataset gives one."""
    if not any(os.path.isdir(os.path.join(root, folder)) for folder in CUB_TEXT_FOLDERS):
        _require(os.path.join(root, CUB_TEXT_FOLDERS[0]), "caption folder", "CUB-200-2011")
    images, is_train = _cub_table(root, "images.txt"), _cub_table(root, "train_test_split.txt")
    has_boxes = os.path.isfile(os.path.join(root, CUB, "bounding_boxes.txt"))  # (optional in the layout)
    boxes_of = _cub_table(root, "bounding_boxes.txt") if has_boxes else {}
    wanted = "1" if split == "train" else "0"
    keys = [key for key in images if is_train.get(key) == [wanted]]
    # images.txt is sorted by class: in a fixed shuffled order, the first `limit` birds are of every class
    random.Random(0).shuffle(keys)
    names: list[str] = []
    captions: list[list[str]] = []
    boxes: list[tuple[float, ...] | None] = []
    for key in keys:
        if limit is not None and len(names) >= limit:
            break
        (name,) = images[key]
        said = _cub_captions(root, name)
        if said:
            names.append(name)
            captions.append(said)
            boxes.append(tuple(float(value) for value in boxes_of[key]) if key in boxes_of else None)
    if not names:
        raise SystemExit(f"no captioned pictures in {root}'s {split} split")
    paths = [os.path.join(root, CUB, "images", name) for name in names]
    small, large = _pictures(f"cub-{split}", root, names, paths, boxes, cache)  # (a bird without a box: the centre)
    return CaptionedPool(names, captions, small, large)


def vocabulary(pool: CaptionedPool, least: int = 2) -> list[str]:
    """Words said at least `least` times in the pool's captions, commonest first (the rest read as <unk>)."""
    from transmodal.nets.scenes import words_of

    counts: Counter[str] = Counter(word for said in pool.captions for caption in said for word in words_of(caption))
    return [word for word, count in counts.most_common() if count >= least]


def _flickr_recordings(root: str, pool: CaptionedPool):
    """(picture index, caption number, recording's path) of each of the Flickr Audio Caption Corpus's
    recordings of the pool's captions."""
    audio = os.path.join(root, "flickr_audio")
    index_of = {name: index for index, name in enumerate(pool.names)}
    with open(_require(os.path.join(audio, "wav2capt.txt"), "spoken-caption index"), encoding="utf-8") as file:
        for line in file:
            parts = line.split()
            if len(parts) == 3 and parts[1] in index_of:
                yield index_of[parts[1]], int(parts[2].lstrip("#")), os.path.join(audio, "wavs", parts[0])


def _cub_recordings(root: str, pool: CaptionedPool):
    """(picture index, caption number, recording's path) of each speaker's recordings of the pool's
    captions, in CUB_200_2011_audio/audio/<speaker>/<class>/<image>_<n>.wav."""
    audio = _require(os.path.join(root, CUB_AUDIO), "spoken-caption folder", "CUB-200-2011")
    for speaker in sorted(os.listdir(audio)):
        for index, name in enumerate(pool.names):
            stem = os.path.join(audio, speaker, os.path.splitext(name)[0])
            for number in range(len(pool.captions[index])):
                if os.path.isfile(f"{stem}_{number}.wav"):
                    yield index, number, f"{stem}_{number}.wav"


def _features(recordings, pool: CaptionedPool, limit: int | None, root: str) -> data.SpeechPool:
    """The recordings (picture index, caption number, path) as the speech encoder's features, the first
    `limit` of them; a recording of a caption the dataset's text lacks is skipped."""
    from transmodal.audio import decode_audio, speech_features

    picture_indices, said, features = [], [], []
    for index, number, path in recordings:
        if number >= len(pool.captions[index]):
            continue
        with open(_require(path, "recording"), "rb") as recording:
            samples, rate = decode_audio(recording.read())
        picture_indices.append(index)
        said.append(pool.captions[index][number])
        features.append(speech_features(samples, rate))
        if limit is not None and len(features) >= limit:
            break
    if not features:
        raise SystemExit(f"no recordings of {root}'s captioned pictures")
    return data.SpeechPool(picture_indices, said, features)
