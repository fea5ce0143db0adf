"""A 10-minute real recording through the SpeechRecognizer executor: time, peak memory, segments in order.

    .venv/bin/python benchmarks/speech_long.py [--minutes 10] [--vad]

The recording is made of the LibriVox read-speech clips of Debian's pocketsphinx-testdata (real speech, 25 s
in all), joined with a second of silence between them and repeated to the length asked for. Prints the
decoding time and real-time factor, the peak resident memory of this process over its resting memory after
loading the model, the number of segments and whether their times only go forward, and the word error rate
against the clips' transcripts repeated the same way.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import soundfile  # noqa: E402
from docarray import DocList  # noqa: E402

from evaluation.speech_recognition import librivox, load, words  # noqa: E402
from executors.speech_recognizer.backends import SAMPLE_RATE  # noqa: E402
from executors.speech_recognizer.executor import SpeechRecognizer  # noqa: E402
from transmodal.docs import MediaDoc  # noqa: E402
from transmodal.metrics import edit_distance  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--vad", action="store_true", help="skip silence with faster-whisper's Silero VAD")
    args = parser.parse_args()
    clips = librivox()
    pause = np.zeros(SAMPLE_RATE, np.float32)
    pieces, reference = [], []
    while sum(len(piece) for piece in pieces) < args.minutes * 60 * SAMPLE_RATE:
        for path, clip_words in clips:
            pieces += [load(path), pause]
            reference += clip_words
    recording = np.concatenate(pieces)
    wav = io.BytesIO()
    soundfile.write(wav, recording, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    audio_seconds = len(recording) / SAMPLE_RATE
    del pieces, recording

    recognizer = SpeechRecognizer(backend_options={"vad": args.vad}, max_seconds=audio_seconds + 1)
    process = psutil.Process()
    resting = peak = process.memory_info().rss
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    (doc,) = recognizer.recognize(
        DocList[MediaDoc]([MediaDoc(audio=wav.getvalue(), name="long.wav", source_lang="en")]), parameters={}
    )
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    if doc.error:
        print(f"FAILED: {doc.error}")
        return 1
    starts = [segment.start for segment in doc.segments]
    wer = edit_distance(reference, words(doc.text)) / len(reference)
    print(f"| recording | {audio_seconds / 60:.1f} min (LibriVox clips, pocketsphinx-testdata, repeated) |")
    print("|---|---|")
    print(f"| VAD | {'on' if args.vad else 'off'} |")
    print(f"| decoding time | {seconds:.0f} s (RTF {seconds / audio_seconds:.2f}) |")
    print(f"| peak memory over resting | {(peak - resting) / 1e6:.0f} MB (resting {resting / 1e6:.0f} MB) |")
    print(f"| segments | {len(starts)}, times only go forward: {all(a <= b for a, b in zip(starts, starts[1:]))} |")
    print(f"| last segment ends at | {doc.segments[-1].end:.0f} s of {audio_seconds:.0f} s |")
    print(f"| WER | {wer:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
