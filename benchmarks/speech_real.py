"""Speech recognition on REAL recordings: word error rate and real-time factor per backend on the LibriVox
read-speech clips (with transcripts) of Debian's pocketsphinx-testdata (scripts/install-system.sh).

    .venv/bin/python benchmarks/speech_real.py [--repeats 2] [--threads 2]

Prints a Markdown table. WER = word edits over all clips / reference words (case and punctuation ignored;
"Mr." counted as the transcripts' "mister"). RTF = decoding seconds / audio seconds, best of `--repeats`
runs per clip, language given as English (detection is measured separately: its accuracy is reported, its
time not added). faster-whisper runs when `make install` has put Whisper base in $TRANSMODAL_MODELS.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import soundfile  # noqa: E402

from executors.speech_recognizer.backends import RECOGNIZERS, SAMPLE_RATE  # noqa: E402
from transmodal.audio import resample  # noqa: E402
from transmodal.errors import ModelNotFoundError  # noqa: E402
from transmodal.metrics import edit_distance  # noqa: E402

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"


def words(text: str) -> list[str]:
    text = text.lower().replace("mr.", "mister").replace("mrs.", "missus")
    return "".join(c if c.isalnum() or c in " '" else " " for c in text).split()


def clips() -> list[tuple[str, list[str]]]:
    """(wav path, reference words) for each clip of the transcription file."""
    found = []
    with open(os.path.join(LIBRIVOX, "transcription")) as listing:
        for line in listing:
            text, _, name = line.strip().rpartition(" (")
            found.append(
                (os.path.join(LIBRIVOX, name.rstrip(")") + ".wav"), words(text.replace("<s>", "").replace("</s>", "")))
            )
    return found


def measure(name: str, recognizer, data, repeats: int) -> dict:
    edits = reference_words = 0
    audio_seconds = decode_seconds = 0.0
    detected_right = 0
    for samples, reference in data:
        best, transcript = float("inf"), None
        for _ in range(repeats):
            started = time.perf_counter()
            transcript = recognizer.transcribe(samples, "en")
            best = min(best, time.perf_counter() - started)
        edits += edit_distance(reference, words(transcript.text))
        reference_words += len(reference)
        audio_seconds += len(samples) / SAMPLE_RATE
        decode_seconds += best
        detected_right += recognizer.transcribe(samples, None).language == "en"
    detects = type(recognizer).__name__ != "PocketSphinxRecognizer"  # it assumes its model's language
    return {
        "backend": name,
        "wer": edits / reference_words,
        "rtf": decode_seconds / audio_seconds,
        "lid": f"{detected_right / len(data):.0%}" if detects else "n/a (assumes English)",
        "audio": audio_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for faster-whisper")
    args = parser.parse_args()
    if not os.path.isdir(LIBRIVOX):
        sys.exit(f"{LIBRIVOX} missing: install Debian's pocketsphinx-testdata (scripts/install-system.sh)")
    data = []
    for path, reference in clips():
        samples, rate = soundfile.read(path, dtype="float32")
        data.append((resample(samples, rate, SAMPLE_RATE), reference))
    backends = [
        ("faster-whisper base int8 (default, greedy)", "faster-whisper", {"cpu_threads": args.threads}),
        ("faster-whisper base int8, beam 5", "faster-whisper", {"cpu_threads": args.threads, "beam_size": 5}),
        ("pocketsphinx en-us", "pocketsphinx", {}),
    ]
    rows = []
    for label, backend, options in backends:
        try:
            recognizer = RECOGNIZERS.create(backend, **options)
        except ModelNotFoundError as missing:
            print(f"skipped {label}: {missing}", file=sys.stderr)
            continue
        rows.append(measure(label, recognizer, data, args.repeats))
    total = rows[0]["audio"] if rows else 0.0
    print(f"Real speech: {len(data)} LibriVox clips ({total:.0f} s, pocketsphinx-testdata), English given\n")
    print("| backend | WER | RTF | language detected right |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['backend']} | {row['wer']:.1%} | {row['rtf']:.2f} | {row['lid']} |")


if __name__ == "__main__":
    main()
