"""The generated scene world of the speech <-> image models: scenes of one to three objects, their images
and their captions, all deterministic from a seed.

A scene is a background and one to three objects (shape, colour, size, position); with two or three
objects the first two stand in a spatial relation ("above", "below", "to the left of", "to the right of")
that the placement makes true. `render` draws a scene at any size (64 and 128 for the models); `caption`
says it in one of several phrasings of a small grammar ("a small red circle above a big blue square",
"there is a green triangle", "a yellow star to the left of a purple square and a white diamond").

Nothing here is committed data: scenes, images and captions are made on demand from a seed.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES = ("circle", "square", "triangle", "diamond", "star")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 215, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
}
SIZES = ("small", "big")
RELATIONS = ("above", "below", "to the left of", "to the right of")
# Backgrounds are greys and muted tints, never one of the object colours: the colour of a thing is always
# the thing's.
BACKGROUNDS = ("grey", "dark", "beige", "sky", "noise")

# Object size as a fraction of the image side.
SIZE_FRACTION = {"small": (0.16, 0.22), "big": (0.3, 0.38)}


@dataclasses.dataclass(frozen=True)
class Thing:
    shape: str
    colour: str
    size: str
    x: float  # centre, as a fraction of the image side
    y: float
    scale: float  # side as a fraction of the image side
    angle: float  # degrees; shapes look the same at any angle the caption could tell apart


@dataclasses.dataclass(frozen=True)
class Scene:
    things: tuple[Thing, ...]
    relation: str | None  # between things[0] and things[1]
    background: str
    background_seed: int

    def attributes(self) -> dict:
        """What a judge checks: each thing's shape and colour, and the relation."""
        return {
            "shapes": [thing.shape for thing in self.things],
            "colours": [thing.colour for thing in self.things],
            "sizes": [thing.size for thing in self.things],
            "relation": self.relation,
        }


def _place(rng: random.Random, scale: float, taken: list[tuple[float, float, float]], region) -> tuple | None:
    """A centre for a thing of side `scale` in `region` (x0, y0, x1, y1 fractions) clear of `taken`."""
    x0, y0, x1, y1 = region
    half = scale / 2 + 0.02
    for _ in range(60):
        low_x, high_x, low_y, high_y = max(x0, half), min(x1, 1 - half), max(y0, half), min(y1, 1 - half)
        if low_x > high_x or low_y > high_y:
            return None
        x, y = rng.uniform(low_x, high_x), rng.uniform(low_y, high_y)
        if all(abs(x - tx) > (scale + ts) / 2 + 0.02 or abs(y - ty) > (scale + ts) / 2 + 0.02 for tx, ty, ts in taken):
            return x, y
    return None


def _thing(rng: random.Random, colours_used: set[str]) -> tuple[str, str, str, float, float]:
    shape = rng.choice(SHAPES)
    colour = rng.choice([colour for colour in COLOURS if colour not in colours_used] or list(COLOURS))
    size = rng.choice(SIZES)
    return shape, colour, size, rng.uniform(*SIZE_FRACTION[size]), rng.uniform(0, 360)


def random_scene(rng: random.Random, max_things: int = 3) -> Scene:
    """One scene: 1 to `max_things` things of different colours, the first two in a relation."""
    for _ in range(100):
        count = rng.randint(1, max_things)
        relation = rng.choice(RELATIONS) if count >= 2 else None
        drawn: list[tuple[str, str, str, float, float]] = []
        colours: set[str] = set()
        for _index in range(count):
            drawn.append(_thing(rng, colours))
            colours.add(drawn[-1][1])
        # the relation decides where the first two go: the first in one half, the second in the other
        halves = {
            "above": ((0, 0, 1, 0.5), (0, 0.5, 1, 1)),
            "below": ((0, 0.5, 1, 1), (0, 0, 1, 0.5)),
            "to the left of": ((0, 0, 0.5, 1), (0.5, 0, 1, 1)),
            "to the right of": ((0.5, 0, 1, 1), (0, 0, 0.5, 1)),
        }
        regions = list(halves[relation]) if relation else []
        regions += [(0, 0, 1, 1)] * (count - len(regions))
        taken: list[tuple[float, float, float]] = []
        things = []
        for (shape, colour, size, scale, angle), region in zip(drawn, regions):
            centre = _place(rng, scale, taken, region)
            if centre is None:
                break
            taken.append((centre[0], centre[1], scale))
            things.append(Thing(shape, colour, size, centre[0], centre[1], scale, angle))
        if len(things) == count and _relation_holds(things, relation):
            return Scene(tuple(things), relation, rng.choice(BACKGROUNDS), rng.randrange(1 << 30))
    raise RuntimeError("could not place a scene")  # never seen: 100 tries of a 3-thing placement


def _relation_holds(things: list[Thing], relation: str | None) -> bool:
    """The relation is plain to see: the centres differ by more than half the larger thing along its axis."""
    if relation is None:
        return True
    first, second = things[0], things[1]
    gap = max(first.scale, second.scale) / 2
    return {
        "above": second.y - first.y > gap,
        "below": first.y - second.y > gap,
        "to the left of": second.x - first.x > gap,
        "to the right of": first.x - second.x > gap,
    }[relation]


def scenes(seed: int, count: int, max_things: int = 3) -> list[Scene]:
    rng = random.Random(seed)
    return [random_scene(rng, max_things) for _ in range(count)]


# Where `canonical` puts things: the first two as the relation says, a third beside them.
CANONICAL_PLACES = {
    None: ((0.5, 0.5),),
    "above": ((0.34, 0.26), (0.34, 0.74), (0.78, 0.5)),
    "below": ((0.34, 0.74), (0.34, 0.26), (0.78, 0.5)),
    "to the left of": ((0.26, 0.34), (0.74, 0.34), (0.5, 0.78)),
    "to the right of": ((0.74, 0.34), (0.26, 0.34), (0.5, 0.78)),
}


def canonical(scene: Scene) -> Scene:
    """The scene as a caption of it pictures it, and no more: the same things (shape, colour, size), each
    upright at its size's middle scale, placed where the relation puts them (`CANONICAL_PLACES`), on one grey
    background. A caption fixes this picture (bar an unsaid size), so a generator can learn to draw it by
    plain regression — the `layout` way of training the text-to-image model."""
    places = CANONICAL_PLACES[scene.relation]
    things = tuple(
        Thing(thing.shape, thing.colour, thing.size, x, y, sum(SIZE_FRACTION[thing.size]) / 2, 0.0)
        for thing, (x, y) in zip(scene.things, places)
    )
    return Scene(things, scene.relation, "grey", 0)


def canonical_background() -> Scene:
    """The canonical pictures' background, with nothing on it."""
    return Scene((), None, "grey", 0)


# --- drawing --------------------------------------------------------------------------------------------


def _background(scene: Scene, size: int) -> Image.Image:
    rng = np.random.default_rng(scene.background_seed)
    tint = rng.integers(-12, 13, 3)
    if scene.background == "grey":
        base = np.full((size, size, 3), 128 + rng.integers(-20, 21), np.int32)
    elif scene.background == "dark":
        base = np.full((size, size, 3), 45 + rng.integers(-15, 16), np.int32)
    elif scene.background == "beige":
        base = np.full((size, size, 3), (200, 185, 150), np.int32)
    elif scene.background == "sky":  # a vertical gradient, light at the bottom
        ramp = np.linspace(0, 1, size)[:, None, None]
        base = ((1 - ramp) * np.array([90, 130, 190]) + ramp * np.array([190, 210, 230])).astype(np.int32)
        base = np.broadcast_to(base, (size, size, 3)).copy()
    else:  # "noise": a blurred grey texture
        coarse = rng.integers(70, 170, (8, 8)).astype(np.uint8)
        field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.int32)
        base = np.repeat(field[:, :, None], 3, axis=2)
    return Image.fromarray(np.clip(base + tint, 0, 255).astype(np.uint8))


def _polygon(shape: str, cx: float, cy: float, side: float, angle: float) -> list[tuple[float, float]]:
    half = side / 2
    if shape == "square":
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    elif shape == "diamond":
        corners = [(0, -half), (half * 0.8, 0), (0, half), (-half * 0.8, 0)]
    elif shape == "triangle":
        corners = [(0, -half), (half, half * 0.8), (-half, half * 0.8)]
    else:  # star: five points
        corners = []
        for point in range(10):
            radius = half if point % 2 == 0 else half * 0.45
            theta = math.pi * point / 5 - math.pi / 2
            corners.append((radius * math.cos(theta), radius * math.sin(theta)))
    if shape in ("square", "star"):  # turning a triangle or a diamond would make it another shape to the eye
        turn = math.radians(angle % 90 if shape == "square" else angle % 72)
        cos, sin = math.cos(turn), math.sin(turn)
        corners = [(x * cos - y * sin, x * sin + y * cos) for x, y in corners]
    return [(cx + x, cy + y) for x, y in corners]


def render(scene: Scene, size: int = 64) -> np.ndarray:
    """The scene as an RGB uint8 array of `size` x `size`, drawn at 256 x 256 or more and downsampled
    (smooth edges)."""
    big = max(size * 2, 256)
    image = _background(scene, big)
    draw = ImageDraw.Draw(image)
    for thing in scene.things:
        colour = COLOURS[thing.colour]
        cx, cy, side = thing.x * big, thing.y * big, thing.scale * big
        outline = tuple(max(0, value - 70) for value in colour)
        if thing.shape == "circle":
            box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            draw.ellipse(box, fill=colour, outline=outline, width=max(1, big // 64))
        else:
            draw.polygon(_polygon(thing.shape, cx, cy, side, thing.angle), fill=colour, outline=outline)
    image = image.filter(ImageFilter.GaussianBlur(0.6)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image)


# --- captions ---------------------------------------------------------------------------------------------


def _noun_phrase(thing: Thing, rng: random.Random | None) -> str:
    """ "a big red circle", "an orange star": the size is said more often than not (always when plain)."""
    words = [thing.colour, thing.shape]
    if rng is None or rng.random() < 0.7:
        words.insert(0, thing.size)
    return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)


def caption(scene: Scene, rng: random.Random | None = None) -> str:
    """One English caption of the scene; `rng` picks among phrasings (None: the plainest)."""
    things = scene.things
    phrases = [_noun_phrase(thing, rng) for thing in things]
    if len(things) == 1:
        text = phrases[0]
        if rng is not None:
            text = rng.choice(["{}", "there is {}", "a picture of {}", "{} on a plain background"]).format(text)
    else:
        text = f"{phrases[0]} {scene.relation} {phrases[1]}"
        if len(things) == 3:
            text += f" and {phrases[2]}"
    return text


def true_captions(scene: Scene) -> list[str]:
    """Every plain caption the grammar can say of the scene that is true of its picture: the scene's own
    first, then any two of its things (in either order) in any relation that plainly holds between them
    (`_relation_holds`), the third named after. What a captioner is scored against: "a blue square below a
    red circle" describes the picture that "a red circle above a blue square" was made from, and no picture
    tells which of its things the caption it was made from named first."""
    said = [caption(scene)]
    things = scene.things
    for first, second in itertools.permutations(range(len(things)), 2):
        others = tuple(thing for index, thing in enumerate(things) if index not in (first, second))
        for relation in RELATIONS:
            if _relation_holds([things[first], things[second]], relation):
                named = (things[first], things[second], *others)
                said.append(caption(Scene(named, relation, scene.background, scene.background_seed)))
    return list(dict.fromkeys(said))


def vocabulary() -> list[str]:
    """Every word the grammar can say, in a fixed order (the models' token ids follow it)."""
    words = [
        "a",
        "an",
        "there",
        "is",
        "picture",
        "of",
        "on",
        "plain",
        "background",
        "and",
        "above",
        "below",
        "to",
        "the",
    ]
    words += ["left", "right", *SIZES, *COLOURS, *SHAPES]
    return list(dict.fromkeys(words))
