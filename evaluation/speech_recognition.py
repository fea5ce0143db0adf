"""Speech recognition on REAL recordings: word error rate, real-time factor and language identification per
backend, per language.

    transmodal eval speech [--repeats 1] [--threads 2] [--clips N] [--out evaluation/results/speech]

Sets (nothing here was synthesised):
- en: the 5 LibriVox read-speech clips with transcripts of Debian's pocketsphinx-testdata
  (scripts/install-system.sh installs it);
- es, fr, it: 30 prompts per language of Asterisk's core sounds, read by a voice talent (one speaker per
  language), with the script they read (`make eval-data` fetches them; evaluation/datasets.py).

WER = word edits over all clips / reference words, after lower-casing, removing accents and punctuation
(the Spanish script is written without accents) and spelling "Mr." as the transcripts do; digits Whisper
writes for spelled-out numbers count as errors. RTF = decoding seconds / audio seconds, best of `--repeats`
runs per clip, language given. Language identification: Whisper's detector on the first 30 s of each clip,
without a hint (its time is not in the RTF). faster-whisper runs when `make install` has put Whisper base in
$TRANSMODAL_MODELS; tiny.en when `python -m transmodal.model_store install whisper-tiny.en` has.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from evaluation import datasets  # noqa: E402
from executors.speech_recognizer.backends import RECOGNIZERS, SAMPLE_RATE  # noqa: E402
from transmodal.errors import ModelNotFoundError  # noqa: E402
from transmodal.metrics import edit_distance  # noqa: E402

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"


def words(text: str) -> list[str]:
    text = text.lower().replace("mr.", "mister").replace("mrs.", "missus")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return "".join(c if c.isalnum() else " " for c in text).split()


def load(path: str):
    """Mono float32 samples at 16 kHz, from any format PyAV reads (WAV, G.722, ...)."""
    from faster_whisper import decode_audio

    return decode_audio(path, sampling_rate=SAMPLE_RATE)


def librivox() -> list[tuple[str, list[str]]]:
    """(wav path, reference words) of each clip of the transcription file."""
    found = []
    with open(os.path.join(LIBRIVOX, "transcription")) as listing:
        for line in listing:
            text, _, name = line.strip().rpartition(" (")
            text = text.replace("<s>", "").replace("</s>", "")
            found.append((os.path.join(LIBRIVOX, name.rstrip(")") + ".wav"), words(text)))
    return found


# The Italian script lost its accented letters (each is a "?" in the file): the words of the selected
# prompts that have one, as they are spoken.
ITALIAN_LOST_ACCENTS = {"?": "è", "pu?": "può", "cos?": "così", "gi?": "già", "pi?": "più", "perch?": "perché"}


def asterisk(language: str) -> list[tuple[str, list[str]]]:
    """(clip path, reference words) of the selected Asterisk prompts of one language."""
    script = {}
    with gzip.open(datasets.path(f"asterisk-{language}-script", datasets.asterisk_script(language)), "rt") as lines:
        for line in lines:
            line = line.strip().lstrip("\ufeff")
            if line and not line.startswith(";"):
                name, _, text = line.partition(":")
                text = text.strip().strip('“”"')
                if language == "it":
                    text = " ".join(ITALIAN_LOST_ACCENTS.get(word, word) for word in text.split())
                script[name.strip()] = text
    return [
        (datasets.path(f"asterisk-{language}", datasets.asterisk_clip(language, clip)), words(script[clip]))
        for clip in datasets.SPEECH_CLIPS[language]["clips"]
    ]


def sets(clips: int | None) -> dict[str, list]:
    found: dict[str, list] = {}
    if os.path.isdir(LIBRIVOX):
        found["en"] = librivox()
    else:
        print(f"skipped en: {LIBRIVOX} missing (Debian's pocketsphinx-testdata)", file=sys.stderr)
    for language in datasets.SPEECH_CLIPS:
        absent = datasets.missing(f"asterisk-{language}", f"asterisk-{language}-script")
        if absent:
            print(f"skipped {language}: {', '.join(absent)} not fetched (make eval-data)", file=sys.stderr)
            continue
        found[language] = asterisk(language)
    return {
        language: [(load(path), reference) for path, reference in items[:clips]] for language, items in found.items()
    }


def measure(recognizer, language: str, data, repeats: int) -> dict:
    edits = reference_words = 0
    audio_seconds = decode_seconds = 0.0
    detected = []
    for samples, reference in data:
        best, transcript = float("inf"), None
        for _ in range(repeats):
            started = time.perf_counter()
            transcript = recognizer.transcribe(samples, language)
            best = min(best, time.perf_counter() - started)
        edits += edit_distance(reference, words(transcript.text))
        reference_words += len(reference)
        audio_seconds += len(samples) / SAMPLE_RATE
        decode_seconds += best
        if hasattr(recognizer, "detect_language") and recognizer.multilingual:
            detected.append(recognizer.detect_language(samples)[0] == language)
    return {
        "language": language,
        "clips": len(data),
        "audio_seconds": round(audio_seconds, 1),
        "wer": edits / reference_words,
        "rtf": decode_seconds / audio_seconds,
        "language_id": sum(detected) / len(detected) if detected else None,
    }


BACKENDS = [
    # (label, backend, options, languages it knows: None = any)
    ("faster-whisper base int8 (default, greedy)", "faster-whisper", {"check_language": False}, None),
    ("faster-whisper base int8, beam 5", "faster-whisper", {"beam_size": 5, "check_language": False}, None),
    ("faster-whisper tiny.en int8", "faster-whisper", {"model": "whisper-tiny.en"}, ("en",)),
    ("pocketsphinx en-us (the previous default)", "pocketsphinx", {}, ("en",)),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transmodal eval speech", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for faster-whisper")
    parser.add_argument("--clips", type=int, default=None, help="at most this many clips per language")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    args = parser.parse_args(argv)
    data = sets(args.clips)
    rows = []
    for label, backend, options, known in BACKENDS:
        if backend == "faster-whisper":
            options = {**options, "cpu_threads": args.threads}
        try:
            recognizer = RECOGNIZERS.create(backend, **options)
        except ModelNotFoundError as missing:
            print(f"skipped {label}: {missing}", file=sys.stderr)
            continue
        for language, clips in data.items():
            if known is None or language in known:
                print(f"{label}: {language} ({len(clips)} clips)", file=sys.stderr)
                rows.append({"backend": label, **measure(recognizer, language, clips, args.repeats)})
    names = {"en": "en: LibriVox (pocketsphinx-testdata)", "es": "es", "fr": "fr", "it": "it"}
    lines = [
        "Real speech, language given for WER/RTF (evaluation/speech_recognition.py). en: 5 LibriVox clips "
        "(Debian pocketsphinx-testdata); es, fr, it: 30 Asterisk prompts each, one voice talent per language "
        "(Debian asterisk-core-sounds-*).",
        "",
        "| backend | set | clips | audio s | WER | RTF | language identified |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        identified = "n/a (one language)" if row["language_id"] is None else f"{row['language_id']:.0%}"
        lines.append(
            f"| {row['backend']} | {names.get(row['language'], row['language'])} | {row['clips']} | "
            f"{row['audio_seconds']:.0f} | {row['wer']:.1%} | {row['rtf']:.2f} | {identified} |"
        )
    print("\n".join(lines))
    if args.out:
        with open(args.out + ".md", "w") as out:
            out.write("\n".join(lines) + "\n")
        with open(args.out + ".json", "w") as out:
            json.dump(rows, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
