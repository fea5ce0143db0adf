import functools
from collections import defaultdict
from collections.abc import Sequence

from docarray import DocList
from jina import Executor, requests

from executors.text_translator.backends import TRANSLATORS
from transmodal import languages, words
from transmodal.docs import MediaDoc
from transmodal.glossary import Protected, checked_glossary, load_glossary, protect, restore
from transmodal.processing import fail_invalid_request, for_batch, for_each_doc, live_docs, traced

# Region flags this stage sets (TextRegion.flags).
UNTOUCHED = "untouched"  # the translation says what the source says (numbers, codes, names): leave the pixels
GLOSSARY_MISSED = "glossary_missed"  # the engine lost a protected term: the term may be translated wrongly


class TextTranslator(Executor):
    """Translates each document's `text` into `translation`, and every region's `text` into its
    `translation`, from `source_lang` to `target_lang`.

    All texts of a request that share a language pair go to the backend in one call; identical strings
    are translated once. Languages come from the document, else the request's parameters, else `with:`.

    Before the backend: text written in capitals is put in sentence case (MT engines read "DOUBLE PARKING"
    as unknown proper nouns) and glossary terms are protected; after it, the terms are put back and the
    capitals restored. A region whose translation equals its source gets the flag `untouched`, so the
    eraser and renderer leave its pixels as they are.
    """

    def __init__(
        self,
        backend: str = "apertium",
        backend_options: dict | None = None,
        source_lang: str = "en",
        target_lang: str = "es",
        glossary: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.translator = TRANSLATORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.target_lang = target_lang
        self.glossary = load_glossary(glossary) if glossary else {}

    @requests
    def translate(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        glossary: dict[str, str] = dict(self.glossary)

        def resolve_languages(doc: MediaDoc) -> None:
            doc.source_lang = languages.resolve(
                doc.source_lang, parameters, "source_lang", self.source_lang, "source language"
            )
            doc.target_lang = languages.resolve(
                doc.target_lang, parameters, "target_lang", self.target_lang, "target language"
            )
            if doc.source_lang != doc.target_lang:
                self.translator.check_pair(doc.source_lang, doc.target_lang)
            # The request's glossary (the job's, sent with every page) adds to or overrides the `with:` one.
            glossary.update(checked_glossary((parameters or {}).get("glossary") or {}))

        for_each_doc(docs, self.metas.name, resolve_languages)

        by_pair: dict[tuple[str, str], list[MediaDoc]] = defaultdict(list)
        for doc in live_docs(docs):
            source_lang, target_lang = doc.source_lang, doc.target_lang
            assert source_lang is not None and target_lang is not None  # set by resolve_languages
            by_pair[(source_lang, target_lang)].append(doc)
        for (source, target), pair_docs in by_pair.items():
            for_batch(
                pair_docs,
                self.metas.name,
                functools.partial(self._translate_batch, source=source, target=target, glossary=glossary),
            )
        return traced(docs, self)

    def _translate_batch(self, docs: Sequence[MediaDoc], source: str, target: str, glossary: dict[str, str]) -> None:
        # Translate line by line (a document's text holds one region per line), each unique line once.
        lines = sorted({line for doc in docs for text in _texts_of(doc) for line in text.split("\n") if line.strip()})
        translated: dict[str, str] = {}
        missed: set[str] = set()  # source lines whose glossary terms the engine lost
        if source == target:
            translated = dict(zip(lines, lines))
        elif lines:
            prepared = [self._prepare(line, source, glossary) for line in lines]
            outputs = self.translator.translate([protected.text for protected in prepared], source, target)
            for line, protected, output in zip(lines, prepared, outputs):
                output, lost = restore(output, protected)
                translated[line] = words.restore_case(line, output)
                if lost:
                    missed.add(line)

        def translate_text(text: str) -> str:
            return "\n".join(translated.get(line, line) for line in text.split("\n"))

        for doc in docs:
            if doc.text is not None:
                doc.translation = translate_text(doc.text)
            for region in doc.regions:
                region.translation = translate_text(region.text)
                if _same_words(region.text, region.translation) and UNTOUCHED not in region.flags:
                    region.flags.append(UNTOUCHED)
                if any(line in missed for line in region.text.split("\n")) and GLOSSARY_MISSED not in region.flags:
                    region.flags.append(GLOSSARY_MISSED)

    @staticmethod
    def _prepare(line: str, source: str, glossary: dict[str, str]) -> Protected:
        """What the backend is given for one line: capitals in sentence case, glossary terms protected."""
        text = words.to_sentence_case(line, source) if words.is_all_caps(line) else line
        return protect(text, glossary)


def _texts_of(doc: MediaDoc) -> list[str]:
    return ([doc.text] if doc.text else []) + [region.text for region in doc.regions]


def _same_words(source: str, translation: str) -> bool:
    """Whether a translation only repeats its source: same words, ignoring case, spacing and punctuation."""

    def normalised(text: str) -> list[str]:
        return "".join(char.lower() if char.isalnum() else " " for char in text).split()

    return normalised(source) == normalised(translation)
