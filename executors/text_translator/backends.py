"""Translation backends: `translate(texts, source, target) -> translations`, one call per language pair.

Codes are ISO 639-1 ("en", "es"), already normalised by the executor; each backend maps them to its own
names and raises UnsupportedLanguageError for a pair it cannot translate.
"""

from __future__ import annotations

import logging
import os
import re
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from executors.text_translator.llm import LLMTranslator
from transmodal import languages
from transmodal.backends import Registry
from transmodal.binaries import end_process, require_binary
from transmodal.errors import UnsupportedLanguageError
from transmodal.models import load_pretrained, model_reference, torch_device
from transmodal.words import SENTENCE_END

logger = logging.getLogger(__name__)

TRANSLATORS: Registry = Registry("translation")
# A large language model that translates a page at a time (llm.py): an OpenAI-compatible endpoint or a GGUF file.
TRANSLATORS.register("llm")(LLMTranslator)


@TRANSLATORS.register("apertium")
class ApertiumTranslator:
    """Rule-based MT from Debian's apertium packages: offline, fast, English <-> Spanish and more."""

    def __init__(
        self, binary: str = "apertium", mark_unknown: bool = False, timeout: float = 120.0, keep_running: bool = True
    ):
        self.binary = require_binary(binary, "apt-get install apertium apertium-eng-spa")
        self.mark_unknown = mark_unknown
        self.timeout = timeout
        listed = subprocess.run([binary, "-l"], capture_output=True, text=True, timeout=timeout).stdout
        self.modes = {line.strip() for line in listed.splitlines() if line.strip()}
        # keep_running: each mode's programs are kept running between requests (`ApertiumPipeline`)
        self.keep_running = keep_running
        self.pipelines: dict[str, ApertiumPipeline | None] = {}  # None: this Apertium cannot keep one
        self.lock = threading.Lock()  # one text in a pipeline at a time

    def installed_pairs(self) -> list[str]:
        # Plain language pairs only, not variants ("eng-cat_valencia") or transliterators ("Cyrl-Latn").
        return sorted(mode for mode in self.modes if mode.count("-") == 1 and mode.islower() and "_" not in mode)

    def mode(self, source: str, target: str) -> str:
        # Debian names modes by ISO 639-3 ("eng-spa") or ISO 639-1 ("en-gl", "es-pt"), sometimes mixed.
        for source_name in (languages.iso3(source), source):
            for target_name in (languages.iso3(target), target):
                if f"{source_name}-{target_name}" in self.modes:
                    return f"{source_name}-{target_name}"
        raise UnsupportedLanguageError(
            f"no Apertium pair installed for {source}->{target}; installed: {', '.join(self.installed_pairs())} "
            f"(Debian packages apertium-*; or use `backend: transformers` with a model for this pair)"
        )

    # Languages most of Debian's Apertium pairs reach: a pair with no direct mode goes through one of them
    # (French -> Spanish -> English, Portuguese -> Spanish -> Catalan). Rule-based errors compound over two
    # steps, but a rough translation beats none for a sign or a spoken sentence.
    PIVOTS = ("es", "en", "ca")

    def route(self, source: str, target: str) -> list[str]:
        """The modes that translate `source` into `target`: the direct pair, or two through a pivot."""
        try:
            return [self.mode(source, target)]
        except UnsupportedLanguageError as no_direct_pair:
            for pivot in self.PIVOTS:
                if pivot in (source, target):
                    continue
                try:
                    return [self.mode(source, pivot), self.mode(pivot, target)]
                except UnsupportedLanguageError:
                    continue
            raise no_direct_pair

    def check_pair(self, source: str, target: str) -> None:
        self.route(source, target)

    def _run(self, mode: str, text: str) -> str:
        if self.keep_running:
            with self.lock:
                pipeline = self.pipelines.get(mode)
                if pipeline is None and mode not in self.pipelines:
                    pipeline = self.pipelines[mode] = ApertiumPipeline.start(mode, self.mark_unknown)
                if pipeline is not None:
                    try:
                        return pipeline.translate(text, self.timeout)
                    except (OSError, RuntimeError, TimeoutError) as error:
                        # Run once the way that reports Apertium's own error; a next text starts it again.
                        logger.warning("apertium %s: the kept pipeline failed (%s); running it once", mode, error)
                        pipeline.close()
                        del self.pipelines[mode]
        command = [self.binary] + ([] if self.mark_unknown else ["-u"]) + [mode]
        result = subprocess.run(command, input=text, capture_output=True, text=True, timeout=self.timeout)
        if result.returncode != 0:
            raise RuntimeError(f"apertium {mode} failed: {result.stderr.strip()}")
        return result.stdout

    def close(self) -> None:
        with self.lock:
            for pipeline in self.pipelines.values():
                if pipeline is not None:
                    pipeline.close()
            self.pipelines.clear()

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        for mode in self.route(source, target):
            texts = self._translate_with(mode, texts)
        return [tidied(text, target) for text in texts]

    def _translate_with(self, mode: str, texts: list[str]) -> list[str]:
        # One process for the whole batch: apertium keeps blank-line-separated paragraphs apart.
        paragraphs = [" ".join(text.split()) for text in texts]
        output = self._run(mode, "\n\n".join(paragraphs)).strip("\n").split("\n\n")
        if len(output) != len(paragraphs):  # a paragraph was merged or split: translate one by one
            output = [self._run(mode, paragraph) for paragraph in paragraphs]
        translations = [translation.strip() for translation in output]
        if mode.startswith("eng-"):
            translations = [
                text if _NUMBER_SIGN.search(source) else _NUMBER_ABBREVIATION.sub(r"\1o.", text)
                for source, text in zip(paragraphs, translations)
            ]
        return translations


# Languages that open a question with "¿" and an exclamation with "¡", which Apertium does not write.
OPENING_MARKS = {"es", "gl", "ast"}
_SPACES = re.compile(r"[ \t]{2,}")
# Between sentences (the separators kept by re.split): after words.SENTENCE_END's marks, or a line's end.
_SENTENCES = re.compile(rf"((?<=[{re.escape(SENTENCE_END)}])\s+|\n)")
_SENTENCE_END = re.compile(r"([!?¡¿]+)[\"'”’»)\]]*$")
_SENTENCE_START = re.compile(r"^[\"'“‘«(\[\-–—…. >]*")  # (">": a chat line's prompt)
# Apertium eng-spa writes its "lo siento" (I'm sorry) as one word: "Losiento", "Losentimos".
_JOINED_LO_SIENTO = re.compile(r"\b([Ll]o)(siento|sientes|siente|sentimos|sentís|sienten)\b")
# A space Apertium leaves before the punctuation after a word ("mi chica ."); French sets one before ! ? ; :
_SPACE_BEFORE = {"fr": re.compile(r"(?<=\w) +([.,]+)(?=\s|$)")}
_SPACE_BEFORE_ANY = re.compile(r"(?<=\w) +([.,!?;:]+)(?=\s|$)")


def tidied(text: str, target: str) -> str:
    """Apertium's output as a reader expects it: one space where it left a blank for each word it dropped
    ("Lucy,   sabes" -> "Lucy, sabes", "yo  no" -> "yo no"), none before a full stop ("mi chica ."), "lo
    siento" in two words, and in `OPENING_MARKS` languages each question and exclamation opened
    ("Piensas que es cierto?" -> "¿Piensas que es cierto?")."""
    text = "\n".join(_SPACES.sub(" ", line) for line in text.split("\n"))
    text = _SPACE_BEFORE.get(target, _SPACE_BEFORE_ANY).sub(r"\1", text)
    if target == "es":
        text = _JOINED_LO_SIENTO.sub(r"\1 \2", text)
    if target not in OPENING_MARKS:
        return text
    pieces = _SENTENCES.split(text)
    for index in range(0, len(pieces), 2):  # the sentences (odd indices hold the separators)
        sentence = pieces[index]
        end = _SENTENCE_END.search(sentence)
        if end is None or not any(char.isalpha() for char in sentence) or "¿" in sentence or "¡" in sentence:
            continue
        mark = "¿" if "?" in end.group(1) else "¡"
        start = _SENTENCE_START.match(sentence).end()  # type: ignore[union-attr]  # (matches the empty string)
        pieces[index] = sentence[:start] + mark + sentence[start:]
    return "".join(pieces)


class ApertiumPipeline:
    """One Apertium mode's programs kept running in null-flush mode (`-z`): a text ended by a NUL byte goes
    through transducers already loaded and comes back ended by one. `apertium MODE` starts the mode's ten
    or so programs for every text, and their start-up and data loading is most of its time on a page's
    text (0.17 s; 0.016 s through the kept pipeline, the same translations of the 39 texts of the
    evaluation's real comic pages, photos and generated signs). The text is formatted and unformatted by
    Apertium's own txt formatters (`apertium-destxt`, `apertium-retxt`: small programs, run per text),
    which the `apertium` script runs round the pipeline too.
    """

    def __init__(self, process: subprocess.Popen):
        self.process = process

    @classmethod
    def start(cls, mode: str, mark_unknown: bool) -> ApertiumPipeline | None:
        """The pipeline of `mode` started, or None where this Apertium cannot run one (no mode file where
        the `apertium` script looks, no `apertium-wblank-mode`: an older Apertium)."""
        mode_file = Path(os.environ.get("APERTIUM_DATADIR", "/usr/share/apertium")) / "modes" / f"{mode}.mode"
        try:
            listed = subprocess.run(
                ["apertium-wblank-mode", "-z", str(mode_file)], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if listed.returncode != 0 or not mode_file.is_file() or not listed.stdout.strip():
            return None
        # The mode's $1 is the generator's option as the `apertium` script sets it for txt (-g marks unknown
        # words, -n does not: `apertium -u`), $2 the tagger's (none); its programs want a UTF-8 locale.
        generator = "-g" if mark_unknown else "-n"
        process = subprocess.Popen(
            ["bash", "-c", listed.stdout.strip(), "apertium-pipeline", generator, ""],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "LC_CTYPE": os.environ.get("LC_CTYPE") or "C.UTF-8"},
            start_new_session=True,  # its own process group, for `end_process`
        )
        return cls(process)

    def translate(self, text: str, timeout: float) -> str:
        formatted = _txt_format("apertium-destxt", text.replace("\0", "").encode(), timeout)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(formatted + b"\0")
        self.process.stdin.flush()
        output = bytearray()
        deadline = time.monotonic() + timeout
        while not output.endswith(b"\0"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.process.stdout], [], [], remaining)[0]:
                raise TimeoutError(f"no translation after {timeout:.0f} s")
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError(f"the pipeline stopped (exit status {self.process.poll()})")
            output += chunk
        return _txt_format("apertium-retxt", bytes(output[:-1]), timeout).decode()

    def close(self) -> None:
        """Stops every program of the pipeline: its input closed, each ends when the one before it has
        (`end_process`)."""
        end_process(self.process)


def _txt_format(program: str, data: bytes, timeout: float) -> bytes:
    result = subprocess.run([program], input=data, capture_output=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{program} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


# Apertium's English analyser takes "no." for the abbreviation of "number": "Hell, no." comes out as
# "Infierno, núm." (Catalan too). Where the source has no "No. 5", a "núm." was the word "no".
_NUMBER_SIGN = re.compile(r"\bno\.\s*\d", re.IGNORECASE)
_NUMBER_ABBREVIATION = re.compile(r"\b([Nn])úm\.")


# Codes of the multilingual models' tokenizers: NLLB uses FLORES-200 names, M2M100 and mBART-50 their own.
NLLB_CODES = {
    "ar": "arb_Arab",
    "de": "deu_Latn",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "nl": "nld_Latn",
    "pl": "pol_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "zh": "zho_Hans",
    "ca": "cat_Latn",
    "gl": "glg_Latn",
    "eu": "eus_Latn",
    "hi": "hin_Deva",
    "vi": "vie_Latn",
}


@TRANSLATORS.register("transformers")
class TransformersTranslator:
    """Any transformers seq2seq MT model: MarianMT (one pair per model), NLLB-200 or M2M100 (many pairs).

    `model` is a hub id (found in the local cache) or a directory, e.g. one written by save_pretrained.
    For a single-pair model, set source_lang/target_lang so other pairs are refused instead of mistranslated.
    """

    ENV_VAR = "TRANSMODAL_TRANSLATION_MODEL"

    def __init__(
        self,
        model: str | None = None,
        device: str = "auto",
        batch_size: int = 16,
        max_new_tokens: int = 256,
        num_beams: int = 1,
        source_lang: str | None = None,
        target_lang: str | None = None,
    ):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        reference = model_reference(model, self.ENV_VAR)
        self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, reference, "model", self.ENV_VAR)
        self.device = torch_device(device)
        self.model = load_pretrained(AutoModelForSeq2SeqLM.from_pretrained, reference, "model", self.ENV_VAR)
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.model_type = self.model.config.model_type
        # A single-pair model's tokenizer often records its pair (Marian: source_lang/target_lang).
        source_lang = source_lang or getattr(self.tokenizer, "source_lang", None)
        target_lang = target_lang or getattr(self.tokenizer, "target_lang", None)
        self.pair = None
        if source_lang and target_lang:
            self.pair = (languages.normalize(source_lang), languages.normalize(target_lang))

    def _language_token(self, code: str) -> str | None:
        if self.model_type == "m2m_100":
            return f"__{code}__"
        if self.model_type in ("nllb", "nllb-moe") or "nllb" in type(self.tokenizer).__name__.lower():
            return NLLB_CODES.get(code)
        return None  # single-pair model (Marian): no language tokens

    def _is_multilingual(self) -> bool:
        return hasattr(self.tokenizer, "src_lang") and self.model_type != "marian"

    def check_pair(self, source: str, target: str) -> None:
        if self._is_multilingual():
            for code in (source, target):
                token = self._language_token(code)
                if token is None or self.tokenizer.convert_tokens_to_ids(token) == self.tokenizer.unk_token_id:
                    raise UnsupportedLanguageError(f"model {self.model_type} has no language token for {code!r}")
        elif self.pair and (source, target) != self.pair:
            raise UnsupportedLanguageError(
                f"this model translates {self.pair[0]}->{self.pair[1]} only, not {source}->{target}"
            )

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        import torch

        self.check_pair(source, target)
        generate_options: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams}
        if self._is_multilingual():
            self.tokenizer.src_lang = self._language_token(source)
            target_token = self._language_token(target)
            assert target_token is not None  # check_pair raised otherwise
            generate_options["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(target_token)
        translations: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            inputs = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True).to(self.device)
            with torch.inference_mode():
                outputs = self.model.generate(**inputs, **generate_options)
            translations += self.tokenizer.batch_decode(outputs, skip_special_tokens=True)
        return [translation.strip() for translation in translations]
