"""Word-level repair of OCR text, and capitals handled for translation, with Debian's hunspell word lists.

OCR of widely tracked capitals and comic lettering drops spaces ("NOPARKING", "IJUST WROTE"), and Apertium
then leaves the glued words untranslated; Apertium also mistranslates text in capitals. Text in, text out
(no executor code):

- `vocabulary(language)`: the language's hunspell word list (`/usr/share/hunspell/*.dic` + `.aff`, Debian
  hunspell-en-us, -es, -fr, -de-de ...), loaded once (0.25-0.5 s) and cached; None when none is
  installed. `Vocabulary.is_word(word)` accepts inflections by hunspell's own affix stripping (prefixes,
  suffixes, two suffixes, German compounds), in any case; `spelling(word)` tells names ("Paris", "NASA").
- `split_words(text, language, keep=())`: "NOPARKING!" -> "NO PARKING!", "IJUST WROTE" -> "I JUST WROTE",
  "DIDNT" -> "DIDN'T", "GIRL,YOU" -> "GIRL, YOU"; known words, numbers and codes ("GM 125", "A4",
  "B-52") are left alone. `recurring_words(texts, language)` finds a document's names and slang
  ("ANDA", "NOOBS") to pass as `keep`. `segment(word, language)` splits one word.
- `best_reading(candidates, language)`: of several OCR readings of one line, the one most in words.
- `correct_in_context(text, language)`: misreads that make another word, judged by the words round them
  with English word-pair counts (`transmodal.word_frequencies`): "KILL THEN," -> "KILL THEM,".
- `join_hyphenated(lines, language)`: "PARK-" + "ING" -> "PARKING", "WELL-" + "KNOWN" -> "WELL-KNOWN".
- `is_all_caps(text)`, `to_sentence_case(text, language)`, `restore_case(source, translation)`: translate
  capitals as sentence case, then put the capitals back. `lettered_in_capitals(texts)` tells a comic page
  lettered in capitals, where `capitals_throughout(text)` mends "JuST" -> "JUST".

Measured with Apertium 3.8 eng-spa (`apertium -u eng-spa`): OCR text as read, and the same after
`split_words` -> `to_sentence_case` -> Apertium -> `restore_case`:

    HELP US!                       EE.UU. de ayuda!                   NOS AYUDO!
    WHO IS IT?                     OMS ES?                            QUIÉN ES?
    DOUBLE PARKING IS NOT ALLOWED. El APARCAMIENTO doble NO ES DEJADO. EL APARCAMIENTO DOBLE NO ES DEJADO.
    NOPARKING!                     NOPARKING!                         NINGÚN APARCAMIENTO!
    IJUST WROTE A LETTER TO HER.   IJUST Escribió Una LETRA A ELLA.   SÓLO ESCRIBÍ UNA LETRA A ELLA.
    I DIDNT SEE HIM                Yo DIDNT VERLE                     NO LE VI

In capitals Apertium reads "US" as the country and "WHO" as the organisation, and its case transfer
scrambles words it reorders; glued words and a lost apostrophe stay untranslated.

On a real comic (Cory Doctorow's "Anda's Game", 23 pages, 256 balloons, its ACBF transcript): with 30 %
of the spaces between words in capitals dropped, `split_words(keep=recurring_words(...))` cuts word
errors from 744 to 98 of 3,262 words; on the correct transcript it changes 12 balloons (compounds:
"SWORDFIGHTING" -> "SWORD FIGHTING"). On RapidOCR's 1,043 real lines of that comic it changes 297 lines
("THE GAME UNTILSHE GOTHERSELF" -> "... UNTIL SHE GOT HERSELF") at 0.2 ms a line, and the letters in
dictionary words go from 5,214 to 8,107.

Why hunspell and not Apertium's own analyser as the word test: of 2,000 random en_US stems, eng-spa's
analyser (`lt-proc eng-spa.automorf.bin`) knows only 24 % (spa: 31 % of es_ES stems) — "anywhere",
"yeah", "superheroes" are unknown to it — so it would split real words. It serves as a second opinion
on short pieces only (`mt_short_words`: hunspell also lists "obs", "ling", "res", which would turn
"NOOBS" into "NO OBS"); one lt-proc run per language, skipped when Apertium is not installed.

No word list for a language (or an unknown language code) is never an error here: every function then
gives its text back unchanged (the case functions need no word list except for names).
"""

from __future__ import annotations

import collections
import functools
import gc
import glob
import itertools
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from typing import Optional

from transmodal import languages
from transmodal.errors import UnsupportedLanguageError
from transmodal.word_frequencies import SENTENCE_EDGE, WordFrequencies, word_frequencies

# Where Debian (hunspell-*, myspell-*) and other distributions put hunspell dictionaries; where Apertium's
# language data is (apertium-*: its morphological analysers are a second opinion on short words).
DICTIONARY_DIRS: tuple[str, ...] = ("/usr/share/hunspell", "/usr/share/myspell/dicts", "/usr/share/myspell")
APERTIUM_DIRS: tuple[str, ...] = ("/usr/share/apertium",)

# Hunspell file names to try first per ISO 639-1 code (then any "<code>_*.dic" / "<code>.dic").
PREFERRED_DICTIONARIES: dict[str, tuple[str, ...]] = {
    "en": ("en_US", "en_GB", "en_CA", "en_AU"),
    "es": ("es_ES", "es_MX"),
    "fr": ("fr_FR", "fr"),
    "de": ("de_DE", "de_AT", "de_CH"),
    "pt": ("pt_PT", "pt_BR"),
    "nl": ("nl_NL", "nl"),
}

# Regional word lists a language's text may mix in, read beside its first list (`vocabulary`): English
# comics and signs are written in British spelling as often as in American ("ARMOUR", "TOTALLING",
# "CENTRE", "ARSE"), and a word the list lacks is cut into pieces ("ARM OUR").
ALSO_DICTIONARIES: dict[str, tuple[str, ...]] = {"en": ("en_GB",)}
# Of such a list only words in use are taken: written in lower case, of four letters or more, counted this
# often in the language's word counts (`word_frequencies`; "totalling" 0.7 million times, "armour" 2.8),
# and not two of its most common words glued: Debian's en_GB also lists "nota", "ng", "i5", which would
# keep "NOTA PROBLEM" and "PARK I NG" from being mended.
VARIANT_MIN_COUNT = 100_000

# The most frequent words per language: the only pieces of fewer than three letters a split may use
# (hunspell lists hold many short abbreviations and letter names, "d", "t", "ab", "bk"), and slightly
# cheaper pieces than other words, a stand-in for word frequencies ("IT WAS", not "I TWAS"). Languages not
# listed get pieces of three letters or more only.
COMMON_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        """
        a i am an as at be by do go he hi if in is it me my no of oh ok on or so to up us we
        the and for are but not you all any can had her was one our out day get has him his how man new now
        old see two way who boy did its let put say she too use yes hey yet off why got
        that with have this will your from they know want been good much some time very when come here just
        like long make many more only over such take than them well were what said each which their there
        about would these other could into then look more also back after work first even give most
        because really where think never always right going don't didn't can't i'm it's that's
        """.split()
    ),
    "es": frozenset(
        """
        a e o u y al da de di el en es fe ha he la le lo me mi ni no os se si sé sí su te tu tú un va ve vi
        ya yo
        del las los por con una sus para más pero como este esta eso esto ese esa hay muy sin sobre también
        hasta donde desde todo nos todos uno les otro otra ella ellos algo nada mis qué cómo dónde quién
        cuando porque bien aquí ahora así soy eres somos son fue era está estoy están han hemos tengo tiene
        puede hacer ver voy vamos quiero
        """.split()
    ),
    "fr": frozenset(
        """
        a à y ai as au ce ça de du en es et eu il je la le lu ma me ne ni nu on ou où sa se si ta te tu un
        va vu
        les des une que qui est dans pour pas sur plus par avec son ses mais nous vous ils elle elles mon
        mes ton tes cela cette ces être avoir fait faire été suis sont ont vais bien très tout tous toute ici
        quand comment pourquoi quoi oui non aussi comme peu encore déjà leur lui moi toi eux notre votre
        """.split()
    ),
    "de": frozenset(
        """
        ab am an da du eh er es im in ja je ob so um wo zu
        der die und den von das mit sich des auf für ist dem nicht ein eine als auch kann aus sie wir ihr
        ich bei hat nach wie noch nur oder aber vor zur bis mehr durch man sein wird sind war haben habe
        einen einem einer kein keine nein hier was wer warum wann schon sehr immer alle gut
        """.split()
    ),
    "pt": frozenset("a e o à ao as da de do em eu ir já me na no os se só te tu um vi".split()),
    "it": frozenset("a e è i o da di ed fa ha il in io la le lo ma mi ne no se si so su te ti tu un va".split()),
}

# English contractions (the list has most; these make sure). OCR often loses the apostrophe: the bare
# forms of the n't, 'm, 're, 've and 'll ones are read as the contraction where they are not words
# themselves ("DIDNT" -> "DIDN'T", "IM" -> "I'M"; "CANT", "WONT", "WELL", "ILL", "WERE", "SHELL" stay).
ENGLISH_CONTRACTIONS: tuple[str, ...] = tuple(
    """
    i'm i've i'll i'd you're you've you'll you'd he's he'll he'd she's she'll she'd it's it'll it'd
    we're we've we'll we'd they're they've they'll they'd that's that'll that'd there's there'll there'd
    here's what's what're what'll who's who'll who'd where's where'd when's why's how's let's
    this'll
    isn't aren't wasn't weren't don't doesn't didn't haven't hasn't hadn't won't wouldn't can't couldn't
    shouldn't mustn't mightn't needn't shan't ain't y'all o'clock ma'am
""".split()
)
BARE_CONTRACTIONS: dict[str, str] = {
    word.replace("'", ""): word
    for word in ENGLISH_CONTRACTIONS
    if word.endswith("n't")
    or word.split("'")[1] in ("m", "re", "ve", "ll")
    # ... and the 's of the words whose bare form is no word ("THATS MY" read for "THAT'S MY"; not "lets",
    # "its", "hes")
    or word in ("that's", "what's", "there's", "here's", "where's", "who's", "how's")
}

# Words that never end a phrase (before a comma or full stop), so never the last piece of a split that
# punctuation follows: "ANDA," is a name, not "AND A,".
NEVER_LAST: dict[str, frozenset[str]] = {
    "en": frozenset("a an the".split()),
    "es": frozenset("el la los las un una".split()),
    "fr": frozenset("le la les un une".split()),
    "de": frozenset("der die das ein eine".split()),
}

# Apostrophes inside words ("DIDN’T"); all are read as "'" when looking words up.
APOSTROPHES = "'’ʼ"
HYPHENS = "-\u2010\u2011\u00ad"  # hyphen-minus, hyphen, non-breaking hyphen, soft hyphen
SENTENCE_END = ".!?…"

# A token longer than this is never segmented (a URL, a run of garbage): keeps the DP cheap. Two
# neighbouring tokens are tried joined only up to MAX_JOIN_LENGTH letters.
MAX_SPLIT_LENGTH = 40
MAX_JOIN_LENGTH = 24


# --- hunspell word lists ---------------------------------------------------------------------------


class _Affix:
    """One hunspell prefix or suffix rule; its condition is compiled only when first needed."""

    __slots__ = ("flag", "strip", "add", "condition", "cross", "continuation", "suffix", "_pattern")

    def __init__(
        self, flag: str, strip: str, add: str, condition: str, cross: bool, continuation: frozenset, suffix: bool
    ):
        self.flag, self.strip, self.add, self.condition = flag, strip, add, condition
        self.cross, self.continuation, self.suffix = cross, continuation, suffix
        self._pattern: Optional[re.Pattern] = None

    def matches(self, stem: str) -> bool:
        """Does the stem meet the rule's condition (at its end for a suffix, at its start for a prefix)?"""
        condition = self.condition
        if condition == ".":
            return True
        if "[" not in condition and "." not in condition:
            return stem.endswith(condition) if self.suffix else stem.startswith(condition)
        if self._pattern is None:
            self._pattern = _compile_condition(condition, self.suffix)
        return self._pattern.search(stem) is not None


@functools.lru_cache(maxsize=4096)
def _compile_condition(condition: str, suffix: bool) -> re.Pattern:
    regex = _condition_regex(condition)
    try:
        return re.compile(f"(?:{regex})$" if suffix else f"^(?:{regex})")
    except re.error:  # a malformed condition matches nothing
        return re.compile(r"(?!)")


class Vocabulary:
    """One language's hunspell dictionary: stems with their flags, and the affix rules to inflect them.

    Membership is tested the way hunspell does it, backwards: strip a known ending (and/or beginning) off
    the word and look the stem up with the matching flag. So inflections ("PARKED", "APARCAR",
    "didn't") are known without expanding every form at load time. Case-insensitive.
    """

    def __init__(self, dic_path: str, aff_path: str, language: str = ""):
        self.language = language
        self.path = dic_path
        # Word lists of the language's other regional spellings, asked for words this list does not know,
        # each with which of its spellings to take.
        self.variants: list[tuple[Vocabulary, Callable[[str], bool]]] = []
        self._flag_mode = "char"
        self._aliases: list[frozenset] = []
        self._cross: dict[tuple[str, str], bool] = {}
        self._prefixes: dict[str, list[_Affix]] = {}
        self._suffixes: dict[str, list[_Affix]] = {}
        self.need_affix = self.only_in_compound = self.forbidden = None
        self.compound_flag = self.compound_begin = self.compound_middle = self.compound_end = None
        self.compound_min = 3
        self._read_aff(aff_path)
        self._max_prefix = max((len(add) for add in self._prefixes), default=0)
        self._max_suffix = max((len(add) for add in self._suffixes), default=0)
        # ending -> [(stripped letters, suffix rules)]: rules that make the same stem, grouped
        self._suffix_groups: dict[str, list[tuple[str, list[_Affix]]]] = {}
        for add, rules in self._suffixes.items():
            by_strip: dict[str, list[_Affix]] = {}
            for affix in rules:
                by_strip.setdefault(affix.strip, []).append(affix)
            self._suffix_groups[add] = list(by_strip.items())
        # flag -> suffixes (by ending) whose continuation flags allow a further suffix with that flag
        self._inner_suffixes: dict[str, dict[str, list[_Affix]]] = {}
        for rules in self._suffixes.values():
            for affix in rules:
                for flag in affix.continuation:
                    self._inner_suffixes.setdefault(flag, {}).setdefault(affix.add, []).append(affix)
        # lower-cased stem -> (spelling in the list, flags) of its last entry, of its first entry when it
        # has several, and of all of them when it has more than two
        self._stems: dict[str, tuple[str, frozenset]] = {}
        self._first_stems: dict[str, tuple[str, frozenset]] = {}
        self._more_stems: dict[str, tuple] = {}
        collecting = gc.isenabled()
        gc.disable()  # ~100,000 small tuples: the cyclic collector would run dozens of times for nothing
        try:
            self._read_dic(dic_path)
        finally:
            if collecting:
                gc.enable()
        self._compounds = bool(self.compound_flag or self.compound_begin)
        self._cache: dict[str, tuple[Optional[str], tuple[str, ...]]] = {}

    def __len__(self) -> int:
        return len(self._stems)

    # -- reading

    def _flags(self, text: str) -> frozenset:
        if not text:
            return frozenset()
        if self._aliases and text.isdigit():
            index = int(text)
            return self._aliases[index - 1] if 0 < index <= len(self._aliases) else frozenset()
        if self._flag_mode == "long":
            return frozenset(text[i : i + 2] for i in range(0, len(text), 2))
        if self._flag_mode == "num":
            return frozenset(part.strip() for part in text.split(",") if part.strip())
        return frozenset(text)

    def _read_aff(self, path: str) -> None:
        with open(path, encoding="utf-8", errors="replace") as file:
            lines = file.read().splitlines()
        for line in lines:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            key = fields[0]
            if key == "FLAG" and len(fields) > 1:
                self._flag_mode = {"long": "long", "num": "num"}.get(fields[1], "char")
            elif key == "AF" and len(fields) > 1 and not fields[1].isdigit():
                self._aliases.append(self._flags(fields[1]))
            elif key in _SETTINGS and len(fields) > 1:
                setattr(self, _SETTINGS[key], fields[1])
            elif key == "COMPOUNDMIN" and len(fields) > 1 and fields[1].isdigit():
                self.compound_min = max(3, int(fields[1]))  # shorter compound parts accept too much
            elif key in ("PFX", "SFX") and len(fields) >= 4:
                if (key, fields[1]) not in self._cross and fields[2] in ("Y", "N") and fields[3].isdigit():
                    self._cross[(key, fields[1])] = fields[2] == "Y"  # the header: cross product allowed?
                else:
                    self._add_affix(key, fields)

    def _add_affix(self, kind: str, fields: list[str]) -> None:
        flag, strip, add = fields[1], fields[2], fields[3]
        add, _, continuation = add.partition("/")
        affix = _Affix(
            flag,
            "" if strip == "0" else strip.lower(),
            "" if add == "0" else add.lower(),
            fields[4].lower() if len(fields) > 4 else ".",
            self._cross.get((kind, flag), False),
            self._flags(continuation),
            kind == "SFX",
        )
        (self._suffixes if kind == "SFX" else self._prefixes).setdefault(affix.add, []).append(affix)

    def _read_dic(self, path: str) -> None:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = normalize_apostrophes(file.read())
        # "word/FLAGS morphology" per line; a line starting with blank space is a comment. Bulk operations
        # only (no Python loop over the ~80,000 lines): this is what keeps loading well under a second.
        entries = (_DIC_LINE_ESCAPED if "\\/" in text else _DIC_LINE).findall(text)
        if entries and entries[0][0].isdigit() and not entries[0][1]:
            entries = entries[1:]  # the entry count on the first line
        if "\\/" in text:
            entries = [(word.replace("\\/", "/"), flags) for word, flags in entries]
        if not entries:
            return
        spellings, flag_strings = zip(*entries)
        flag_sets = {flags: self._flags(flags) for flags in set(flag_strings)}
        if self.forbidden is not None:  # forbidden words are left out
            allowed = [flags for flags, flag_set in flag_sets.items() if self.forbidden not in flag_set]
            if len(allowed) != len(flag_sets):
                keep = list(map(set(allowed).__contains__, flag_strings))
                spellings = tuple(itertools.compress(spellings, keep))
                flag_strings = tuple(itertools.compress(flag_strings, keep))
        keys = "\n".join(spellings).lower().split("\n")
        values = list(zip(spellings, map(flag_sets.__getitem__, flag_strings)))
        self._stems = dict(zip(keys, values))  # the last entry of each word
        if len(self._stems) != len(keys):  # some words have several entries (German: a third of them)
            self._first_stems = dict(zip(reversed(keys), reversed(values)))
            counts = collections.Counter(keys)
            many = {key for key, count in counts.items() if count > 2}
            for key, value in itertools.compress(zip(keys, values), map(many.__contains__, keys)):
                self._more_stems[key] = self._more_stems.get(key, ()) + (value,)

    def _entries(self, key: str) -> tuple:
        """(spelling, flags) of the list's entries for one lower-cased stem."""
        last = self._stems.get(key)
        if last is None:
            return ()
        first = self._first_stems.get(key, last)
        if first is last:
            return (last,)
        return self._more_stems.get(key) or (first, last)

    # -- lookup

    def is_word(self, word: str) -> bool:
        """True when `word` (any case; ’ counts as ') is a word of this language, inflected or not."""
        return self.spelling(word) is not None

    __contains__ = is_word

    def spelling(self, word: str) -> Optional[str]:
        """`word` as the list writes it, or None when it is not a word: lower case for ordinary words
        ("PARKING" -> "parking"), "Paris", "NASA", "I" for words the list has only capitalised or in
        capitals (and German nouns: "PARKVERBOTE" -> "Parkverbote")."""
        return self._lookup(word)[0]

    def stems(self, word: str) -> tuple[str, ...]:
        """The list's stems `word` can be read from ("PARKED" -> ("park",)); () when it is not a word."""
        return self._lookup(word)[1]

    def _lookup(self, word: str) -> tuple[Optional[str], tuple[str, ...]]:
        key = normalize_apostrophes(word).lower()
        found = self._cache.get(key)
        if found is None:
            stems: list[str] = []
            if key:
                stems = [spelling for spelling, _ in self._analyses(key, standalone=True)]
                if not stems and self._compounds:
                    stems = self._compound(key)
            found = (_spelling_for(key, stems) if stems else None, tuple(dict.fromkeys(stems)))
            # The language's other spellings ("ARMOUR" beside "armor"), also where this list has the word
            # only as a name (en_US: "Armour").
            for variant, accepted in self.variants:
                if found[0] is None or found[0][:1].isupper():
                    other = variant._lookup(key)
                    if accepted(other[0] or ""):
                        found = other
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _analyses(self, word: str, standalone: bool) -> list[tuple[str, frozenset]]:
        """(stem spelling, flags) of every way to read `word`; flags are the stem's plus the affixes'
        continuation flags. `standalone`: as a whole word (not as a part of a compound)."""
        found = []
        for spelling, flags in self._entries(word):
            if standalone and (self._has(flags, self.need_affix) or self._has(flags, self.only_in_compound)):
                continue
            found.append((spelling, flags))
        found.extend((spelling, flags) for spelling, flags, _ in self._suffixed(word, standalone))
        for prefix, stem in self._strip_prefixes(word):
            for spelling, flags in self._entries(stem):
                if prefix.flag in flags:
                    found.append((spelling, flags | prefix.continuation))
            if prefix.cross:  # prefix and suffix on one stem
                for spelling, flags, suffix in self._suffixed(stem, False):
                    if suffix.cross and prefix.flag in flags:
                        found.append((spelling, flags | prefix.continuation))
        return found

    def _suffixed(self, word: str, standalone: bool) -> list[tuple[str, frozenset, _Affix]]:
        """(stem spelling, flags, outer suffix) of each reading of `word` as stem + one or two suffixes.

        Rules with the same ending and the same stripped letters share one stem: it is looked up once, and
        conditions (the slow part) are checked only for stems the list has.
        """
        found = []
        need = self.need_affix if standalone else None
        n = len(word)
        for length in range(min(n, self._max_suffix) + 1):
            groups = self._suffix_groups.get(word[n - length :])
            if groups is None:
                continue
            head = word[: n - length]
            for strip, rules in groups:
                stem = head + strip
                if not stem:
                    continue
                entries = self._entries(stem)
                for suffix in rules:
                    if need is not None and need in suffix.continuation:
                        continue
                    if entries and suffix.matches(stem):
                        for spelling, flags in entries:
                            if suffix.flag in flags:
                                found.append((spelling, flags | suffix.continuation, suffix))
                    # two suffixes: the inner one's continuation flags allow the outer one ("-ción" + "-es")
                    inner_rules = self._inner_suffixes.get(suffix.flag)
                    if inner_rules and suffix.matches(stem):
                        for inner, base in self._strip_suffixes(stem, inner_rules):
                            for spelling, flags in self._entries(base):
                                if inner.flag in flags:
                                    found.append((spelling, flags | suffix.continuation, suffix))
        return found

    def _strip_suffixes(self, word: str, rules: Optional[dict] = None):
        rules = self._suffixes if rules is None else rules
        for length in range(0, min(len(word), self._max_suffix) + 1):
            for affix in rules.get(word[len(word) - length :], ()):
                stem = word[: len(word) - length] + affix.strip
                if stem and affix.matches(stem):
                    yield affix, stem

    def _strip_prefixes(self, word: str):
        for length in range(0, min(len(word), self._max_prefix) + 1):
            for affix in self._prefixes.get(word[:length], ()):
                stem = affix.strip + word[length:]
                if stem and affix.matches(stem):
                    yield affix, stem

    def _compound(self, word: str) -> list[str]:
        """Stem spellings of the first part when `word` is a hunspell compound (German "parkverbot":
        parts flagged as compound beginning, middle and end), else []."""
        begin = {self.compound_begin, self.compound_flag} - {None}
        middle = {self.compound_middle, self.compound_flag} - {None}
        end = {self.compound_end, self.compound_flag} - {None}
        minimum, n = self.compound_min, len(word)
        if n < 2 * minimum or n > MAX_SPLIT_LENGTH:
            return []

        @functools.cache
        def part(start: int, stop: int) -> tuple[tuple[str, frozenset], ...]:
            return tuple(self._analyses(word[start:stop], standalone=False))

        def has(start: int, stop: int, wanted: set) -> list[str]:
            return [spelling for spelling, flags in part(start, stop) if flags & wanted]

        @functools.cache
        def rest(start: int, parts: int) -> bool:  # word[start:] is middle* end
            if has(start, n, end):
                return True
            return parts < 4 and any(
                has(start, cut, middle) and rest(cut, parts + 1) for cut in range(start + minimum, n - minimum + 1)
            )

        for cut in range(minimum, n - minimum + 1):
            first = has(0, cut, begin)
            if first and rest(cut, 1):
                return first
        return []

    @staticmethod
    def _has(flags: frozenset, flag: Optional[str]) -> bool:
        return flag is not None and flag in flags


def _spelling_for(key: str, stems: list[str]) -> str:
    """How to write the lower-case word `key` given the spellings of the stems it was read from."""
    if any(stem == stem.lower() for stem in stems):
        return key
    for stem in stems:
        if stem.lower() == key:
            return stem  # the word itself is in the list: "NASA", "McDonald", "I"
    if any(stem[:1].isupper() and stem[1:] == stem[1:].lower() for stem in stems):
        return key[:1].upper() + key[1:]
    return key.upper()


_DIC_LINE = re.compile(r"^([^\s/]+)(?:/(\S*))?", re.MULTILINE)
_DIC_LINE_ESCAPED = re.compile(r"^((?:[^\s/\\]|\\.)+)(?:/(\S*))?", re.MULTILINE)

_SETTINGS = {
    "NEEDAFFIX": "need_affix",
    "ONLYINCOMPOUND": "only_in_compound",
    "FORBIDDENWORD": "forbidden",
    "COMPOUNDFLAG": "compound_flag",
    "COMPOUNDBEGIN": "compound_begin",
    "COMPOUNDMIDDLE": "compound_middle",
    "COMPOUNDEND": "compound_end",
}


def _condition_regex(condition: str) -> str:
    """Hunspell affix condition ("[^aeiou]y", "ecer", ".") as a Python regex."""
    out, inside = [], False
    for char in condition:
        if char == "[":
            inside = True
            out.append(char)
        elif char == "]":
            inside = False
            out.append(char)
        elif inside:
            out.append("\\" + char if char in "\\]-" else char)
        else:
            out.append("." if char == "." else re.escape(char))
    return "".join(out)


def find_dictionary(language: str, dirs: Optional[Sequence[str]] = None) -> Optional[tuple[str, str]]:
    """(dic, aff) paths of the installed hunspell dictionary for an ISO 639-1 code ("en", "en-US"), or
    None. Looks in `dirs` (default: DICTIONARY_DIRS) for the preferred names, then any "<code>_*.dic"."""
    code = _base(language)
    if not code.isalpha():
        return None
    names = list(PREFERRED_DICTIONARIES.get(code, ())) + [code, f"{code}_{code.upper()}"]
    for directory in DICTIONARY_DIRS if dirs is None else dirs:
        found = sorted(glob.glob(os.path.join(directory, f"{code}_*.dic")))
        for name in names + [os.path.basename(path)[:-4] for path in found]:
            dic, aff = os.path.join(directory, name + ".dic"), os.path.join(directory, name + ".aff")
            if os.path.isfile(dic) and os.path.isfile(aff):
                return dic, aff
    return None


def vocabulary(language: str) -> Optional[Vocabulary]:
    """The word list for an ISO 639-1 code ("en", "en-US", "EN"), loaded on first use and cached; None
    when no hunspell dictionary is installed (Debian: hunspell-en-us, hunspell-es, hunspell-fr,
    hunspell-de-de ...) or it cannot be read. Never raises."""
    return _load_vocabulary(_base(language))


@functools.lru_cache(maxsize=16)
def _load_vocabulary(code: str) -> Optional[Vocabulary]:
    paths = find_dictionary(code)
    if paths is None:
        return None
    try:
        words = Vocabulary(*paths, language=code)
    except (OSError, UnicodeError, ValueError, IndexError):
        return None
    most_common = COMMON_WORDS.get(code, frozenset())

    def in_use(spelling: str) -> bool:
        if len(spelling) < 4 or not spelling.isalpha() or not spelling.islower():
            return False
        if any(spelling[:i] in most_common and spelling[i:] in most_common for i in range(1, len(spelling))):
            return False
        counts = word_frequencies(code)  # loaded on the first word this list is asked for, then cached
        return counts is not None and counts.count(spelling) >= VARIANT_MIN_COUNT

    for name in ALSO_DICTIONARIES.get(code, ()):
        for directory in DICTIONARY_DIRS:
            dic, aff = os.path.join(directory, name + ".dic"), os.path.join(directory, name + ".aff")
            if os.path.isfile(dic) and os.path.isfile(aff) and dic != paths[0]:
                try:
                    words.variants.append((Vocabulary(dic, aff, language=code), in_use))
                except (OSError, UnicodeError, ValueError, IndexError):
                    pass  # the first list alone still serves
                break
    return words


def clear_vocabularies() -> None:
    """Forget the loaded word lists (after installing a dictionary, or in tests)."""
    _load_vocabulary.cache_clear()
    mt_short_words.cache_clear()
    corrected_and_split.cache_clear()


def is_word(word: str, language: str) -> bool:
    """True when `word` is in the language's word list (False also when there is no word list)."""
    language = _base(language)
    words = vocabulary(language)
    return words is not None and _known(word, words, language)


def _known(word: str, words: Vocabulary, language: str) -> bool:
    if words.is_word(word):
        return True
    if language == "en":
        return normalize_apostrophes(word).lower() in _ENGLISH_CONTRACTIONS
    return False


_ENGLISH_CONTRACTIONS = frozenset(ENGLISH_CONTRACTIONS)


def normalize_apostrophes(text: str) -> str:
    """Typographic apostrophes (’ ʼ) as "'"."""
    for apostrophe in APOSTROPHES[1:]:  # str.replace: many times faster than str.translate on a large file
        text = text.replace(apostrophe, "'")
    return text


# --- splitting run-together words ------------------------------------------------------------------

_TOKEN = re.compile(r"\S+")
# leading punctuation, a word (letters with apostrophes between them), trailing punctuation
_CORE = re.compile(r"^(\W*?)([^\W\d_](?:[^\W\d_]|['’ʼ](?=[^\W\d_]))*)(\W*)$")
_NO_SPLIT: tuple[float, list[str]] = (float("inf"), [])


def _base(language: str) -> str:
    """ISO 639-1 code of a language name as documents carry it ("en", "en-US", "eng" -> "en"); an
    unknown code is returned lower-cased (it will simply have no word list)."""
    try:
        return languages.normalize(language)
    except UnsupportedLanguageError:
        return (language or "").strip().replace("-", "_").split("_")[0].lower()


def _ends_sentence(token: str) -> bool:
    stripped = token.rstrip("\"'”’»)]")
    return bool(stripped) and stripped[-1] in SENTENCE_END


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and word[1:].islower()


def _one_case(core: str) -> bool:
    """ "NOPARKING", "noparking", "Noparking" are split; mixed case ("iPhone", "McDONALD") is not."""
    letters = normalize_apostrophes(core).replace("'", "")
    return letters.isupper() or letters.islower() or _capitalised(letters)


class _Reader:
    """What splitting needs to know about one language: its word list, its common words, the words the
    caller asked to keep, and (loaded on first need) the short words Apertium's analyser knows."""

    def __init__(self, language: str, words: Vocabulary, keep: Iterable[str] = ()):
        self.language = language
        self.words = words
        self.common = COMMON_WORDS.get(language, frozenset())
        self.keep = frozenset(normalize_apostrophes(word).lower() for word in keep)
        self._mt_words: Optional[frozenset] = None
        self._mt_loaded = False
        self._glued: dict[str, bool] = {}
        self.frequencies: Optional[WordFrequencies] = word_frequencies(language)

    def known(self, word: str) -> bool:
        key = normalize_apostrophes(word).lower()
        return key in self.keep or key in self.common or _known(word, self.words, self.language)

    def bare_contraction(self, piece: str) -> Optional[str]:
        """ "DIDNT" -> "DIDN'T": an English contraction that lost its apostrophe, if the bare form is no word."""
        if self.language != "en":
            return None
        restored = BARE_CONTRACTIONS.get(piece.lower())
        if restored is None or self.words.is_word(piece):
            return None
        at = restored.index("'")
        return piece[:at] + "'" + piece[at:]

    def mt_words(self) -> Optional[frozenset]:
        if not self._mt_loaded:
            self._mt_words, self._mt_loaded = mt_short_words(self.language), True
        return self._mt_words

    def piece_cost(self, piece: str) -> Optional[float]:
        """Cost of one piece of a split, or None when it cannot be one.

        Each word costs about 1, so fewer (longer) words win: the language's most common words cost 0.9,
        other three-letter words 1.2, names (words the list writes capitalised) 1.3, a contraction
        without its apostrophe ("DIDNT", "IM") 1.5. Pieces shorter than three letters must be common
        words; other than names, pieces of three or four letters must also be known to Apertium's
        analyser when there is one (hunspell's rare short words, "obs", "ling", "res", would otherwise cut
        names and slang into pieces: "NOOBS" -> "NO OBS"); abbreviations ("ABS") are never pieces.
        """
        key = normalize_apostrophes(piece).lower()
        if key[:1] == "'" or key[-1:] == "'":
            return None
        if key in self.common:
            return 0.9
        if key in self.keep:
            return 1.0
        if key in BARE_CONTRACTIONS and self.bare_contraction(piece):
            return 1.5
        if len(key) < 3 or len(key.split("'")[0]) < 3 and key.split("'")[0] not in self.common:
            return None  # also "er's" in "END ER'S"
        spelling = self.words.spelling(key)
        if spelling is None:
            return 1.0 if self.language == "en" and key in _ENGLISH_CONTRACTIONS else None
        if spelling != key and len(spelling) > 1 and spelling.isupper():
            return None  # abbreviations ("ABS", "GMT") are not pieces of a split
        if len(key) <= 4 and spelling == key:  # (names pass: Apertium leaves them as they are anyway)
            mt_words = self.mt_words()
            if mt_words is not None and not any(stem.lower() in mt_words for stem in self.words.stems(key)):
                return None
        if spelling != key:
            if spelling[:1].isupper() and self._glued_common_words(key):
                return None  # "Togo" in "GOTTOGO" is "TO GO", as `token` reads "TOGO" alone
            return 1.3  # names; German nouns ("Parken") too, which is harmless: every German noun pays it
        return 1.2 if len(key) == 3 else 1.0

    def _glued_common_words(self, key: str) -> bool:
        """Whether a short word splits into the language's common words only ("togo" -> "to go")."""
        if len(key) > 8:
            return False
        found = self._glued.get(key)
        if found is None:
            pieces = [key[:cut] for cut in range(1, len(key))]
            found = any(
                piece in self.common
                and (key[len(piece) :] in self.common or self._glued_common_words(key[len(piece) :]))
                for piece in pieces
            )
            self._glued[key] = found
        return found

    def segment(self, word: str, whole: bool = True) -> tuple[float, list[str]]:
        """(cost, pieces) of the best split of `word` into known words; cost is infinite when there is none.

        Dynamic programming over cut positions (as in classic word segmentation): least total
        `piece_cost`, ties broken by the larger sum of squared piece lengths. Pieces keep the letters and
        case as given. `whole=False`: in two pieces at least.
        """
        n = len(word)
        if n > MAX_SPLIT_LENGTH:
            return _NO_SPLIT
        # best[i] = (cost, -sum of squared lengths, pieces) of word[:i]
        best: list[Optional[tuple[float, int, list[str]]]] = [None] * (n + 1)
        best[0] = (0.0, 0, [])
        for end in range(1, n + 1):
            for start in range(end):
                previous = best[start]
                if previous is None:
                    continue
                if not whole and start == 0 and end == n:
                    continue
                piece = word[start:end]
                cost = self.piece_cost(piece)
                if cost is None:
                    continue
                shown = (self.bare_contraction(piece) or piece) if cost == 1.5 else piece
                candidate = (previous[0] + cost, previous[1] - len(piece) ** 2, previous[2] + [shown])
                current = best[end]
                if current is None or candidate[:2] < current[:2]:
                    best[end] = candidate
        last = best[n]
        return (last[0], last[2]) if last is not None else _NO_SPLIT

    def more_likely_whole(self, word: str, pieces: list[str]) -> bool:
        """Whether the word counts make an unlisted word more likely as it is than split: "GAMESPACE" and
        "FABRICA" are words of gamers and of Spanish speakers writing English, not "GAME SPACE" or "FABRIC
        A"; "ANDA" (a name, though common on the web) is still less likely than "AND A"."""
        if self.frequencies is None or not self.frequencies.count(frequency_key(word)):
            return False
        whole = self.frequencies.word_log_probability(frequency_key(word))
        return whole > self.frequencies.phrase_log_probability([frequency_key(piece) for piece in pieces])

    def listed_whole(self, word: str) -> bool:
        """A word the list lacks that `split_words` keeps whole, as the word counts prefer ("GAMEWORLD")."""
        pieces = self.segment(word)[1]
        return len(pieces) > 1 and self.more_likely_whole(word, pieces)

    def common_split(self, word: str) -> tuple[float, list[str]]:
        """(cost, pieces) of the best split of `word` in two pieces or more when every piece is one of the
        language's common words ("TOGO" -> "TO GO"), else (inf, [])."""
        cost, pieces = self.segment(word, whole=False)
        if pieces and all(normalize_apostrophes(piece).lower() in self.common for piece in pieces):
            return cost, pieces
        return _NO_SPLIT

    def token(self, token: str, sentence_start: bool = True) -> Optional[tuple]:
        """(lead, core, trail, cost, pieces) for a token that may be split, None to leave it alone."""
        parts = _CORE.match(token)
        if not parts:
            return None  # digits, symbols inside ("GM", "125", "B-52", "e-mail")
        lead, core, trail = parts.groups()
        if (lead and lead[-1] in APOSTROPHES) or not _one_case(core):
            return None  # an elision ("'IM" for "him") or mixed case ("iPhone")
        if _capitalised(core) and not sentence_start:
            return None  # "Warcraft", "Ender's" inside a sentence: a name
        key = normalize_apostrophes(core).lower()
        if key in self.keep or key in self.common:
            return None
        spelling = self.words.spelling(key)
        if spelling is None and not _known(core, self.words, self.language):
            cost, pieces = self.segment(core)
            # "ANDA," is a name, not "AND A,": an article never ends a phrase
            last = normalize_apostrophes(pieces[-1]).lower() if pieces else ""
            if len(pieces) > 1 and trail[:1] and trail[0] in ",.;:!?" and last in NEVER_LAST.get(self.language, ()):
                return None
            if len(pieces) > 1 and self.more_likely_whole(core, pieces):
                return None
            return lead, core, trail, cost, pieces
        if spelling is not None or _known(core, self.words, self.language):
            # a word the list knows only as a name, written in capitals or lower case, is more likely two
            # glued common words ("TOGO" -> "TO GO", "ASA" -> "AS A") than the name
            if spelling and spelling[0].isupper() and not spelling.isupper() and not _capitalised(core):
                cost, pieces = self.common_split(core)
                if pieces:
                    return lead, core, trail, cost, pieces
            return None
        return (lead, core, trail) + self.segment(core)


@functools.lru_cache(maxsize=16)
def mt_short_words(language: str) -> Optional[frozenset]:
    """The language's hunspell stems of two to five letters that Apertium's analyser also knows (one
    `lt-proc` run over a few thousand stems, cached), or None without lt-proc, an analyser or a word list.

    Of 12,005 such en_US stems eng-spa's analyser knows 2,971: the rest are abbreviations and rare words
    ("obs", "ling", "res", "awned") that are poor pieces for a split.
    """
    language = _base(language)
    words, analyser, binary = vocabulary(language), find_analyser(language), shutil.which("lt-proc")
    if words is None or analyser is None or binary is None:
        return None
    stems = sorted(key for key in words._stems if 2 <= len(key) <= 5 and key.isalpha())
    try:
        result = subprocess.run(
            [binary, "-w", analyser], input="\n".join(stems), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return frozenset(
        surface.lower() for surface, readings in _LT_PROC_UNIT.findall(result.stdout) if not readings.startswith("*")
    )


_LT_PROC_UNIT = re.compile(r"\^([^/$]*)/([^$]*)\$")


def find_analyser(language: str) -> Optional[str]:
    """Path of an installed Apertium morphological analyser for the language (the largest
    `<code>-*.automorf.bin`, e.g. apertium-eng-spa's eng-spa.automorf.bin for "en"), or None."""
    code = _base(language)
    names = ([languages.iso3(code)] if code in languages.LANGUAGES else []) + [code]
    for directory in APERTIUM_DIRS:
        for name in names:
            found = glob.glob(os.path.join(directory, "*", f"{name}-*.automorf.bin"))
            if found:
                return max(found, key=os.path.getsize)
    return None


def _reader(language: str, keep: Iterable[str] = ()) -> Optional[_Reader]:
    language = _base(language)
    words = vocabulary(language)
    return None if words is None else _Reader(language, words, keep)


def segment(word: str, language: str, keep: Iterable[str] = ()) -> Optional[list[str]]:
    """The best split of one word into known words ("NOPARKING" -> ["NO", "PARKING"]), [word] when it is
    a known word itself, None when it cannot be split or there is no word list."""
    reader = _reader(language, keep)
    if reader is None or not word:
        return None
    if reader.known(word):
        return [word]
    return reader.segment(word)[1] or None


def has_odd_split(text: str, language: str) -> bool:
    """Whether a word of the text splits only into words none of which is common ("COWPANION" -> "COW PAN
    ION", a misread of "COMPANION"): such a line reads as words, but as likely misread as glued."""
    reader = _reader(language)
    if reader is None:
        return False
    common = reader.common | _ENGLISH_CONTRACTIONS
    for word in _LETTER_RUN.findall(text):
        if reader.known(word) or reader.listed_whole(word):
            continue  # ("GAMEWORLD": the word counts know it whole)
        pieces = reader.segment(word)[1]
        if len(pieces) > 1 and not any(normalize_apostrophes(piece).lower() in common for piece in pieces):
            return True
    return False


def split_words(text: str, language: str, keep: Iterable[str] = ()) -> str:
    """Put back the spaces OCR dropped between words: "NOPARKING!" -> "NO PARKING!", "IJUST WROTE" ->
    "I JUST WROTE", "DIDNT" -> "DIDN'T".

    Each whitespace-separated token that is not a known word is split into known words when it can be
    (`segment`); two neighbouring unknown tokens are joined when one of them cannot be split and the
    join reads as words ("PARKI NG" -> "PARKING", "ANDADIDN TREALLY" -> "AND A DIDN'T REALLY"). Kept as
    they are: known words ("THERAPIST", not "THE RAPIST"), tokens with digits or symbols ("GM 125",
    "A4", "B-52", "e-mail"), mixed case ("iPhone"), capitalised words inside a sentence (names:
    "Warcraft"), the words in `keep` (names and slang of the document, e.g. from `recurring_words`:
    "ANDA", "NOOBS") and anything that cannot be read as known words. Punctuation stays where it was
    ("(NOPARKING!)" -> "(NO PARKING!)"), with a space put after , ; : ! ? (and a full stop before a
    word) that OCR glued to the next word ("GIRL,YOU" -> "GIRL, YOU"; not in "3,522", "E.G." or
    "parking.com"); case and the whitespace between tokens are kept. Without a word list for
    `language` the text comes back unchanged.
    """
    reader = _reader(language, keep)
    if reader is None or not text:
        return text
    text = _spaced_punctuation(text)
    text = _TOKEN.sub(lambda match: _split_hyphenated(match.group(), reader), text)
    tokens = list(_TOKEN.finditer(text))
    starts = [True] + [_ends_sentence(match.group()) for match in tokens[:-1]]
    candidates = [reader.token(match.group(), start) for match, start in zip(tokens, starts)]
    replacements: dict[int, str] = {}  # token index -> new text; "" = joined onto the token before it
    index = 0
    while index < len(tokens):
        this = candidates[index]
        following = candidates[index + 1] if index + 1 < len(tokens) else None
        # join two unknown neighbours only when one of them reads as no words at all (a space OCR put
        # inside a word): two that split on their own keep the space OCR saw between them
        if (
            this is not None
            and following is not None
            and not this[2]
            and not following[0]
            and not (this[4] and following[4])
        ):
            joined_core = this[1] + following[1]
            if len(joined_core) <= MAX_JOIN_LENGTH and _one_case(joined_core):
                cost, pieces = reader.segment(joined_core)
                if cost < this[3] + following[3]:
                    replacements[index] = this[0] + " ".join(pieces) + following[2]
                    replacements[index + 1] = ""
                    index += 2
                    continue
        if this is not None and this[4]:
            replacements[index] = this[0] + " ".join(this[4]) + this[2]
        index += 1
    if not replacements:
        return text
    out, position = [], 0
    for index, replacement in sorted(replacements.items()):
        match = tokens[index]
        if replacement == "":  # joined: drop the space before the token as well as the token
            position = match.end()
            continue
        out.append(text[position : match.start()])
        out.append(replacement)
        position = match.end()
    out.append(text[position:])
    return "".join(out)


_HYPHENATED = re.compile(r"^(\W*?)([^\W\d_]+(?:-[^\W\d_]+)+)(\W*)$")


def _hyphen_parts(token: str, change: Callable[[str], str]) -> Optional[str]:
    """A hyphenated word ("LIKEAWIND-TUNNEL,") with `change` applied to each of its parts, its punctuation
    kept; None for any other token."""
    parts = _HYPHENATED.match(token)
    if not parts:
        return None
    lead, core, trail = parts.groups()
    return lead + "-".join(change(part) for part in core.split("-")) + trail


def _split_hyphenated(token: str, reader: _Reader) -> str:
    """Each part of a hyphenated token split on its own: "LIKEAWIND-TUNNEL" -> "LIKE A WIND-TUNNEL"."""

    def split(part: str) -> str:
        found = reader.token(part, sentence_start=True)
        return " ".join(found[4]) if found and found[4] else part

    return _hyphen_parts(token, split) or token


_TRAILING_QUOTE = re.compile(r"(?<=[^\W\d_sSnN])['’]$")


def drop_stray_quote(text: str) -> str:
    """A closing quote at the end of a text that opens none: a mark beside the text read as one (a road
    sign's arrow after "Sports Centre" read as "’"), which turns Apertium's "Centro de deportes" into
    "Los deportes Centran'". Kept: a quote the text opened, and an apostrophe after s or n ("the girls'",
    "goin'")."""
    stripped = text.rstrip()
    if not _TRAILING_QUOTE.search(stripped) or any(quote in stripped[:-1] for quote in "'‘’"):
        return text
    return stripped[:-1] + text[len(stripped) :]


def frequency_key(word: str) -> str:
    """A word as the word counts list it: lower case, apostrophes dropped ("DON'T" -> "dont")."""
    return normalize_apostrophes(word).lower().replace("'", "")


# How much more likely (as a log ratio: a factor of 20) a phrase must be with a word changed than as read.
CONTEXT_MARGIN = 3.0


def _real_word_look_alikes(core: str) -> list[str]:
    """`_look_alikes`, with M for N in capitals too: RapidOCR reads a lettered M as N mostly where that
    makes another word ("KILL THEN", "THE SANE"); in a word that is none ("NAW") an N is meant."""
    look_alikes = _look_alikes(core)
    if core.isupper():
        look_alikes = [found + "M" if char == "N" else found for char, found in zip(core, look_alikes)]
    return look_alikes


# Words that follow "it's" but never the possessive "its" (no noun comes next): "ITS TRUE?" is "IT'S TRUE?",
# "its own" stays. OCR loses the apostrophe of lettering, and Apertium then reads a possessive ("Su cierto").
NOT_AFTER_POSSESSIVE_ITS = frozenset(
    """
    a an the not no been being going gonna just so too all about true ok okay really only over like
    my your his her our their me you him us them that this these those what who in on at for from with by
    to here there now because still very more less fine done gone clear important good bad great late
    """.split()
)
_ITS = re.compile(r"\b(its|ITS|Its)(?=\s+([^\W\d_]+))")


def restore_its(text: str) -> str:
    """English "ITS" read without its apostrophe put back where the next word shows it is "it is":
    "ITS TRUE?" -> "IT'S TRUE?", "its not" -> "it's not"; "its own", "its name" stay."""

    def apostrophe(match: re.Match) -> str:
        if match.group(2).lower() not in NOT_AFTER_POSSESSIVE_ITS:
            return match.group(1)
        word = match.group(1)
        return word[:2] + "'" + word[2:]

    return _ITS.sub(apostrophe, text)


# Words after which "LETS" opens a phrase, so is "let's" (let us) rather than the verb of a subject
# ("SO LETS GO." but "SHE LETS ME").
OPEN_LETS_AFTER = frozenset("so ok okay now then well and but yes yeah right oh come on alright please".split())
# Objects after which "lets" is the verb ("LETS ME IN").
NOT_AFTER_LET_US = frozenset("me him her it us them you one".split())


def restore_lets(text: str) -> str:
    """English "LETS" read without its apostrophe put back where it opens a phrase: "SO LETS GO." -> "SO
    LET'S GO.", "lets see" -> "let's see"; "SHE LETS ME IN", "LETS ME" stay."""
    tokens = text.split(" ")
    for index, token in enumerate(tokens):
        parts = _CORE.match(token)
        if not parts or parts.group(2).lower() != "lets" or parts.group(3) or index + 1 >= len(tokens):
            continue
        following = _CORE.match(tokens[index + 1])
        if not following or following.group(1) or following.group(2).lower() in NOT_AFTER_LET_US:
            continue
        previous = _CORE.match(tokens[index - 1]) if index > 0 else None
        # first in its phrase: at the start, after punctuation, or after a token that is no word
        if previous is None or parts.group(1) or previous.group(3) or previous.group(2).lower() in OPEN_LETS_AFTER:
            core = parts.group(2)
            tokens[index] = parts.group(1) + core[:3] + "'" + core[3:] + parts.group(3)
    return " ".join(tokens)


def correct_in_context(text: str, language: str, keep: Iterable[str] = ()) -> str:
    """Misreads that make another real word, and spaces put one letter off, corrected by the words round
    them, with the language's word-pair counts (`word_frequencies`): "KILL THEN," -> "KILL THEM,", "THE
    SANE PEOPLE" -> "THE SAME PEOPLE", "Lake me last" -> "take me last" (one look-alike letter, as
    `correct_misreads` swaps them), "THE AS SEND OF" -> "THE ASS END OF", "LET MES CRY" -> "LET ME SCRY"
    (a letter moved across a space). A change is made only where it makes the phrase round it (a word
    either side, within one phrase: punctuation ends it) more likely by `CONTEXT_MARGIN`; "AND THEN A"
    stays. Names and words in `keep`, mixed case and tokens with digits are never changed. In English,
    "ITS" before a word no noun is and "LETS" opening a phrase get their apostrophes back first
    (`restore_its`, `restore_lets`). Without word counts (languages other than English) or a word list the
    text comes back otherwise unchanged. Run after `split_words`."""
    if _base(language) == "en":
        text = restore_lets(restore_its(text))
    reader = _reader(language, keep)
    if reader is None or reader.frequencies is None or not text:
        return text
    frequencies = reader.frequencies
    tokens = [match.group() for match in _TOKEN.finditer(text)]
    spaces = _TOKEN.split(text)  # the whitespace round the tokens, kept as it was
    parts = [_CORE.match(token) for token in tokens]
    # (lead, word, trail) of each token that is a word in one case, None for others ("GM", "125", "iPhone")
    words_at: list[Optional[tuple[str, str, str]]] = [
        (part.group(1), part.group(2), part.group(3)) if part and _one_case(part.group(2)) else None for part in parts
    ]

    def changeable(core: str) -> bool:
        key = normalize_apostrophes(core).lower()
        return key not in reader.keep and not (_capitalised(core) and reader.words.spelling(key) not in (None, key))

    def context(index: int) -> tuple[str, str]:
        """The words before and after token `index` within its phrase (SENTENCE_EDGE at punctuation)."""
        this = words_at[index]
        if this is None:
            return SENTENCE_EDGE, SENTENCE_EDGE
        before = words_at[index - 1] if index > 0 else None
        after = words_at[index + 1] if index + 1 < len(tokens) else None
        previous = frequency_key(before[1]) if before and not before[2] and not this[0] else SENTENCE_EDGE
        following = frequency_key(after[1]) if after and not after[0] and not this[2] else SENTENCE_EDGE
        return previous, following

    def gain(previous: str, read: list[str], changed: list[str], following: str) -> float:
        score = frequencies.phrase_log_probability
        as_read = [previous] + [frequency_key(word) for word in read] + [following]
        return score([previous] + [frequency_key(word) for word in changed] + [following]) - score(as_read)

    def word(piece: str) -> bool:
        return reader.piece_cost(piece) is not None or reader.known(piece) and len(piece) > 2

    for index in range(len(tokens)):
        this = words_at[index]
        if this is None or not changeable(this[1]):
            continue
        lead, core, trail = this
        previous, following = context(index)
        # one look-alike letter that makes another word ("THEN" -> "THEM"; a word that is none is
        # `correct_misreads`' to mend)
        best, best_gain = core, CONTEXT_MARGIN
        for position, alternatives in enumerate(_real_word_look_alikes(core) if reader.known(core) else []):
            for letter in alternatives:
                variant = core[:position] + letter + core[position + 1 :]
                if word(variant) and frequencies.count(frequency_key(variant)):
                    found = gain(previous, [core], [variant], following)
                    if found > best_gain:
                        best, best_gain = variant, found
        if best != core:
            words_at[index] = (lead, best, trail)
            tokens[index] = lead + best + trail
            continue
        # a letter across the space to the next word ("AS SEND" -> "ASS END")
        after = words_at[index + 1] if index + 1 < len(tokens) else None
        if trail or after is None or after[0] or not changeable(after[1]) or following == SENTENCE_EDGE:
            continue
        if not (word(core) and word(after[1])):
            continue  # only between two words ("FAHRENHEITS HAD" is no "FAHRENHEIT SHAD")
        next_core = after[1]
        beyond = context(index + 1)[1]
        moves = [(core + next_core[:1], next_core[1:]), (core[:-1], core[-1:] + next_core)]
        best_pair, best_gain = (core, next_core), CONTEXT_MARGIN
        for first, second in moves:
            if first and second and word(first) and word(second):
                found = gain(previous, [core, next_core], [first, second], beyond)
                if found > best_gain:
                    best_pair, best_gain = (first, second), found
        if best_pair != (core, next_core):
            words_at[index], words_at[index + 1] = (lead, best_pair[0], ""), ("", best_pair[1], after[2])
            tokens[index], tokens[index + 1] = lead + best_pair[0], best_pair[1] + after[2]
    return "".join(space + token for space, token in zip(spaces, tokens)) + spaces[-1]


# What OCR engines read for a letter, and what was meant (each key: the letters it may stand for). In
# hand-lettered and tracked capitals RapidOCR reads U as L ("YOL", "RLSHING", "FORTLNE"), I as T ("TLL" for
# I'LL, "TM" for I'M), O as C, G or Q ("CF", "GVER", "NGGBS", "QBNOXIOUS"); digits stand for look-alike
# letters. In the small lower-case type of chat lines it reads m as n ("noney"), h as n ("tne"), t as c
# ("che"), w as u ("uho", "ouners"), g as q ("qo"), o as e ("yeu"), i as l ("belng"), d as a or c ("aon't",
# "con't"), and a sentence's capital T as L ("Lhe") or F as T ("Triend").
MISREADS = {
    "L": "U",
    "T": "I",
    "C": "O",
    "G": "O",
    "Q": "O",
    "1": "I",
    "|": "I",
    "0": "O",
    "4": "A",
    "5": "S",
    "8": "B",
}
LOWER_CASE_MISREADS = {"n": "mh", "c": "td", "l": "i", "u": "w", "q": "g", "e": "o", "a": "d", "1": "l", "0": "o"}
CAPITALISED_MISREADS = {"L": "T", "T": "F"}  # the first letter of a word otherwise in lower case
# Misreads seen often enough to correct only where they make a short reading a common word ("GAN" -> "CAN"):
# in longer tokens they would make splits of words ("GUESS" -> "C ESS", "GIRL" -> "CIR").
SHORT_WORD_MISREADS = {"G": "C"}
MAX_MISREADS = 2  # per token: more substitutions would turn noise into words
# a token in capitals, lower case or capitalised (the case `_one_case` accepts), digits and | among its letters
_MISREAD_TOKEN = re.compile(r"^(\W*?)([A-Za-z0-9|]*[A-Za-z|](?:[A-Za-z0-9|]|['’](?=[A-Za-z]))*)(\W*)$")


def _look_alikes(core: str) -> list[str]:
    """For each character of a token, the letters it may be a misreading of ("" for none)."""
    if core.upper() == core:
        return [MISREADS.get(char, "") for char in core]
    first = CAPITALISED_MISREADS.get(core[0], "") if core[0].isupper() else LOWER_CASE_MISREADS.get(core[0], "")
    return [first] + [LOWER_CASE_MISREADS.get(char, "") for char in core[1:]]


def correct_misreads(text: str, language: str, keep: Iterable[str] = ()) -> str:
    """Tokens that read as no words, corrected where swapping up to two look-alike characters (`MISREADS`
    for capitals, `LOWER_CASE_MISREADS` for lower case) makes them read as words: "YOL" -> "YOU",
    "RLSHING" -> "RUSHING", "BLTWHO" -> "BUTWHO" (which `split_words` then splits), "noney" -> "money".
    Known words, mixed case, numbers and codes ("GM 125": no letter swap reads better) stay as they are;
    so do names, which a swap never makes ("LOL" is not "Lou"). Run before `split_words`."""
    reader = _reader(language, keep)
    if reader is None or not text:
        return text

    def cost_of(core: str) -> float:
        key = normalize_apostrophes(core).lower()
        if key in reader.keep:
            return 0.9  # a word of the document: its names and slang ("LLCY" -> "LUCY" where LUCY was read)
        spelling = reader.words.spelling(key)
        # ("I'M" is written capitalised too, and is no name)
        if spelling is not None and spelling[:1].isupper() and key not in reader.common | _ENGLISH_CONTRACTIONS:
            return math.inf  # a name ("LOL" -> "Lou"): no evidence that a letter was misread
        if reader.known(core):
            return 0.9
        return reader.segment(core)[0]

    def common(word: str) -> bool:
        key = normalize_apostrophes(word).lower()
        return key in reader.common or key in BARE_CONTRACTIONS or key in _ENGLISH_CONTRACTIONS

    def fix_token(match: re.Match) -> str:
        # each part of "BIKINI-ARMCUR" on its own; a one-letter part stays ("T-SHIRTS" is no "I-SHIRTS")
        token = match.group()
        return _hyphen_parts(token, lambda part: part if len(part) < 2 else fix(part)) or fix(token)

    def fix(token: str) -> str:
        parts = _MISREAD_TOKEN.match(token)
        if not parts or not _one_case(parts.group(2).replace("|", "I")):  # a bar is a capital I misread
            return token
        lead, core, trail = parts.groups()
        look_alikes = _look_alikes(core)
        # A lone capital that is no word, where its look-alike is one: "T" for "I" ("WELL, T JUST").
        if len(core) == 1:
            if core.isupper() and core.lower() not in reader.common:
                meant = next((char for char in look_alikes[0] if char.lower() in reader.common), core)
                return lead + meant + trail
            return token
        # Two letters at least: "A4" and "B52" are codes, not misread words. (A bar is always a misread:
        # "|5" is "IS".)
        if sum(char.isalpha() for char in core) < 2 and "|" not in core:
            return token
        # A short token that is no common word but one swap away from one is that word misread: the list
        # knows "CF", "TM", "HL" as abbreviations, yet in lettering they are "OF", "IM" ("I'M"). Only into a
        # common word: "TV" stays, not "IV".
        key = normalize_apostrophes(core).lower()
        if len(key.replace("'", "")) <= 3 and not common(key) and key not in reader.keep:
            for index, alternatives in enumerate(look_alikes):
                if core.isupper():
                    alternatives += SHORT_WORD_MISREADS.get(core[index], "")
                for char in alternatives:
                    variant = core[:index] + char + core[index + 1 :]
                    if common(variant):
                        return lead + variant + trail
        if reader.known(core):
            return token
        positions = [index for index, alternatives in enumerate(look_alikes) if alternatives]
        if not positions or len(positions) > 6:
            return token
        best_cost, best = cost_of(core), core
        # lower case keeps its spaces (run-together words are a trouble of tracked capitals): there a swap
        # must make one word, or "raynond" would become "ray hond"
        one_word = not core.isupper()
        for count in range(1, MAX_MISREADS + 1):
            for chosen in itertools.combinations(positions, count):
                for letters in itertools.product(*(look_alikes[index] for index in chosen)):
                    swapped = dict(zip(chosen, letters))
                    variant = "".join(swapped.get(index, char) for index, char in enumerate(core))
                    # each swap must pay for itself: a word or split must be clearly better than the reading
                    cost = cost_of(variant) + 0.5 * count
                    if cost < best_cost and not (one_word and cost > 0.9 + 0.5 * count):
                        best_cost, best = cost, variant
        return lead + best + trail

    def number_apart(match: re.Match) -> str:
        # A common word glued to a number ("THAN400,000", "400POUNDS"); codes ("GM125", "MP3", "A4") and
        # unknown words ("COVID19") stay as read.
        parts = _GLUED_NUMBER.match(match.group())
        if not parts:
            return match.group()
        lead, word_first, number_after, number_first, word_after, trail = parts.groups()
        word = word_first or word_after
        if word.lower() not in reader.common:
            return match.group()
        return lead + (f"{word} {number_after}" if word_first else f"{number_first} {word}") + trail

    def i_for_slash(part: re.Match) -> str:
        word = part.group(1) + "I" + part.group(2)
        return word if reader.known(word) else part.group()

    def slash_as_i(match: re.Match) -> str:
        # Italic capitals: OCR reads a slanted I as a slash ("FAHRENHE/T", "EXPULS/ON"). Where the I makes
        # a known word of the letters round it; an address or "AND/OR" keeps its slash.
        token = match.group()
        return token if _is_address(token) else _SLASHED.sub(i_for_slash, token)

    # A slash read for an I, punctuation glued between two words ("SHIT!T'M" -> "SHIT! T'M") and words
    # glued to numbers first, so each word is judged alone.
    text = _TOKEN.sub(slash_as_i, text)
    text = _spaced_punctuation(text)
    return _TOKEN.sub(fix_token, _TOKEN.sub(number_apart, text))


# capitals on both sides of a slash
_SLASHED = re.compile(r"([A-Z]+)/([A-Z]+)")
# a word of three letters or more and a number written together, either way round
_GLUED_NUMBER = re.compile(r"^(\W*?)(?:([^\W\d_]{3,})(\d[\d,.]*\d|\d)|(\d[\d,.]*\d|\d)([^\W\d_]{3,}))(\W*)$")


# a word or number, punctuation, and a word with no space after it: "GIRL,YOU", "PROBLEM.MY", "12.AND"
# ... or a contraction ("SHIT!T'M"), or the one-letter words I and A (and T, I misread) ending the token
# ("YEAH,I", "SARGE.I", "WELL,T"; not "E.G.", one letter before).
_INNER_PUNCTUATION = re.compile(r"(?<=[^\W_]{2})([,;:!?*]+|\.)(?=([^\W\d_]{2,}|[^\W\d_]['’ʼ][^\W\d_]|[IAT]$))")
# after a full stop, these are the end of a web or file name rather than a new sentence
_NAME_ENDINGS = frozenset(
    "com org net edu gov info biz io co uk us de es fr it eu html htm php jpg png gif pdf txt doc zip exe".split()
)


def _is_address(token: str) -> bool:
    """A web or mail address ("www.parking.com", "a@b.es", "http://x"): its punctuation is its own."""
    return "@" in token or "://" in token or token.lower().startswith("www.")


def _space_after_punctuation(token: str) -> str:
    """ "GIRL,YOU" -> "GIRL, YOU", "PROBLEM.MY" -> "PROBLEM. MY"; leaves numbers ("3,522", "10:30"),
    abbreviations ("E.G.", "U.S."), addresses ("www.parking.com", "a@b.es", "http://x") alone."""
    if _is_address(token) or "/" in token:
        return token

    def space(match: re.Match) -> str:
        after = match.string[match.end(2) : match.end(2) + 1]  # "ANDA.IT'S" is no address in Italy
        if match.group(1) == "." and match.group(2).lower() in _NAME_ENDINGS and not (after and after in "'’ʼ"):
            return "."
        return match.group(1) + " "

    return _INNER_PUNCTUATION.sub(space, token)


def _spaced_punctuation(text: str) -> str:
    """`_space_after_punctuation` applied to every token of a text, its other spacing kept."""
    return _TOKEN.sub(lambda match: _space_after_punctuation(match.group()), text)


def names_in(texts: Iterable[str], language: str) -> set[str]:
    """Names (lower case) read in `texts`: words the list writes capitalised ("Lucy", "Mexico"), to pass as
    `keep` to `correct_misreads`, which otherwise never turns a misread into a name ("LOL" is not "Lou";
    "LLCY" is "LUCY" on a page where LUCY was read)."""
    reader = _reader(language)
    if reader is None:
        return set()
    names = set()
    for text in texts:
        for word in _LETTER_RUN.findall(text or ""):
            key = normalize_apostrophes(word).lower()
            spelling = reader.words.spelling(key)
            if not (len(key) >= 3 and spelling and spelling[0].isupper() and not spelling.isupper()):
                continue
            if key in reader.common or key in _ENGLISH_CONTRACTIONS:
                continue  # "I've" is written capitalised, and is no name
            if reader.common_split(word)[1]:
                continue  # "TOGO" is "TO GO" glued, as `split_words` reads it
            names.add(key)
    return names


def recurring_words(texts: Iterable[str], language: str, min_count: int = 2, names: Iterable[str] = ()) -> set[str]:
    """Words (lower case) the word list does not know that occur at least `min_count` times as tokens of
    their own in `texts` (all the text of a page, or of a whole comic): names and slang ("anda",
    "noobs", "gamespace"), to pass as `keep` to `split_words` so they are not cut into pieces.

    A word that can be split must occur once more than `min_count`, and more often than its split does
    in the same texts: "ANDA" (15 times) is a name, not "AND A" (3 times); "KILLTHEM" (3 times, glued
    by OCR) is not kept when "KILL THEM" occurs 10 times, nor "ALLTHE" glued twice by OCR. A sign glued
    the same way on every photo stays glued. Words a look-alike letter makes known ("gane", "tne": see
    `correct_misreads`) or makes one of `names` (lower case: names read on the page, "LLCY" where "LUCY"
    was read) are misreads, however often read.
    """
    names = set(names)
    reader = _reader(language)
    if reader is None:
        return set()
    texts = list(texts)
    counts: collections.Counter = collections.Counter()
    as_read: dict[str, str] = {}  # a word's first reading, in its case (look-alikes depend on the case)
    lines = []  # the texts as lower-case words between spaces, to count the splits as phrases
    for text in texts:
        cores = []
        # words glued by punctuation count as read apart ("ANDA,WHERE" is a reading of ANDA)
        for token in _spaced_punctuation(text or "").split():
            parts = _CORE.match(token)
            core = normalize_apostrophes(parts.group(2)).lower() if parts else token.lower()
            cores.append(core)
            if parts and len(core) >= 3 and not reader.known(core):
                counts[core] += 1
                as_read.setdefault(core, parts.group(2))
        lines.append(" " + " ".join(cores) + " ")
    kept = set()
    for word, count in counts.items():
        if count < min_count or correct_misreads(as_read[word], language, names) != as_read[word]:
            continue  # ... and a word misread the same way twice ("gane" for "game") is still a misread
        pieces = reader.segment(word)[1]
        phrase = " " + " ".join(pieces).lower() + " "
        if not pieces or (count > min_count and count > sum(line.count(phrase) for line in lines)):
            kept.add(word)
    return kept


@functools.lru_cache(maxsize=8192)
def corrected_and_split(text: str, language: str) -> tuple[str, str]:
    """(`correct_misreads`, then `split_words` of that) of a text with no words to keep: a line as an OCR
    reader passes it on. Cached: a line's crops and engines often read it alike, and it is scored more
    than once (whether it reads as words, then which reading is best)."""
    corrected = correct_misreads(text, language)
    return corrected, split_words(corrected, language)


def word_score(text: str, language: str, keep: Iterable[str] = ()) -> tuple[int, int]:
    """(letters in known words, -letters in other words) of a text: how much of it reads as words.

    Words are the runs of letters (with inner apostrophes), so punctuation OCR glued between two words
    ("YEAH,I", "NON-PLAYER") does not make them unknown; letters mixed with digits ("WR0TE") count as
    unknown pieces."""
    reader = _reader(language, keep)
    known = unknown = 0
    for word in _LETTER_RUN.findall(text):
        letters = len(word) - sum(char in APOSTROPHES for char in word)
        if (
            reader is not None
            and (len(word) > 2 or word.lower() in reader.common)
            # kept whole by the counts only in one case: "SportsCentre" is two words glued by OCR
            and (reader.known(word) or (_one_case(word) and reader.listed_whole(word)))
        ):
            known += letters
        else:
            unknown += letters
    return known, -unknown


_LETTER_RUN = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*")


def best_reading(candidates: Iterable[str], language: str, keep: Iterable[str] = ()) -> str:
    """Of several readings of one line (two OCR engines, two page segmentations), the one with most
    letters in known words (`word_score`); ties go to the earlier candidate. "" for no candidates; the
    first non-blank candidate when there is no word list. Apply `split_words` to the result to fix what
    is left."""
    readings = [candidate for candidate in candidates if candidate is not None]
    if not readings:
        return ""
    if vocabulary(_base(language)) is None:
        return next((reading for reading in readings if reading.strip()), readings[0])
    keep = list(keep)
    # A reading with letters beats an empty one even when none of its words is known: the line is there
    # ("FROWALLTHEUNMLITED" read by one engine, nothing by the other).
    scores = [
        (known, known > 0 or unknown < 0, unknown)
        for known, unknown in (word_score(r, language, keep) for r in readings)
    ]
    best = max(scores)
    tied = [reading for reading, score in zip(readings, scores) if score == best]
    chosen = tied[0]
    # Of readings as good, one whose words are far likelier together (the word counts, by `CONTEXT_MARGIN`):
    # "CONSTANT COMPANION IN HER LIFE" over "CONSTANT COW PAN ION IN HER LIFE", a misread split into words.
    frequencies = word_frequencies(_base(language))
    if len(tied) > 1 and frequencies is not None:

        def likelihood(reading: str) -> float:
            return frequencies.phrase_log_probability([frequency_key(word) for word in _LETTER_RUN.findall(reading)])

        likelihoods = [likelihood(reading) for reading in tied]
        likeliest = max(range(len(tied)), key=likelihoods.__getitem__)
        if likelihoods[likeliest] > likelihoods[0] + CONTEXT_MARGIN:
            chosen = tied[likeliest]
    # Of readings as good, the same letters with more spaces (the first such reading among equals):
    # RapidOCR drops the gap between a model's letters and its number ("GM125"), Tesseract keeps it.
    letters = "".join(chosen.split())
    return max((reading for reading in tied if "".join(reading.split()) == letters), key=lambda r: len(r.split()))


# --- hyphens at line ends ----------------------------------------------------------------------------


def _is_cjk(char: str) -> bool:
    # as transmodal.fonts.is_cjk, without importing Pillow into this text-only module
    code = ord(char) if char else 0
    return 0x3000 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF


_LAST_WORD = re.compile(r"([^\W_]+)[" + HYPHENS + r"]$")
_FIRST_WORD = re.compile(r"^([^\W_]+)")


def join_hyphenated(lines: Sequence[str], language: str) -> str:
    """Lines of one text block joined by spaces, with words hyphenated at a line end put back together.

    "PARK-" + "ING" -> "PARKING" when the joined form is a word; "WELL-" + "KNOWN" -> "WELL-KNOWN" when it
    is not (a real hyphenated compound). Without a word list: the hyphen is dropped before a lower-case
    continuation ("park-" + "ing"), kept (with no space) before capitals. A hyphen next to digits is kept
    ("B-" + "52" -> "B-52"). CJK lines join with no space; other lines with one space.
    A drop-in for executors/text_detector/backends.py join_lines that also handles capitals.
    """
    words = vocabulary(_base(language))
    joined = ""
    for text in (line.strip() for line in lines):
        if not text:
            continue
        if not joined:
            joined = text
            continue
        end, start = _LAST_WORD.search(joined), _FIRST_WORD.match(text)
        if end and start:
            head, tail = end.group(1), start.group(1)
            if not (head + tail).isalpha():
                glue = False  # a code: "B-" + "52" -> "B-52"
            elif words is not None:
                glue = _known(head + tail, words, _base(language))
            else:
                glue = tail[:1].islower()
            joined = joined[:-1] + text if glue else joined[:-1] + "-" + text
        elif _is_cjk(joined[-1]) and _is_cjk(text[0]):
            joined += text
        else:
            joined += " " + text
    return joined


# --- capitals ---------------------------------------------------------------------------------------


# A token of program code: a call or an index (a bracket right after a name; OCR often reads a code
# font's as a full-width one), an assignment, a statement's end, a brace, an attribute, a snake_case name.
_CODE_TOKEN = re.compile(r"\w[(（\[]|=|;$|[{}]|\w\.\w|\w_\w")


def needs_no_translation(line: str) -> bool:
    """Text to leave exactly as it is in any language: a line of program code (after a `>>>` prompt, or
    with most of its tokens code: `markers = np.zeros_like(coins)`, a web or mail address) or a lone
    possessive, which on a sign is a shop's name (FOSTER'S, MACY'S) that machine translation would turn
    into words ("ADOPTIVO ES")."""
    text = line.strip()
    tokens = text.split()
    if not tokens:
        return False
    if text.startswith(">>>"):
        return True
    if re.fullmatch(r"[^\W\d_]+['’][sS]", text):
        return True
    return sum(bool(_CODE_TOKEN.search(token)) for token in tokens) >= 0.5 * len(tokens)


def _cased_letters(text: str) -> list[str]:
    # ß has no one-letter capital in common use: it does not make capitals text lower case.
    return [char for char in text if char.isalpha() and char not in "ßŉ" and char.upper() != char.lower()]


def is_all_caps(text: str) -> bool:
    """True for text written in capitals: at least two cased letters and none of them lower case
    ("NO PARKING", "STRAßE", "B-52 OK"); False for "A", "Hello", "123"."""
    letters = _cased_letters(text)
    return len(letters) >= 2 and all(char.isupper() for char in letters)


def mend_inner_capitals(text: str, language: str) -> str:
    """Words read with capitals inside them in lower case where that makes a known word: some lettering
    draws a letter as its capital ("pRioRy galleRies", a real shop sign), and OCR reads what it sees. The
    first letter keeps its case; words mostly in capitals, and names and brands spelt with inner capitals
    ("iPhone", "McDonald", "YouTube": no lower-case word of the dictionary) stay as they are."""
    reader = _reader(language)
    if reader is None:
        return text

    def word(match: re.Match) -> str:
        core = match.group(0)
        letters = _cased_letters(core)
        upper = sum(char.isupper() for char in letters)
        # (mostly capitals, "JuST", is the other misreading: `capitals_throughout`)
        if not any(char.isupper() for char in core[1:]) or upper >= len(letters) - upper:
            return core
        mended = core[0] + core[1:].lower()
        spelling = reader.words.spelling(normalize_apostrophes(mended).lower())
        return mended if spelling is not None and spelling == spelling.lower() else core

    return _WORD.sub(word, text)


def lettered_in_capitals(texts: Iterable[str]) -> bool:
    """Whether a page's texts (its lines or blocks) are lettered in capitals, as comics are: at least five
    with letters, and four in five of those all capitals."""
    cased = [is_all_caps(text) for text in texts if any(char.isalpha() for char in text)]
    return len(cased) >= 5 and sum(cased) >= 0.8 * len(cased)


def capitals_throughout(text: str) -> str:
    """Words read with a few lower-case letters among capitals ("JuST", "LuCY", "LUCy") in capitals: on a
    page lettered in capitals (`lettered_in_capitals`) the lower-case ones are misreadings of letters that
    look alike in both cases ("I'm" too). Words mostly in lower case are left as they are."""

    def word(match: re.Match) -> str:
        letters = _cased_letters(match.group(0))
        upper = sum(char.isupper() for char in letters)
        return match.group(0).upper() if len(letters) >= 2 and 1 <= upper >= len(letters) - upper else match.group(0)

    return _WORD.sub(word, text)


def is_title_case(text: str) -> bool:
    """True when every word of two or more letters starts with a capital and goes on in lower case, and
    the text is not all capitals ("Double Parking", "No Parking Here")."""
    cores = [parts.group(2) for parts in map(_CORE.match, text.split()) if parts]
    cores = [core for core in cores if len(core) >= 2]
    return (
        bool(cores)
        and not is_all_caps(text)
        and all(core[0].isupper() and (core[1:].islower() or not _cased_letters(core[1:])) for core in cores)
    )


_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")
_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ][^\W\d_]+)*")


def to_sentence_case(text: str, language: str) -> str:
    """Capitals to sentence case, for translation: "DOUBLE PARKING IS NOT ALLOWED. I'M HERE!" ->
    "Double parking is not allowed. I'm here!".

    Words go to lower case except: the first word of each sentence (after . ! ? … and an opening ¡ ¿ " (),
    English "I" and its contractions, words the word list spells only capitalised or in capitals
    ("Paris", "NASA"; German nouns), words it does not know (likely names: "ANDA" -> "Anda"; with no
    vowel, abbreviations: "BMW" stays), and codes: tokens with digits and short words next to them ("A4",
    "B-52", "GM 125" stay as given). Without a word list only sentence starts and English "I" are
    capitalised. Meant for all-capitals text (see `is_all_caps`); other text is lower-cased the same way.
    """
    language = _base(language)
    words = vocabulary(language)
    common = COMMON_WORDS.get(language, frozenset())
    tokens = list(re.finditer(r"\S+", text))
    codes = [any(char.isdigit() for char in token.group()) for token in tokens]
    out, position, sentence_start = [], 0, True
    for index, match in enumerate(tokens):
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group()
        near_code = (index > 0 and codes[index - 1]) or (index + 1 < len(tokens) and codes[index + 1])
        letters = "".join(char for char in token if char.isalpha())
        if codes[index] or (near_code and len(letters) <= 3 and letters.lower() not in common):
            out.append(token)
        else:
            pieces, last = [], 0
            for word in _WORD.finditer(token):
                pieces.append(token[last : word.start()])
                pieces.append(_case_word(word.group(), language, words, sentence_start))
                sentence_start = False
                last = word.end()
            pieces.append(token[last:])
            out.append("".join(pieces))
        sentence_start = _ends_sentence(token) or (sentence_start and not token.strip("\"'”’»)]"))
    out.append(text[position:])
    return "".join(out)


def _case_word(word: str, language: str, words: Optional[Vocabulary], sentence_start: bool) -> str:
    lower = word.lower()
    if language == "en" and normalize_apostrophes(lower).split("'")[0] == "i":
        return "I" + lower[1:]
    if len(word) == 1 and lower not in COMMON_WORDS.get(language, ()):
        return word  # a letter on its own: "PLAN B", "VITAMIN C"
    cased = lower
    if words is not None:
        spelling = words.spelling(lower)
        if spelling is not None and len(spelling) == len(word):
            cased = spelling  # "Paris", "NASA", German nouns
        elif spelling is None and not _known(lower, words, language) and len(lower) >= 2:
            if not any(char in _VOWELS for char in lower):
                return word  # an abbreviation ("BMW", "XYZ")
            cased = lower[0].upper() + lower[1:]  # not a known word: likely a name
    if sentence_start and cased:
        cased = cased[0].upper() + cased[1:]
    return cased


def upper_keep_eszett(text: str) -> str:
    """str.upper, except that ß stays ß (str.upper makes it "SS": "MASSE" would then read for "MAßE")."""
    return "ß".join(part.upper() for part in text.split("ß"))


# Articles, prepositions and conjunctions a title in the language keeps in lower case after its first word
# ("Centro de Deportes", not "Centro De Deportes").
MINOR_TITLE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("a an the and or nor but of in on at to for by with from as".split()),
    "es": frozenset("a al de del el la las los lo un una y e o u en con por para sin sobre".split()),
    "fr": frozenset("à au aux de du des d la le les l un une et ou en sur par pour avec".split()),
    "de": frozenset("der die das des dem den und oder von zu zum zur im in am an mit für auf".split()),
    "pt": frozenset("a o as os ao à de do da dos das e ou em no na por para com um uma".split()),
    "it": frozenset("il lo la i gli le un una di del della e o in a al da con per su".split()),
}


def restore_case(source: str, translation: str, language: str | None = None) -> str:
    """The capitals style of `source` applied to its `translation` (in `language`).

    All-capitals source -> translation in capitals (`upper_keep_eszett`: ß is kept, not turned into
    "SS", and the capital ẞ is not used either because few fonts have it). Title-case source ("Double
    Parking") -> every word of the translation starts with a capital, but the language's articles,
    prepositions and conjunctions after the first word ("Centro de Deportes"). Otherwise the translation
    comes back as it is, except that its first letter is capitalised when the source's first letter is.
    """
    if not translation:
        return translation
    if is_all_caps(source):
        return upper_keep_eszett(translation)
    if is_title_case(source) and len(source.split()) > 1:
        minor = MINOR_TITLE_WORDS.get(_base(language), frozenset()) if language else frozenset()

        def capital(match: re.Match) -> str:
            word = match.group(2)
            if match.start() > 0 and word.lower() in minor:
                return match.group(1) + word
            return match.group(1) + word[:1].upper() + word[1:]

        return re.sub(r"(^|(?<=\s)|(?<=[¡¿\"'(«“]))([^\W\d_]+)", capital, translation)
    first_source = next((char for char in source if char.isalpha()), "")
    if first_source.isupper():
        for index, char in enumerate(translation):
            if char.isalpha():
                return translation[:index] + char.upper() + translation[index + 1 :]
    return translation
