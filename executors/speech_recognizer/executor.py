from docarray import DocList
from jina import Executor, requests

from executors.speech_recognizer.backends import RECOGNIZERS, SAMPLE_RATE
from transmodal import languages
from transmodal.audio import DEFAULT_MAX_SECONDS, audio_of, resample
from transmodal.docs import MediaDoc, Segment
from transmodal.errors import BadInputError
from transmodal.processing import fail_invalid_request, for_each_doc, traced


class SpeechRecognizer(Executor):
    """Transcribes each document's `audio` (WAV/FLAC/OGG bytes, or `samples` + `sample_rate`) into `text`,
    timed `segments` and `source_lang`.

    The spoken language comes from the document's `source_lang`, else the request's `source_lang`
    parameter, else `with: source_lang`; when none is set the backend detects it (pocketsphinx assumes the
    language of its model; faster-whisper, the default, reports the detected language's probability in
    `language_probability`, and a document whose language was uncertain, or whose given language the speech
    clearly is not, gets a line in `flags`). Audio with no speech in it (music, noise) fails with a clear
    error rather than passing an empty text on. With `task: translate` a Whisper backend writes English into
    `translation` (and `target_lang: en`) instead of `text`.
    """

    def __init__(
        self,
        backend: str = "faster-whisper",
        backend_options: dict | None = None,
        source_lang: str | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        uncertain_language: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.uncertain_language = uncertain_language  # a detected language less probable than this is flagged
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
            if not transcript.text.strip():
                raise BadInputError(
                    f"no speech found in {len(samples) / rate:.1f} s of audio: it may be music, noise or "
                    f"silence. Check the recording (and its volume), or send a clip with someone speaking"
                )
            if transcript.translated_to:
                doc.translation = transcript.text
                doc.target_lang = transcript.translated_to
            else:
                doc.text = transcript.text
            doc.source_lang = transcript.language
            doc.language_probability = transcript.language_probability
            probability = transcript.language_probability
            if probability is not None and probability < self.uncertain_language:
                doc.flags.append(
                    f"{self.metas.name}: the spoken language was detected as "
                    f"{languages.described(transcript.language)} with probability {probability:.2f} only: "
                    f"if that is wrong, give the source language"
                )
            doc.flags.extend(f"{self.metas.name}: {warning}" for warning in transcript.warnings)
            doc.segments = DocList[Segment](
                [Segment(start=start, end=end, text=text) for start, end, text in transcript.segments]
            )

        for_each_doc(docs, self.metas.name, transcribe)
        return traced(docs, self)
