import re

import numpy as np
from docarray import DocList
from jina import Executor, requests

from executors.speech_synthesizer.backends import SYNTHESIZERS
from transmodal import languages
from transmodal.audio import encode_wav
from transmodal.docs import MediaDoc
from transmodal.errors import BadInputError
from transmodal.processing import fail_invalid_request, for_each_doc, traced

# A sentence ends at . ! ? (or their CJK forms) followed by a space, or at a line break.
SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n+")


def split_sentences(text: str, max_characters: int = 400) -> list[str]:
    """Sentences, each short enough for a synthesiser; an over-long one is cut between words."""
    sentences = []
    for sentence in SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        while len(sentence) > max_characters:
            cut = sentence.rfind(" ", 0, max_characters)
            cut = cut if cut > 0 else max_characters
            sentences.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            sentences.append(sentence)
    return sentences


class SpeechSynthesizer(Executor):
    """Speaks each document's final text (its `translation` if any, else `text`) into `audio` (WAV bytes)
    and `sample_rate`; a document with neither but with `phones` has its phones said (backends that can:
    espeak-ng, auto).

    The language is `target_lang` when speaking a translation, else `source_lang`, else the request's
    `language` parameter, else `with: language`. Text is spoken sentence by sentence and joined with a
    short pause, so long text never reaches a synthesiser in one piece.
    """

    def __init__(
        self,
        backend: str = "auto",
        backend_options: dict | None = None,
        language: str = "en",
        max_characters: int = 20_000,
        pause_seconds: float = 0.25,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.synthesizer = SYNTHESIZERS.create(backend, **(backend_options or {}))
        self.backend = backend
        self.language = language
        self.max_characters = max_characters
        self.pause_seconds = pause_seconds

    @requests
    def synthesize(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)

        def speak(doc: MediaDoc) -> None:
            text = doc.final_text
            if (text is None or not text.strip()) and doc.phones is not None:
                speak_phones(doc.phones, doc)
                return
            if text is None or not text.strip():
                raise BadInputError("no text to speak: the document's translation, text and phones are empty")
            if len(text) > self.max_characters:
                raise BadInputError(
                    f"text too long to speak: {len(text):,} characters exceeds the limit of "
                    f"{self.max_characters:,} (max_characters in `with:`)"
                )
            # The translation is in the target language, a plain text in the source language.
            if doc.translation is not None:
                language = languages.resolve(doc.target_lang, parameters, "target_lang", self.language)
            else:
                language = languages.resolve(doc.source_lang, parameters, "source_lang", self.language)
            self.synthesizer.check_language(language)
            pieces, rate = [], None
            for sentence in split_sentences(text):
                samples, rate = self.synthesizer.speak(sentence, language)
                pieces += [samples, np.zeros(int(self.pause_seconds * rate), dtype=np.float32)]
            audio = np.concatenate(pieces[:-1])
            assert rate is not None  # a sentence was spoken, or concatenate raised on no pieces
            doc.audio = encode_wav(audio, rate)  # type: ignore[assignment]  # docarray validates the bytes into AudioBytes
            doc.sample_rate = rate

        def speak_phones(phones: str, doc: MediaDoc) -> None:
            """Phones (a language with no writing) said in one run: they mark no sentences to split at."""
            if not self.synthesizer.speaks_phones:
                raise BadInputError(
                    f"the {self.backend} speech backend cannot say phones (the document has phones, no text): "
                    "use backend espeak-ng or auto"
                )
            if len(phones) > self.max_characters:
                raise BadInputError(
                    f"phones too long to speak: {len(phones):,} characters exceeds the limit of "
                    f"{self.max_characters:,} (max_characters in `with:`)"
                )
            language = languages.resolve(doc.source_lang, parameters, "source_lang", self.language)
            self.synthesizer.check_language(language)
            samples, rate = self.synthesizer.speak_phones(phones, language)
            doc.audio = encode_wav(samples, rate)  # type: ignore[assignment]  # docarray validates the bytes into AudioBytes
            doc.sample_rate = rate

        for_each_doc(docs, self.metas.name, speak)
        return traced(docs, self)
