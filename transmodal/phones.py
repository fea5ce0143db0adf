"""Phones: speech units for a language with no writing (the image2speech paper's phone units).

The notation is eSpeak NG's ASCII phoneme mnemonics (what `espeak-ng -x` prints), one token per phone,
tokens separated by spaces; a stress mark belongs to the vowel it precedes ("'I" is a stressed I), so a
token is a sound. Words are not marked: a language with no writing has no word boundaries to learn from,
and a phone sequence is spoken as one run (`espeak_phoneme_input`).

The phones are English's, in the notation of eSpeak NG's en-us voice (`VOICE`); the SpeechSynthesizer says
them with the voice of the document's language (en-us for English, unless `voices` sets another).

Text -> phones (`phonemes`) is for making training targets and references; phones -> speech goes through
eSpeak NG's phoneme input (`[[...]]`), which reads exactly this notation.
"""

from __future__ import annotations

import subprocess

from transmodal.binaries import require_binary
from transmodal.errors import BadInputError

PHONE_SEPARATOR = "_"  # what espeak-ng puts between a word's phones with `--sep=_`
VOICE = "en-us"  # the voice whose phones the captioner of phones learnt


def _espeak_lines(lines: list[str], voice: str, binary: str, timeout: float) -> list[str]:
    command = [require_binary(binary, "apt-get install espeak-ng"), "-q", "-x", f"--sep={PHONE_SEPARATOR}", "-v", voice]
    done = subprocess.run(command, input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng could not phonemise: {done.stderr.strip()}")
    return done.stdout.splitlines()


def _tokens(said: list[str]) -> str:
    return " ".join(token for line in said for word in line.split() for token in word.split(PHONE_SEPARATOR) if token)


def phonemes(texts: list[str], voice: str = VOICE, binary: str = "espeak-ng", timeout: float = 120.0) -> list[str]:
    """Each text's phones (space-separated tokens), as `voice` says them. One espeak-ng call for all: each
    text goes on a line of its own and comes back on one, its punctuation dropped first (espeak-ng starts a
    new line of phones at a clause's end, and phones mark no punctuation). Where a text still comes back on
    several lines (a long one: espeak-ng breaks it), each text is phonemised by a call of its own."""
    if not texts:
        return []
    kept = ["".join(char if char.isalnum() or char in "'-" else " " for char in text) for text in texts]
    lines = [" ".join(text.split()) or "." for text in kept]
    said = _espeak_lines(lines, voice, binary, timeout)
    if len(said) == len(lines):
        return [_tokens([line]) for line in said]
    return [_tokens(_espeak_lines([line], voice, binary, timeout)) for line in lines]


def espeak_phoneme_input(phones: str) -> str:
    """Space-separated phone tokens as eSpeak NG phoneme input, in double brackets: the tokens joined by
    `|`, which ends a phone without a pause (run together, "U @" could be read as the one phone "U@"; Whisper
    base heard 60 scene captions so said with 4.1 % word errors, run together 4.5 %). A stray stress mark or
    an unknown token makes no sound; an empty sequence is refused."""
    tokens = phones.split()
    if not tokens:
        raise BadInputError("no phones to speak: the document's phones are empty")
    if any("[" in token or "]" in token for token in tokens):
        raise BadInputError("phones may not contain brackets: they end eSpeak NG's phoneme input")
    return "[[" + "|".join(tokens) + "]]"
