"""How common words and pairs of words are: a bigram language model to judge OCR readings in context.

A word list says whether a word exists; it cannot tell "KILL THEN" from "KILL THEM", "THE SANE PEOPLE"
from "THE SAME PEOPLE", "THE AS SEND" from "THE ASS END", nor that "GAMESPACE" is a word of gamers rather
than "GAME SPACE". How often words follow each other can.

English counts come from the `wordsegment` package (Apache-2.0): the 333,333 most common words of the
Google Web Trillion Word Corpus and 286,358 of its word pairs, as Peter Norvig's "Natural Language Corpus
Data" chapter uses them. Other languages have no counts offline here: `word_frequencies` gives None and
callers keep their text as it is.

Scores are stupid-backoff log probabilities (Brants et al. 2007): a pair's count over its first word's
count where the pair is listed, else 0.4 times the word's own probability. A word that is not listed gets
the probability of a word seen `UNSEEN_COUNT` times, less for each letter over four, so that an unknown
long string never outscores known words.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import Optional

BACKOFF = 0.4
UNSEEN_COUNT = 1000.0  # below the rarest listed word (12,711): an unlisted word is rarer than any listed one
SENTENCE_EDGE = "<s>"  # start or end of a phrase: the model scores words in context only within one


class WordFrequencies:
    def __init__(self, unigrams: dict[str, int], bigrams: dict[str, int], total: float):
        self.unigrams = unigrams
        self.bigrams = bigrams  # "first second" -> count
        self.total = total

    def count(self, word: str) -> int:
        return self.unigrams.get(word.lower(), 0)

    def word_log_probability(self, word: str) -> float:
        count = self.unigrams.get(word, 0)
        if count:
            return math.log(count / self.total)
        return math.log(UNSEEN_COUNT / self.total) - max(0, len(word) - 4) * math.log(10)

    def pair_log_probability(self, previous: str, word: str) -> float:
        """log S(word | previous), stupid backoff."""
        if previous == SENTENCE_EDGE or word == SENTENCE_EDGE:
            return 0.0 if word == SENTENCE_EDGE else self.word_log_probability(word)
        pair = self.bigrams.get(f"{previous} {word}")
        if pair:  # (a listed pair's first word is listed too, but in the pair list's own counts)
            return math.log(pair / self.unigrams.get(previous, self.total))
        return math.log(BACKOFF) + self.word_log_probability(word)

    def phrase_log_probability(self, words: Sequence[str]) -> float:
        """The log score of a run of lower-case words, each given the one before it (SENTENCE_EDGE marks
        where a phrase starts or ends)."""
        return sum(self.pair_log_probability(words[i - 1], words[i]) for i in range(1, len(words))) + (
            self.word_log_probability(words[0]) if words and words[0] != SENTENCE_EDGE else 0.0
        )


def _read_counts(path: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            key, _, value = line.rstrip("\n").rpartition("\t")
            if key:
                key = key.lower()
                counts[key] = counts.get(key, 0) + int(value)  # the pair list repeats a pair in other cases
    return counts


@functools.lru_cache(maxsize=4)
def word_frequencies(language: str) -> Optional[WordFrequencies]:
    """The counts for an ISO 639-1 code, loaded once (about 1 s, 100 MB for English) and cached; None for a
    language without counts or when `wordsegment` is not installed. Never raises."""
    if language.lower().split("-")[0].split("_")[0] != "en":
        return None
    try:
        import wordsegment
    except ImportError:
        return None
    folder = os.path.dirname(wordsegment.__file__)
    try:
        unigrams = _read_counts(os.path.join(folder, "unigrams.txt"))
        bigrams = _read_counts(os.path.join(folder, "bigrams.txt"))
    except (OSError, ValueError):
        return None
    return WordFrequencies(unigrams, bigrams, wordsegment.Segmenter.TOTAL)
