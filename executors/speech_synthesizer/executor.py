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
            said_in_phones = (text is None or not text.strip()) and doc.phones is not None
            what, said = ("phones", doc.phones or "") if said_in_phones else ("text", text or "")
            if not said.strip():
                raise BadInputError(f"no {what} to speak: the document's translation, text and phones are empty")
            if len(said) > self.max_characters:
                raise BadInputError(
                    f"{what} too long to speak: {len(said):,} characters exceeds the limit of "
                    f"{self.max_characters:,} (max_characters in `with:`)"
                )
            if said_in_phones and not self.synthesizer.speaks_phones:
                raise BadInputError(
                    f"the {self.backend} speech backend cannot say phones (the document has phones, no text): "
                    "use backend espeak-ng or auto"
                )
            # The translation is in the target language, a plain text (or phones) in the source language.
            if doc.translation is not None and not said_in_phones:
                language = languages.resolve(doc.target_lang, parameters, "target_lang", self.language)
            else:
                language = languages.resolve(doc.source_lang, parameters, "source_lang", self.language)
            self.synthesizer.check_language(language)
            if said_in_phones:  # phones mark no sentences: said in one run
                audio, rate = self.synthesizer.speak_phones(said, language)
            else:
                audio, rate = self._speak_sentences(said, language)
            doc.audio = encode_wav(audio, rate)  # type: ignore[assignment]  # docarray validates the bytes into AudioBytes
            doc.sample_rate = rate

        for_each_doc(docs, self.metas.name, speak)
        return traced(docs, self)

    def _speak_sentences(self, text: str, language: str) -> tuple[np.ndarray, int]:
        """The text said sentence by sentence, joined by `pause_seconds` of silence."""
        pieces, rate = [], None
        for sentence in split_sentences(text):
            samples, rate = self.synthesizer.speak(sentence, language)
            pieces += [samples, np.zeros(int(self.pause_seconds * rate), dtype=np.float32)]
        assert rate is not None  # the caller checked there is something to say
        return np.concatenate(pieces[:-1]), rate
