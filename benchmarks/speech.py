"""Speech backends: real-time factor of each recogniser and synthesiser, per-executor latency, and the
word error rate of a TTS -> ASR round trip per voice.

    .venv/bin/python benchmarks/speech.py [--sentences 10] [--repeats 3]

Prints Markdown tables. Real-time factor (RTF) = processing seconds / audio seconds (below 1 is faster
than real time). Offline backends are measured for real. Whisper and transformers backends are measured
only when a real model is configured (TRANSMODAL_WHISPER_MODEL, TRANSMODAL_ASR_MODEL, TRANSMODAL_TTS_MODEL
+ TRANSMODAL_TTS_VOCODER); a tiny random model's speed says nothing, so none is built here.
"""

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("JINA_OPTOUT_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from docarray import DocList  # noqa: E402

from executors.speech_recognizer.executor import SpeechRecognizer  # noqa: E402
from executors.speech_synthesizer.executor import SpeechSynthesizer  # noqa: E402
from transmodal.audio import audio_of  # noqa: E402
from transmodal.docs import MediaDoc  # noqa: E402
from transmodal.metrics import word_error_rate  # noqa: E402

SENTENCES = [
    "Please open the window before the meeting starts.",
    "We need three tickets for the train to London.",
    "The library is closed on Sunday afternoon.",
    "My sister bought fresh bread and coffee this morning.",
    "Turn left at the next corner and walk to the station.",
    "The museum is open every day except Monday.",
    "Can you tell me where the nearest hospital is?",
    "The weather will be cold and windy tomorrow.",
    "He reads the newspaper while his children play outside.",
    "Our flight leaves at seven in the evening.",
]
SPANISH = "La biblioteca está cerrada el domingo por la tarde. Necesitamos tres billetes para el tren."

# (label, SpeechSynthesizer options, language)
VOICES = [
    ("flite slt", {"backend": "flite", "backend_options": {"voice": "slt"}}, "en"),
    ("flite awb", {"backend": "flite", "backend_options": {"voice": "awb"}}, "en"),
    ("flite rms", {"backend": "flite", "backend_options": {"voice": "rms"}}, "en"),
    ("flite kal16", {"backend": "flite", "backend_options": {"voice": "kal16"}}, "en"),
    ("espeak-ng en", {"backend": "espeak-ng"}, "en"),
]


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def seconds_of(doc: MediaDoc) -> float:
    samples, rate = audio_of(doc)
    return len(samples) / rate


def median_seconds(function, repeats: int) -> float:
    return statistics.median(timed(function)[1] for _ in range(repeats))


def speak(synthesizer: SpeechSynthesizer, text: str, language: str) -> tuple[MediaDoc, float]:
    docs = DocList[MediaDoc]([MediaDoc(text=text, source_lang=language)])
    (doc,), seconds = timed(lambda: synthesizer.synthesize(docs))
    if doc.failed:
        raise RuntimeError(doc.error)
    return doc, seconds


def transcribe(recognizer: SpeechRecognizer, audio: bytes) -> tuple[MediaDoc, float]:
    (doc,), seconds = timed(lambda: recognizer.recognize(DocList[MediaDoc]([MediaDoc(audio=audio)])))
    if doc.failed:
        raise RuntimeError(doc.error)
    return doc, seconds


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def configured_recognizers() -> list[tuple[str, dict]]:
    recognizers = [("pocketsphinx", {"backend": "pocketsphinx"})]
    if os.environ.get("TRANSMODAL_WHISPER_MODEL"):
        recognizers.append(
            ("whisper " + os.path.basename(os.environ["TRANSMODAL_WHISPER_MODEL"]), {"backend": "whisper"})
        )
    if os.environ.get("TRANSMODAL_ASR_MODEL"):
        recognizers.append(
            ("transformers " + os.path.basename(os.environ["TRANSMODAL_ASR_MODEL"]), {"backend": "transformers"})
        )
    return recognizers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--repeats", type=int, default=3, help="latency: median of this many runs")
    args = parser.parse_args()
    sentences = SENTENCES[: args.sentences]
    reference_words = sum(len(sentence.split()) for sentence in sentences)

    pocketsphinx, pocketsphinx_start = timed(lambda: SpeechRecognizer(backend="pocketsphinx"))

    # 1. TTS: RTF per voice, and the round trip through pocketsphinx (WER = all errors / all words).
    tts_rows, round_trip_rows, test_speech = [], [], {}
    for label, options, language in VOICES:
        synthesizer = SpeechSynthesizer(**options)
        audio_seconds = synth_seconds = asr_seconds = errors = 0.0
        for sentence in sentences:
            doc, seconds = speak(synthesizer, sentence, language)
            heard, recognized_in = transcribe(pocketsphinx, doc.audio)
            audio_seconds += seconds_of(doc)
            synth_seconds += seconds
            asr_seconds += recognized_in
            errors += word_error_rate(sentence, heard.text) * len(sentence.split())
            test_speech.setdefault(label, doc.audio)
        tts_rows.append([label, doc.sample_rate, f"{audio_seconds:.1f}", f"{synth_seconds / audio_seconds:.3f}"])
        round_trip_rows.append(
            [label, len(sentences), f"{100 * errors / reference_words:.1f} %", f"{asr_seconds / audio_seconds:.3f}"]
        )
    spanish = SpeechSynthesizer(backend="espeak-ng")
    doc, seconds = speak(spanish, SPANISH, "es")
    tts_rows.append(["espeak-ng es", doc.sample_rate, f"{seconds_of(doc):.1f}", f"{seconds / seconds_of(doc):.3f}"])
    if os.environ.get("TRANSMODAL_TTS_MODEL"):
        model = SpeechSynthesizer(backend="transformers")
        doc, seconds = speak(model, " ".join(sentences), "en")
        tts_rows.append(
            [
                "transformers " + os.path.basename(os.environ["TRANSMODAL_TTS_MODEL"]),
                doc.sample_rate,
                f"{seconds_of(doc):.1f}",
                f"{seconds / seconds_of(doc):.3f}",
            ]
        )

    # 2. ASR: RTF of each configured recogniser on all sentences spoken by flite slt, as one document.
    long_speech, _ = speak(SpeechSynthesizer(backend="flite"), " ".join(sentences), "en")
    asr_rows = []
    for label, options in configured_recognizers():
        recognizer = pocketsphinx if label == "pocketsphinx" else SpeechRecognizer(**options)
        heard, seconds = transcribe(recognizer, long_speech.audio)
        asr_rows.append(
            [
                label,
                f"{seconds_of(long_speech):.1f}",
                f"{seconds / seconds_of(long_speech):.3f}",
                f"{100 * word_error_rate(' '.join(sentences), heard.text):.1f} %",
            ]
        )

    # 3. Executor latency for one short document (one sentence), in-process, median of repeats.
    one_sentence, its_speech = sentences[0], test_speech["flite slt"]
    auto, auto_start = timed(lambda: SpeechSynthesizer(backend="auto"))
    latency_rows = [
        [
            "SpeechRecognizer (pocketsphinx)",
            f"one sentence, {seconds_of(MediaDoc(audio=its_speech)):.1f} s",
            f"{pocketsphinx_start:.2f}",
            f"{median_seconds(lambda: transcribe(pocketsphinx, its_speech), args.repeats):.3f}",
        ],
        [
            "SpeechSynthesizer (auto: flite)",
            f"one sentence, {len(one_sentence)} characters",
            f"{auto_start:.2f}",
            f"{median_seconds(lambda: speak(auto, one_sentence, 'en'), args.repeats):.3f}",
        ],
        [
            "SpeechSynthesizer (auto: espeak-ng)",
            f"Spanish, {len(SPANISH)} characters",
            "",
            f"{median_seconds(lambda: speak(auto, SPANISH, 'es'), args.repeats):.3f}",
        ],
    ]

    print("## Speech synthesis (real-time factor = synthesis s / audio s)\n")
    print(table(["voice", "sample rate", "audio s", "RTF"], tts_rows))
    print(f"\n## TTS -> pocketsphinx round trip ({len(sentences)} sentences, {reference_words} words)\n")
    print(table(["voice", "sentences", "WER", "ASR RTF"], round_trip_rows))
    print("\n## Speech recognition (all sentences as one document, flite slt)\n")
    print(table(["recogniser", "audio s", "RTF", "WER"], asr_rows))
    skipped = [
        name
        for name, variable in (
            ("whisper", "TRANSMODAL_WHISPER_MODEL"),
            ("transformers ASR", "TRANSMODAL_ASR_MODEL"),
            ("transformers TTS", "TRANSMODAL_TTS_MODEL"),
        )
        if not os.environ.get(variable)
    ]
    if skipped:
        print(
            f"\nNot measured (no real model configured; tiny random models are not meaningful): {', '.join(skipped)}."
        )
    print("\n## Executor latency (in-process, one document)\n")
    print(table(["executor", "input", "start-up s", "median s"], latency_rows))


if __name__ == "__main__":
    main()
