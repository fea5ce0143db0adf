import functools
import re
from collections import OrderedDict, defaultdict
from collections.abc import Sequence

from docarray import DocList
from jina import Executor, requests

from executors.text_translator.backends import TRANSLATORS
from executors.text_translator.llm import Block, JobContext, LLMEndpointError
from transmodal import languages, words
from transmodal.docs import MediaDoc, TextRegion
from transmodal.errors import TransmodalError, UnsupportedLanguageError
from transmodal.glossary import KEEP, Protected, checked_glossary, load_glossary, protect, restore
from transmodal.processing import fail_invalid_request, for_batch, for_each_doc, live_docs, traced

# Region flags this stage sets (TextRegion.flags).
UNTOUCHED = "untouched"  # the translation says what the source says (numbers, codes, names): leave the pixels
GLOSSARY_MISSED = "glossary_missed"  # the engine lost a protected term: the term may be translated wrongly
LLM_FALLBACK = "llm_fallback"  # the LLM gave no usable translation (even when asked again): the fallback's
LLM_MISSING = "llm_missing"  # ... or no fallback could translate it either: the source text is left as it is


class TextTranslator(Executor):
    """Translates each document's `text` into `translation`, and every region's `text` into its
    `translation`, from `source_lang` to `target_lang`.

    All texts of a request that share a language pair go to the backend in one call; identical strings
    are translated once. Languages come from the document, else the request's parameters, else `with:`.

    Before the backend: text written in capitals is put in sentence case (MT engines read "DOUBLE PARKING"
    as unknown proper nouns) and glossary terms are protected; after it, the terms are put back and the
    capitals restored. A region whose translation equals its source gets the flag `untouched`, so the
    eraser and renderer leave its pixels as they are.

    A backend that translates whole pages (`backend: llm`) gets one page per call instead, in the order
    of the request, with what earlier pages of the same job established: the request parameter `job`
    names the job (pages sent in several requests), and the executor keeps the latest `max_jobs` jobs'
    contexts. Blocks the model does not answer are translated by the `fallback` backend and flagged.
    """

    def __init__(
        self,
        backend: str = "apertium",
        backend_options: dict | None = None,
        source_lang: str = "en",
        target_lang: str = "es",
        glossary: str | None = None,
        fallback: str | None = "apertium",
        fallback_options: dict | None = None,
        max_jobs: int = 64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.translator = TRANSLATORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.target_lang = target_lang
        self.glossary = load_glossary(glossary) if glossary else {}
        # Page translators only: who translates the blocks the page translator gave nothing for.
        self.translates_pages = hasattr(self.translator, "translate_page")
        self.fallback = None
        if self.translates_pages and fallback:
            self.fallback = TRANSLATORS.create(fallback, **(fallback_options or {}))
        self.job_contexts: OrderedDict[str, JobContext] = OrderedDict()  # least recently used first
        self.max_jobs = max_jobs

    def close(self) -> None:
        """Stops what the backends keep running (Apertium's kept pipelines)."""
        for backend in (self.translator, self.fallback):
            stop = getattr(backend, "close", None)
            if stop is not None:
                stop()
        super().close()

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
        if self.translates_pages:
            context = self._job_context((parameters or {}).get("job"))
            for_each_doc(
                docs, self.metas.name, functools.partial(self._translate_page, glossary=glossary, context=context)
            )
            return traced(docs, self)
        for (source, target), pair_docs in by_pair.items():
            for_batch(
                pair_docs,
                self.metas.name,
                functools.partial(self._translate_batch, source=source, target=target, glossary=glossary),
            )
        return traced(docs, self)

    def _job_context(self, job: object) -> JobContext:
        """The context of the pages before: the named job's (kept across requests, the `max_jobs` most
        recently used), or for a request without `job` a new one shared by its own pages only."""
        if job is None:
            return JobContext()
        key = str(job)
        context = self.job_contexts.pop(key, None) or JobContext()
        self.job_contexts[key] = context
        while len(self.job_contexts) > self.max_jobs:
            self.job_contexts.popitem(last=False)
        return context

    def _translate_page(self, doc: MediaDoc, glossary: dict[str, str], context: JobContext) -> None:
        """One page through the page translator: its regions in reading order (or its text's lines), then
        the glossary checked, missing blocks by the fallback, numbers recorded on the document's trace."""
        source, target = doc.source_lang, doc.target_lang
        assert source is not None and target is not None  # set by resolve_languages
        if source == target:
            self._translate_batch([doc], source, target, glossary)
            return
        # Code and shop names stay as written (as in `_translate_batch`); the model gets the rest.
        regions = []
        for region in doc.regions:
            if words.needs_no_translation(region.text):
                _set_translation(region, region.text, [])
            elif region.text.strip():
                regions.append(region)
        # A region's lines are one sentence broken to fit its shape: the model gets them joined.
        sources = [" ".join(region.text.split()) for region in regions]
        kinds = [region.kind for region in regions]
        if not doc.regions and doc.text:
            sources = [line.strip() for line in doc.text.split("\n") if line.strip()]
            kinds = ["text"] * len(sources)
        if not sources:
            return
        prepared = [words.to_sentence_case(text, source) if words.is_all_caps(text) else text for text in sources]
        blocks = [Block(text, kind) for text, kind in zip(prepared, kinds)]
        try:
            result = self.translator.translate_page(blocks, source, target, glossary, context)
        except LLMEndpointError as error:
            raise TransmodalError(f"{self.metas.name}: page {doc.name or doc.id}: {error}") from None
        translations = [
            words.restore_case(text, output, target) if output else None
            for text, output in zip(sources, result.translations)
        ]
        missing = [index for index, translation in enumerate(translations) if translation is None]
        fallback_used = self._fall_back(doc, sources, translations, missing, source, target, glossary)
        block_flags: list[list[str]] = [[] for _ in sources]
        for index in missing:
            block_flags[index].append(LLM_FALLBACK if fallback_used else LLM_MISSING)
        for index, text in enumerate(sources):
            translations[index], kept = _enforce_glossary(text, translations[index] or text, glossary)
            if not kept:
                block_flags[index].append(GLOSSARY_MISSED)
        if regions:
            for region, translation, flags in zip(regions, translations, block_flags):
                _set_translation(region, translation or region.text, flags)
        else:
            doc.translation = "\n".join(translation or text for translation, text in zip(translations, sources))
            if any(block_flags):
                doc.flags.append(
                    f"{self.metas.name}: " + ", ".join(sorted({flag for flags in block_flags for flag in flags}))
                )
        doc.trace.append(
            f"{self.metas.name}/llm: {result.prompt_tokens} prompt + {result.completion_tokens} completion tokens, "
            f"{result.seconds:.2f} s, {result.calls} call(s), {len(missing)} of {len(sources)} block(s) by fallback"
        )

    def _fall_back(
        self,
        doc: MediaDoc,
        sources: list[str],
        translations: list[str | None],
        missing: list[int],
        source: str,
        target: str,
        glossary: dict[str, str],
    ) -> bool:
        """Fill the blocks the page translator left out with the fallback backend; False when there is none
        for this pair (the blocks then keep their source text, flagged, and the document says why)."""
        if not missing:
            return True
        reason = "no fallback backend is configured (with: fallback)"
        if self.fallback is not None:
            try:
                self.fallback.check_pair(source, target)
                lines = [sources[index] for index in missing]
                prepared = [self._prepare(line, source, glossary) for line in lines]
                outputs = self.fallback.translate([protected.text for protected in prepared], source, target)
                for index, line, protected, output in zip(missing, lines, prepared, outputs):
                    translations[index] = words.restore_case(line, restore(output, protected)[0], target)
                return True
            except UnsupportedLanguageError as error:
                reason = str(error)
        doc.flags.append(
            f"{self.metas.name}: the model gave no translation for {len(missing)} block(s), left in the source "
            f"language: {reason}"
        )
        return False

    def _translate_batch(self, docs: Sequence[MediaDoc], source: str, target: str, glossary: dict[str, str]) -> None:
        # Translate line by line (a document's text holds one region per line), each unique line once.
        lines = sorted({line for doc in docs for text in _texts_of(doc) for line in text.split("\n") if line.strip()})
        missed: set[str] = set()  # source lines whose glossary terms the engine lost
        # Code and shop names stay as written, whatever the engine would make of them.
        translated = {line: line for line in lines if words.needs_no_translation(line)}
        lines = [line for line in lines if line not in translated]
        if source == target:
            translated.update(zip(lines, lines))
        elif lines:
            prepared = [self._prepare(line, source, glossary) for line in lines]
            outputs = self.translator.translate([protected.text for protected in prepared], source, target)
            for line, protected, output in zip(lines, prepared, outputs):
                output, lost = restore(output, protected)
                translated[line] = words.restore_case(line, output, target)
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


def _set_translation(region: TextRegion, translation: str, flags: list[str]) -> None:
    region.translation = translation
    if _same_words(region.text, translation):
        flags = flags + [UNTOUCHED]
    region.flags.extend(flag for flag in flags if flag not in region.flags)


def _enforce_glossary(source: str, translation: str, glossary: dict[str, str]) -> tuple[str, bool]:
    """Check a free translation (an LLM's) against the glossary: each term in the source must appear in the
    translation as the glossary says (a kept name as written, a term as its target). A term the model left
    in the source language is replaced by its target; returns the translation and whether every term is
    now respected."""
    respected = True
    for term in sorted(glossary, key=len, reverse=True):
        found = re.search(rf"(?<!\w){re.escape(term)}(?!\w)", source, re.IGNORECASE)
        if not found:
            continue
        expected = found.group(0) if glossary[term] == KEEP else glossary[term]
        if re.search(rf"(?<!\w){re.escape(expected)}(?!\w)", translation, re.IGNORECASE):
            continue
        untranslated = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        if glossary[term] != KEEP and untranslated.search(translation):
            translation = untranslated.sub(expected.replace("\\", "\\\\"), translation)  # backslashes escaped
        else:
            respected = False
    return translation, respected


def _texts_of(doc: MediaDoc) -> list[str]:
    return ([doc.text] if doc.text else []) + [region.text for region in doc.regions]


def _same_words(source: str, translation: str) -> bool:
    """Whether a translation only repeats its source: same words, ignoring case, spacing and punctuation."""

    def normalised(text: str) -> list[str]:
        return "".join(char.lower() if char.isalnum() else " " for char in text).split()

    return normalised(source) == normalised(translation)
