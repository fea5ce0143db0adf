"""Pairs of text strips for the pixel translator: an English phrase rendered, and its Spanish translation by
Apertium (sequence-level distillation) rendered, plus the target's pieces for the full model's sub-examples.

Strips are drawn by transmodal.strips (14 px Noto Sans on 384 x 32: the paper's 16 px on 1024 x 32,
narrowed for a CPU); phrases whose source or translation does not fit are left out.
"""

from __future__ import annotations

import dataclasses
import io
import random

import numpy as np
import torch

from training.pixels import phrases
from transmodal.strips import fits, render

SOURCE, TARGET = "en", "es"


def translate(texts: list[str]) -> list[str]:
    """The targets: Apertium eng-spa, the project's offline translator."""
    from executors.text_translator.backends import TRANSLATORS

    return [" ".join(text.split()) for text in TRANSLATORS.create("apertium").translate(texts, SOURCE, TARGET)]


def train_pieces(targets: list[str], vocabulary: int = 400) -> bytes:
    """A SentencePiece model of the training targets, as bytes (it goes into the checkpoint). BPE: on this
    small corpus the unigram model stopped at 252 pieces and cut common words into letters (11 pieces a
    phrase); BPE with 400 keeps most words whole (6.8 pieces a phrase: fewer decoding steps)."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(targets),
        model_writer=model,
        vocab_size=vocabulary,
        hard_vocab_limit=False,
        character_coverage=1.0,
        model_type="bpe",
        minloglevel=2,
    )
    return model.getvalue()


def prefixes(target: str, pieces_model) -> list[str]:
    """The target after each of its pieces: the texts the full model draws step by step ("" first)."""
    pieces = pieces_model.encode(target, out_type=str)
    return [""] + [pieces_model.decode(pieces[: count + 1]) for count in range(len(pieces))]


@dataclasses.dataclass
class Corpus:
    """(source, target) phrase pairs that fit a strip, and each target's piece prefixes."""

    sources: list[str]
    targets: list[str]
    steps: list[list[str]]  # steps[i][k]: the first k pieces of targets[i], as text

    def pairs(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(source strips, whole target strips) for the baseline and for evaluation."""
        return strips([self.sources[i] for i in indices]), strips([self.targets[i] for i in indices])

    def sub_examples(self, rng: random.Random, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`size` random (source, first n - 1 pieces, first n pieces) strips: the full model's examples."""
        chosen = [self.sub_example(rng) for _ in range(size)]
        return (
            strips([self.sources[i] for i, _ in chosen]),
            strips([self._drawn(i, n - 1) for i, n in chosen]),
            strips([self._drawn(i, n) for i, n in chosen]),
        )

    def sub_example(self, rng: random.Random) -> tuple[int, int]:
        phrase = rng.randrange(len(self.sources))
        return phrase, rng.randrange(1, len(self.steps[phrase]) + 1)

    def _drawn(self, phrase: int, count: int) -> str:
        """The first `count` pieces of the phrase's target; one past its last piece is the whole target
        again: the step that adds nothing, from which the model learns where to stop (decoding stops when a
        step changes no pixel)."""
        return self.steps[phrase][min(count, len(self.steps[phrase]) - 1)]

    def every_sub_example(self, phrases: int) -> tuple[list[int], list[str], list[str]]:
        """(phrase, partial target, next partial target) of every sub-example of the first `phrases`."""
        indices, partial, target = [], [], []
        for phrase in range(min(phrases, len(self.sources))):
            for count in range(1, len(self.steps[phrase]) + 1):
                indices.append(phrase)
                partial.append(self._drawn(phrase, count - 1))
                target.append(self._drawn(phrase, count))
        return indices, partial, target


def strips(texts: list[str]) -> torch.Tensor:
    return torch.from_numpy(np.stack([render(text) for text in texts]))[:, None]


def corpora(pieces_model_bytes: bytes | None = None, held_out: int = 400) -> tuple[Corpus, Corpus, bytes]:
    """(training corpus, held-out corpus, the SentencePiece model trained on the training targets)."""
    import sentencepiece

    training, testing = phrases.split(held_out)
    sources = training + testing
    targets = translate(sources)
    pairs = [(source, target) for source, target in zip(sources, targets) if fits(source) and fits(target)]
    kept_training = [pair for pair in pairs if pair[0] in set(training)]
    kept_testing = [pair for pair in pairs if pair[0] not in set(training)]
    if pieces_model_bytes is None:
        pieces_model_bytes = train_pieces([target for _source, target in kept_training])
    pieces_model = sentencepiece.SentencePieceProcessor(model_proto=pieces_model_bytes)

    def corpus(kept: list[tuple[str, str]]) -> Corpus:
        return Corpus(
            [source for source, _ in kept],
            [target for _, target in kept],
            [prefixes(target, pieces_model) for _, target in kept],
        )

    return corpus(kept_training), corpus(kept_testing), pieces_model_bytes
