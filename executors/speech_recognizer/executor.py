from docarray import DocList
from jina import Executor, requests

from executors.speech_recognizer.backends import RECOGNIZERS, SAMPLE_RATE
from transmodal import languages
from transmodal.audio import DEFAULT_MAX_SECONDS, audio_of, resample
from transmodal.docs import MediaDoc, Segment
from transmodal.processing import fail_invalid_request, for_each_doc, traced


class SpeechRecognizer(Executor):
    """Transcribes each document's `audio` (WAV/FLAC/OGG bytes, or `samples` + `sample_rate`) into `text`,
    timed `segments` and `source_lang`.

    The spoken language comes from the document's `source_lang`, else the request's `source_lang`
    parameter, else `with: language`; when none is set the backend detects it (pocketsphinx assumes the
    language of its model; faster-whisper, the default, reports the detected language's probability in the
    log). With `task: translate` a Whisper backend writes English into `translation`
    (and `target_lang: en`) instead of `text`.
    """

    def __init__(
        self,
        backend: str = "faster-whisper",
        backend_options: dict | None = None,
        source_lang: str | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.recognizer = RECOGNIZERS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.max_seconds = max_seconds

    @requests
    def recognize(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)

        def transcribe(doc: MediaDoc) -> None:
            language = languages.resolve_optional(
                doc.source_lang, parameters, "source_lang", self.source_lang, "source language"
            )
            samples, rate = audio_of(doc, self.max_seconds)
            transcript = self.recognizer.transcribe(resample(samples, rate, SAMPLE_RATE), language)
            if transcript.translated_to:
                doc.translation = transcript.text
                doc.target_lang = transcript.translated_to
            else:
                doc.text = transcript.text
            doc.source_lang = transcript.language
            doc.segments = DocList[Segment](
                [Segment(start=start, end=end, text=text) for start, end, text in transcript.segments]
            )

        for_each_doc(docs, self.metas.name, transcribe)
        return traced(docs, self)
