from collections import defaultdict

from docarray import DocList
from jina import Executor, requests

from executors.text_translator.backends import TRANSLATORS
from transmodal import languages
from transmodal.docs import MediaDoc
from transmodal.processing import for_batch, for_each_doc, live_docs, traced


class TextTranslator(Executor):
    """Translates each document's `text` into `translation`, and every region's `text` into its
    `translation`, from `source_lang` to `target_lang`.

    All texts of a request that share a language pair go to the backend in one call; identical strings
    are translated once. Languages come from the document, else the request's parameters, else `with:`.
    """

    def __init__(self, backend: str = "apertium", backend_options: dict | None = None,
                 source_lang: str = "en", target_lang: str = "es", **kwargs):
        super().__init__(**kwargs)
        self.translator = TRANSLATORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.target_lang = target_lang

    @requests
    def translate(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        def resolve_languages(doc: MediaDoc) -> None:
            doc.source_lang = languages.resolve(doc.source_lang, parameters, "source_lang", self.source_lang,
                                                "source language")
            doc.target_lang = languages.resolve(doc.target_lang, parameters, "target_lang", self.target_lang,
                                                "target language")
            if doc.source_lang != doc.target_lang:
                self.translator.check_pair(doc.source_lang, doc.target_lang)

        for_each_doc(docs, self.metas.name, resolve_languages)

        by_pair: dict[tuple[str, str], list[MediaDoc]] = defaultdict(list)
        for doc in live_docs(docs):
            by_pair[(doc.source_lang, doc.target_lang)].append(doc)
        for (source, target), pair_docs in by_pair.items():
            for_batch(pair_docs, self.metas.name, lambda batch: self._translate_batch(batch, source, target))
        return traced(docs, self)

    def _translate_batch(self, docs: list[MediaDoc], source: str, target: str) -> None:
        # Translate line by line (a document's text holds one region per line), each unique line once.
        lines = {line for doc in docs for text in _texts_of(doc) for line in text.split("\n") if line.strip()}
        ordered = sorted(lines)
        if source == target:
            translated = dict(zip(ordered, ordered))
        else:
            translated = dict(zip(ordered, self.translator.translate(ordered, source, target))) if ordered else {}

        def translate_text(text: str) -> str:
            return "\n".join(translated.get(line, line) for line in text.split("\n"))

        for doc in docs:
            if doc.text is not None:
                doc.translation = translate_text(doc.text)
            for region in doc.regions:
                region.translation = translate_text(region.text)


def _texts_of(doc: MediaDoc) -> list[str]:
    return ([doc.text] if doc.text else []) + [region.text for region in doc.regions]
