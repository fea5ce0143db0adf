"""Networks of the speech <-> image models trained on the generated scene world (training/scenes).

- `TextEncoder`: words -> a unit-length embedding. With `ImageEmbedder` it forms the dual encoder trained
  contrastively on (image, caption): the teacher of the speech encoder and the judge of R-precision.
- `SpeechEncoder`: log-mel frames -> an embedding in the same space (CNN + GRU + attention pooling), the
  student of the caption's text embedding (Li et al., "Direct Speech-to-Image Translation").
- `SceneGenerator`: an embedding -> a 64 x 64 image, refined to 128 x 128: the two stages of a StackGAN,
  with conditioning augmentation; `SceneDiscriminator` judges (image, embedding) pairs at one resolution.
- `BoxLayoutGenerator`: an embedding -> each thing's box, colour and shape -> masks placed in the boxes -> a
  128 x 128 image (Hong et al.'s layout-first text-to-image, for this world).
- `SceneCaptioner`: image -> words, a CNN encoder and a GRU decoder attending over the 8 x 8 feature map
  (the image2speech design with words as the units).

Word lists travel with the networks (constructor arguments, so in the checkpoint): executors need nothing
from training to tokenise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PAD, UNKNOWN, START, END = "<pad>", "<unk>", "<s>", "</s>"


def words_of(text: str) -> list[str]:
    """A text's words as the models read them: lower case, punctuation dropped."""
    return "".join(char if char.isalnum() or char in "' " else " " for char in text.lower()).split()


UNITS = ("words", "phones")  # what a token is: a word of `words_of`, or a phone of transmodal.phones


class Vocabulary:
    """Token <-> id, the specials first (pad = 0). Tokens are words (`words_of`: lower case, punctuation
    dropped) or phones (transmodal.phones: space-separated, taken as they are)."""

    def __init__(self, words: list[str], units: str = "words"):
        if units not in UNITS:
            raise ValueError(f"units must be one of {', '.join(UNITS)}, not {units!r}")
        self.units = units
        self.words = [PAD, UNKNOWN, START, END] + [word for word in words if word not in (PAD, UNKNOWN, START, END)]
        self.ids = {word: index for index, word in enumerate(self.words)}

    def tokens(self, text: str) -> list[str]:
        return words_of(text) if self.units == "words" else text.split()

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """The text's tokens as ids; unknown ones become <unk>."""
        return [self.ids.get(word, 1) for word in self.tokens(text)]

    def decode(self, ids: list[int]) -> str:
        words = []
        for index in ids:
            word = self.words[index] if 0 <= index < len(self.words) else UNKNOWN
            if word == END:
                break
            if word not in (PAD, START):
                words.append(word)
        return " ".join(words)

    def batch(self, texts: list[str], add_end: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids padded to the longest, lengths), each text at least one token long."""
        encoded = [self.encode(text) + ([self.ids[END]] if add_end else []) or [1] for text in texts]
        longest = max(len(ids) for ids in encoded)
        ids = torch.zeros(len(encoded), longest, dtype=torch.long)
        for row, tokens in enumerate(encoded):
            ids[row, : len(tokens)] = torch.tensor(tokens)
        return ids, torch.tensor([len(tokens) for tokens in encoded])


def _conv(channels_in: int, channels_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class ImageFeatures(nn.Module):
    """64 x 64 (or larger, resized) RGB in [0, 1] -> an 8 x 8 map of `width * 4` features."""

    mean: torch.Tensor

    def __init__(self, width: int = 32):
        super().__init__()
        self.channels = width * 4
        self.layers = nn.Sequential(
            _conv(3, width),
            _conv(width, width, 2),  # 32
            _conv(width, width * 2),
            _conv(width * 2, width * 2, 2),  # 16
            _conv(width * 2, width * 4),
            _conv(width * 4, width * 4, 2),  # 8
            _conv(width * 4, width * 4),
        )
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-1] != 64:
            images = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
        return self.layers((images - self.mean) * 2)


class ImageEmbedder(nn.Module):
    """Image -> unit-length embedding (the image side of the dual encoder)."""

    def __init__(self, width: int = 32, dimension: int = 128):
        super().__init__()
        self.features = ImageFeatures(width)
        # position matters ("above", "left of"): flatten the map rather than pool it away
        self.project = nn.Sequential(
            nn.Flatten(), nn.Linear(self.features.channels * 64, 256), nn.ReLU(), nn.Linear(256, dimension)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.features(images)), dim=-1)


class TextEncoder(nn.Module):
    """Words -> unit-length embedding: a bidirectional GRU, its last states and mean joined."""

    def __init__(self, words: list[str], dimension: int = 128, hidden: int = 128):
        super().__init__()
        self.vocabulary = Vocabulary(words)
        self.embed = nn.Embedding(len(self.vocabulary), 64, padding_idx=0)
        self.gru = nn.GRU(64, hidden, batch_first=True, bidirectional=True)
        self.project = nn.Linear(hidden * 4, dimension)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, last = self.gru(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)
        mean = outputs.sum(1) / lengths.to(outputs.device).unsqueeze(1)
        joined = torch.cat([last[0], last[1], mean], dim=1)
        return F.normalize(self.project(joined), dim=-1)

    def encode(self, texts: list[str]) -> torch.Tensor:
        ids, lengths = self.vocabulary.batch(texts)
        device = self.embed.weight.device
        return self(ids.to(device), lengths)


class DualEncoder(nn.Module):
    """The text and image embedders and the contrastive temperature, trained together."""

    def __init__(self, words: list[str], dimension: int = 128, width: int = 32):
        super().__init__()
        self.text = TextEncoder(words, dimension)
        self.image = ImageEmbedder(width, dimension)
        self.log_scale = nn.Parameter(torch.tensor(2.5))  # logits = exp(log_scale) * cosine

    def similarity(self, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=100) * images @ texts.T


class SpeechEncoder(nn.Module):
    """Log-mel frames (batch, mels, frames) -> unit-length embedding: 1-D convolutions (x4 shorter), a
    bidirectional GRU and attention pooling over time, by `heads` attention distributions whose poolings are
    joined (one distribution must average what a caption says of up to three things into one vector; several
    can each attend to a part of the utterance).

    With `detector`, a linear head on the same pooled features says whether the utterance is a caption of the
    scene world at all (`in_world`): the embedding alone cannot tell, since a student that only ever heard the
    world maps any sound near some caption of it (training/scenes/README.md, "Bad input")."""

    def __init__(self, mels: int = 40, dimension: int = 128, hidden: int = 128, heads: int = 1, detector: bool = False):
        super().__init__()
        self.mels = mels
        self.convs = nn.Sequential(
            nn.Conv1d(mels, hidden, 5, 1, 2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 5, 2, 2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 5, 2, 2),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
        )
        self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(hidden * 2, heads)
        self.project = nn.Linear(hidden * 2 * heads, dimension)
        self.world = nn.Linear(hidden * 2 * heads, 1) if detector else None

    def forward(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project(self.pool(mels, lengths)), dim=-1)

    def in_world(self, mels: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(the embedding, the probability that each utterance is a caption of the scene world, or None
        without a detector head)."""
        pooled = self.pool(mels, lengths)
        embedding = F.normalize(self.project(pooled), dim=-1)
        return embedding, (torch.sigmoid(self.world(pooled))[:, 0] if self.world is not None else None)

    def pool(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The heads' attention poolings of the recurrent features, joined: (batch, 2 * hidden * heads)."""
        features = self.convs(mels).transpose(1, 2)  # batch, time, hidden
        steps = torch.div(lengths + 3, 4, rounding_mode="floor").clamp(min=1, max=features.shape[1])
        outputs, _ = self.gru(features)
        valid = torch.arange(outputs.shape[1], device=outputs.device)[None, :] < steps.to(outputs.device)[:, None]
        scores = self.attention(outputs).masked_fill(~valid[:, :, None], float("-inf"))  # batch, time, heads
        return torch.einsum("bth,btc->bhc", scores.softmax(dim=1), outputs).flatten(1)


def pad_frames(features: list) -> tuple[torch.Tensor, torch.Tensor]:
    """The SpeechEncoder's input from per-utterance (mels, frames) float32 arrays: (batch, mels, longest)
    zero-padded, and each utterance's frame count."""
    longest = max(feature.shape[1] for feature in features)
    batch = torch.zeros(len(features), features[0].shape[0], longest)
    for row, feature in enumerate(features):
        batch[row, :, : feature.shape[1]] = torch.from_numpy(feature)
    return batch, torch.tensor([feature.shape[1] for feature in features])


class _Upsample(nn.Sequential):
    def __init__(self, channels_in: int, channels_out: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(channels_in, channels_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(inplace=True),
        )


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class ConditioningAugmentation(nn.Module):
    """Embedding -> (a sample of N(mu, sigma), mu, log variance): StackGAN's smoothing of the condition."""

    def __init__(self, dimension: int, condition: int):
        super().__init__()
        self.fc = nn.Linear(dimension, condition * 2)

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, log_variance = self.fc(embedding).chunk(2, dim=1)
        sample = mu + torch.randn_like(mu) * (0.5 * log_variance).exp() if self.training else mu
        return sample, mu, log_variance


class SlotCanvas(nn.Module):
    """A vector -> a `size` x `size` image in [-1, 1] drawn as a few things on a background (object-centric
    spatial broadcast): the vector gives each of `slots` things a centre, a size, a presence and a code; one
    small network, shared by the things, paints each from the pixel's position relative to that thing's
    centre in units of its size, so a shape is learned once wherever it stands and at whatever size; a
    softmax over the things' and the background's opacities composes them.

    Why: the convolutional stage I (4 x 4 upsampled to 64 x 64) must learn each shape at each position and
    drew blobs in 24 CPU minutes (training/scenes/README.md)."""

    grid: torch.Tensor  # (size, size, 2) pixel positions in [-1, 1], a buffer

    def __init__(self, inputs: int, slots: int = 3, code: int = 32, hidden: int = 48, size: int = 64):
        super().__init__()
        self.slots, self.code, self.size = slots, code, size
        self.layout = nn.Sequential(nn.Linear(inputs, 256), nn.ReLU(True), nn.Linear(256, slots * (4 + code)))
        self.background = nn.Linear(inputs, 4)  # its colour and opacity: a flat field behind the things
        # the painter's first layer, split so that the code's part is computed once per thing, not per pixel
        self.position_in = nn.Linear(2, hidden)
        self.code_in = nn.Linear(code, hidden)
        self.paint = nn.Sequential(nn.ReLU(True), nn.Linear(hidden, hidden), nn.ReLU(True), nn.Linear(hidden, 4))
        axis = torch.linspace(-1, 1, size)
        self.register_buffer("grid", torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1), persistent=False)

    def forward(self, vector: torch.Tensor) -> torch.Tensor:
        batch = vector.shape[0]
        things = self.layout(vector).view(batch, self.slots, 4 + self.code)
        centre = torch.tanh(things[..., :2])
        scale = torch.sigmoid(things[..., 2:3]) * 0.6 + 0.1
        presence = things[..., 3]
        # (batch, slots, size, size, 2): where each pixel lies in each thing's own frame
        relative = (self.grid[None, None] - centre[:, :, None, None]) / scale[:, :, None, None]
        hidden = self.position_in(relative) + self.code_in(things[..., 4:])[:, :, None, None]
        painted = self.paint(hidden)
        # far from its centre a thing fades: the opacity falls with the squared distance in its own frame
        opacity = painted[..., 3] - relative.pow(2).sum(-1) + presence[:, :, None, None]
        back = self.background(vector)
        colours = torch.cat([painted[..., :3], back[:, None, None, None, :3].expand(-1, 1, self.size, self.size, 3)], 1)
        opacities = torch.cat([opacity, back[:, None, None, None, 3].expand(-1, 1, self.size, self.size)], 1)
        image = (torch.softmax(opacities, 1)[..., None] * torch.tanh(colours)).sum(1)
        return image.permute(0, 3, 1, 2)


class SceneGenerator(nn.Module):
    """StackGAN's two stages: (embedding, noise) -> 64 x 64 -> 128 x 128, images in [-1, 1].

    `forward` returns both stages' images and the conditioning's mu and log variance (for its KL term).
    `stage_one`: "stack" (StackGAN's upsampling convolutions) or "slots" (`SlotCanvas`).
    """

    def __init__(
        self,
        dimension: int = 128,
        condition: int = 64,
        noise: int = 32,
        width: int = 32,
        stage_one: str = "stack",
        slots: int = 3,  # things the "slots" stage I can draw: the world's scenes have one to three
    ):
        super().__init__()
        self.noise = noise
        self.augment = ConditioningAugmentation(dimension, condition)
        self.stage_one = stage_one
        if stage_one == "slots":
            # painted at 32 x 32 and upsampled: a quarter of the per-pixel work, and stage II draws the detail
            self.canvas = SlotCanvas(condition + noise, slots, size=32)
        elif stage_one == "stack":
            base = width * 8
            self.start = nn.Sequential(
                nn.Linear(condition + noise, base * 16, bias=False), nn.BatchNorm1d(base * 16), nn.ReLU(True)
            )
            self.base = base
            self.stage1 = nn.Sequential(
                _Upsample(base, width * 8),  # 8
                _Upsample(width * 8, width * 4),  # 16
                _Upsample(width * 4, width * 2),  # 32
                _Upsample(width * 2, width),  # 64
            )
            self.to_image1 = nn.Sequential(nn.Conv2d(width, 3, 3, 1, 1), nn.Tanh())
        else:
            raise ValueError(f"stage_one must be 'stack' or 'slots', not {stage_one!r}")
        # stage 2: the 64 x 64 image, encoded to 16 x 16, joined with the condition, refined, drawn at 128
        self.encode2 = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1),
            nn.ReLU(True),
            _conv(width, width * 2, 2),  # 32
            _conv(width * 2, width * 4, 2),  # 16
        )
        self.join2 = _conv(width * 4 + condition, width * 4)
        self.residual2 = nn.Sequential(_Residual(width * 4), _Residual(width * 4))
        self.decode2 = nn.Sequential(
            _Upsample(width * 4, width * 2),  # 32
            _Upsample(width * 2, width),  # 64
            _Upsample(width, width // 2),  # 128
        )
        self.to_image2 = nn.Sequential(nn.Conv2d(width // 2, 3, 3, 1, 1), nn.Tanh())

    def forward(self, embedding: torch.Tensor, noise: torch.Tensor | None = None, stages: int = 2):
        condition, mu, log_variance = self.augment(embedding)
        if noise is None:
            noise = torch.randn(embedding.shape[0], self.noise, device=embedding.device)
        joined = torch.cat([condition, noise], dim=1)
        if self.stage_one == "slots":
            small = F.interpolate(self.canvas(joined), size=64, mode="bilinear", align_corners=False)
        else:
            small = self.to_image1(self.stage1(self.start(joined).view(-1, self.base, 4, 4)))
        if stages == 1:
            return small, None, mu, log_variance
        encoded = self.encode2(small)
        tiled = condition[:, :, None, None].expand(-1, -1, encoded.shape[2], encoded.shape[3])
        large = self.to_image2(self.decode2(self.residual2(self.join2(torch.cat([encoded, tiled], dim=1)))))
        return small, large, mu, log_variance


class Layout(dict):
    """What `BoxLayoutGenerator.lay_out` reads from a condition, per thing (batch, slots, ...): "presence"
    logits, "box" (centre x, y in [-1, 1] and half the side, as fractions of the canvas's half side), and
    "colour", "shape", "size" logits."""


class BoxLayoutGenerator(nn.Module):
    """Text -> box layout -> shape masks -> image (Hong et al. 2018, "Inferring Semantic Layout for
    Hierarchical Text-to-Image Synthesis"), made for the scene world.

    - The box generator: the condition (conditioning augmentation of the embedding, as StackGAN) gives each
      of `slots` things a presence, a box and distributions over colours, shapes and sizes (`lay_out`).
    - The shape generator: a small up-convolutional network draws each shape's mask and outline shade in
      the shape's own frame (a shape is learned once, wherever it stands), mixed by a thing's shape
      distribution.
    - The image generator: a spatial transformer puts each mask in its box; each thing, in its colour
      distribution's mix of a learned palette, is laid over a learned background in the caption's order,
      at `size` x `size`, area-averaged to half that (`draw`).

    Why: the convolutional StackGAN stages must learn each shape at each position from pixels alone, and drew
    blobs of the right colour or the right shape, seldom both, in 24 CPU minutes (training/scenes/README.md).
    Trained with the world's labels of the things said (training: `--method boxes`), the layout is read from
    the embedding directly. `forward` has `SceneGenerator`'s signature; what is drawn is the caption's, and
    noise, where given, only moves the things a little (no noise: the canonical picture)."""

    def __init__(
        self,
        dimension: int = 128,
        condition: int = 128,
        noise: int = 32,  # at least 2 x slots: a seed's variation moves each thing
        slots: int = 3,
        colours: int = 7,
        shapes: int = 5,
        sizes: int = 2,
        code: int = 16,
        width: int = 32,
        size: int = 128,
    ):
        super().__init__()
        self.noise, self.slots, self.size = noise, slots, size
        self.groups = (1, 3, colours, shapes, sizes)  # presence, box, colour, shape, size per slot
        self.augment = ConditioningAugmentation(dimension, condition)
        # the augmentation starts narrow (sigma e^-3): a unit-length embedding's entries are ~0.1, and noise of
        # sigma 1 from the start drowns what the layout must read; the KL term widens it as far as it can
        nn.init.constant_(self.augment.fc.bias[condition:], -6.0)
        self.read = nn.Sequential(
            nn.Linear(condition, 256),
            nn.ReLU(True),
            nn.Linear(256, 256),
            nn.ReLU(True),
            nn.Linear(256, slots * sum(self.groups)),
        )
        self.palette = nn.Parameter(torch.randn(colours, 3) * 0.5)
        self.background = nn.Parameter(torch.zeros(3))
        self.shape_codes = nn.Parameter(torch.randn(shapes, code))
        last = nn.Conv2d(width, 2, 3, 1, 1)  # the thing's opacity and its outline's shade
        self.mask = nn.Sequential(
            nn.Linear(code, width * 4 * 4),
            nn.Unflatten(1, (width, 4, 4)),
            *[
                layer
                for _ in range(4)  # 4 -> 64
                for layer in (nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(True))
            ],
            last,
        )
        assert last.bias is not None
        nn.init.constant_(last.bias, 1.0)  # things start mostly opaque: drawn, so their pixels teach

    def lay_out(self, condition: torch.Tensor) -> Layout:
        parts = self.read(condition).view(condition.shape[0], self.slots, -1).split(self.groups, dim=2)
        presence, box, colour, shape, size = parts
        box = torch.cat([torch.tanh(box[..., :2]), torch.sigmoid(box[..., 2:]) * 0.6], dim=2)
        return Layout(presence=presence[..., 0], box=box, colour=colour, shape=shape, size=size)

    def draw(self, layout: Layout) -> torch.Tensor:
        """The layout drawn: (batch, 3, size, size) in [-1, 1]."""
        batch = layout["box"].shape[0]
        # each shape's opacity and shade in [0, 1], drawn once and mixed by each thing's shape distribution
        # (in [0, 1] before placing: outside its box, the zero padding, a thing is not there)
        masks = torch.sigmoid(self.mask(self.shape_codes)).flatten(1)  # (shapes, 2 * 64 * 64)
        mixed = torch.softmax(layout["shape"], -1).reshape(batch * self.slots, -1) @ masks
        drawn = mixed.view(batch * self.slots, 2, 64, 64)
        box = layout["box"].reshape(batch * self.slots, 3)
        half = box[:, 2].clamp(min=0.02)
        # canvas -> the thing's frame: u = (p - centre) / half, what affine_grid's theta says
        theta = torch.zeros(batch * self.slots, 2, 3, device=box.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1 / half
        theta[:, :, 2] = -box[:, :2] / half[:, None]
        grid = F.affine_grid(theta, [batch * self.slots, 2, self.size, self.size], align_corners=False)
        placed = F.grid_sample(drawn, grid, padding_mode="zeros", align_corners=False)
        placed = placed.view(batch, self.slots, 2, self.size, self.size)
        opacity = placed[:, :, 0] * torch.sigmoid(layout["presence"])[:, :, None, None]
        shade = placed[:, :, 1]
        colours = torch.softmax(layout["colour"], -1) @ torch.sigmoid(self.palette)  # (batch, slots, 3)
        image = torch.sigmoid(self.background).view(1, 3, 1, 1).expand(batch, 3, self.size, self.size)
        for slot in range(self.slots):  # the caption's order: a later thing lies over an earlier one
            paint = colours[:, slot, :, None, None] * (1 - 0.5 * shade[:, slot, None])
            alpha = opacity[:, slot, None]
            image = image * (1 - alpha) + alpha * paint
        return image * 2 - 1

    def confidence(self, layout: Layout) -> torch.Tensor:
        """(batch,) how sure the layout is of what it draws: the least, over the things it draws, of the
        likeliest colour's and shape's probabilities (1 when no thing is drawn: nothing to doubt)."""
        sure = torch.softmax(layout["colour"], -1).amax(-1) * torch.softmax(layout["shape"], -1).amax(-1)
        drawn = torch.sigmoid(layout["presence"]) > 0.5
        return torch.where(drawn, sure, torch.ones_like(sure)).amin(1)

    def forward(self, embedding: torch.Tensor, noise: torch.Tensor | None = None, stages: int = 2):
        condition, mu, log_variance = self.augment(embedding)
        layout = self.lay_out(condition)
        if noise is not None:  # a seed's variation: each thing moved by up to 5 % of the side, never past its relation
            batch = embedding.shape[0]
            moved = 0.1 * torch.tanh(noise[:, : 2 * self.slots]).reshape(batch, self.slots, 2)
            layout["box"] = torch.cat([layout["box"][..., :2] + moved, layout["box"][..., 2:]], dim=2)
        large = self.draw(layout)
        small = F.avg_pool2d(large, self.size // 64)
        return small, (large if stages == 2 else None), mu, log_variance


class NoiseEncoder(nn.Module):
    """(image in [0, 1] at 64 x 64, embedding) -> mean and log variance of the generator's noise that
    redraws that image: the posterior of the conditional VAE way of training `SceneGenerator` (training only;
    drawing samples the noise from N(0, 1))."""

    def __init__(self, dimension: int = 128, noise: int = 32, width: int = 16):
        super().__init__()
        self.features = ImageFeatures(width)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(self.features.channels * 64, 256), nn.ReLU(True))
        self.out = nn.Linear(256 + dimension, noise * 2)

    def forward(self, images: torch.Tensor, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = torch.cat([self.fc(self.features(images)), embedding], dim=1)
        mu, log_variance = self.out(hidden).chunk(2, dim=1)
        return mu, log_variance.clamp(-8, 8)


class SceneDiscriminator(nn.Module):
    """(image in [-1, 1] at `size`, embedding) -> logit of "real and matching the description"; also the
    unconditional logit (StackGAN-v2's joint loss steadies training)."""

    def __init__(self, size: int = 64, dimension: int = 128, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        channels, current = width, size // 2
        while current > 4:
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(0.2, True),
            ]
            channels, current = channels * 2, current // 2
        self.features = nn.Sequential(*layers)
        self.condition = nn.Linear(dimension, 64)
        self.joint = nn.Sequential(
            nn.Conv2d(channels + 64, channels, 3, 1, 1), nn.LeakyReLU(0.2, True), nn.Conv2d(channels, 1, 4)
        )
        self.plain = nn.Conv2d(channels, 1, 4)

    def forward(self, images: torch.Tensor, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        tiled = self.condition(embedding)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.joint(torch.cat([features, tiled], dim=1)).flatten(), self.plain(features).flatten()


class SceneCaptioner(nn.Module):
    """Image -> unit ids: CNN features (8 x 8) attended by a GRU decoder (Bahdanau-style), greedy decoding.
    The units are words, or phones (`units="phones"`, `words` then the phone inventory): the image2speech
    paper's units for a language with no writing.

    With `detector`, a linear head on the feature map's mean and maximum says whether the picture is of the
    scene world at all (`in_world`): the decoder says a sentence of its world on any picture."""

    def __init__(
        self,
        words: list[str],
        width: int = 32,
        hidden: int = 256,
        max_words: int = 24,
        detector: bool = False,
        units: str = "words",
    ):
        super().__init__()
        self.vocabulary = Vocabulary(words, units)
        self.max_words = max_words
        self.features = ImageFeatures(width)
        channels = self.features.channels
        self.position = nn.Parameter(torch.zeros(1, 64, channels))  # where a feature is matters ("above")
        self.init = nn.Linear(channels, hidden)
        self.embed = nn.Embedding(len(self.vocabulary), 64, padding_idx=0)
        self.key = nn.Linear(channels, hidden)
        self.query = nn.Linear(hidden, hidden)
        self.score = nn.Linear(hidden, 1)
        self.cell = nn.GRUCell(64 + channels, hidden)
        self.out = nn.Linear(hidden + channels, len(self.vocabulary))
        self.world = nn.Linear(channels * 2, 1) if detector else None

    def pool(self, images: torch.Tensor) -> torch.Tensor:
        """The feature map's mean and maximum over positions, joined: (batch, 2 * channels)."""
        features = self.features(images).flatten(2)
        return torch.cat([features.mean(2), features.amax(2)], dim=1)

    @torch.no_grad()
    def in_world(self, images: torch.Tensor) -> torch.Tensor | None:
        """The probability that each picture is of the scene world, or None without a detector head."""
        return None if self.world is None else torch.sigmoid(self.world(self.pool(images)))[:, 0]

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images).flatten(2).transpose(1, 2) + self.position  # batch, 64, channels

    def _step(self, word: torch.Tensor, state: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor):
        weights = self.score(torch.tanh(keys + self.query(state).unsqueeze(1))).softmax(dim=1)
        context = (weights * memory).sum(1)
        state = self.cell(torch.cat([self.embed(word), context], dim=1), state)
        return self.out(torch.cat([state, context], dim=1)), state

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Logits (batch, steps, vocabulary) for teacher forcing: `targets` end with </s>, start implied."""
        memory = self._encode(images)
        keys, state = self.key(memory), torch.tanh(self.init(memory.mean(1)))
        word = torch.full((images.shape[0],), self.vocabulary.ids[START], dtype=torch.long, device=images.device)
        logits = []
        for step in range(targets.shape[1]):
            step_logits, state = self._step(word, state, memory, keys)
            logits.append(step_logits)
            word = targets[:, step]
        return torch.stack(logits, dim=1)

    @torch.no_grad()
    def generate(self, images: torch.Tensor) -> list[str]:
        memory = self._encode(images)
        keys, state = self.key(memory), torch.tanh(self.init(memory.mean(1)))
        word = torch.full((images.shape[0],), self.vocabulary.ids[START], dtype=torch.long, device=images.device)
        chosen = []
        never = [self.vocabulary.ids[special] for special in (PAD, UNKNOWN, START)]  # words only, or the end
        for _ in range(self.max_words):
            step_logits, state = self._step(word, state, memory, keys)
            step_logits[:, never] = float("-inf")
            word = step_logits.argmax(dim=1)
            chosen.append(word)
        ids = torch.stack(chosen, dim=1).tolist()
        return [self.vocabulary.decode(row) for row in ids]


def scene_pixels(images: list, size: int = 64) -> torch.Tensor:
    """RGB arrays (height, width, 3; uint8) of any size -> (batch, 3, size, size) in [0, 1], area-averaged as
    the world's small renders are."""
    import numpy as np
    from PIL import Image

    resized = [np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX)) for image in images]
    return torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div(255)
