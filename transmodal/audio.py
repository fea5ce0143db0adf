"""Decoding, checking and resampling of the audio carried by documents.

Audio travels encoded (`MediaDoc.audio`: WAV, FLAC, OGG) or as raw samples (`MediaDoc.samples` with
`sample_rate`). `audio_of(doc)` turns either into float32 mono samples and rejects what no recogniser can
use (empty, corrupt, NaN, silent, absurd rate, too long) with a BadInputError naming the problem. The length
limit is checked from the file header, before the samples are decoded, so a huge file costs nothing.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import soundfile

from transmodal.errors import BadInputError
from transmodal.media import unwrap_base64

DEFAULT_MAX_SECONDS = float(os.environ.get("TRANSMODAL_MAX_AUDIO_SECONDS", 600))
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 192_000
# Audio whose loudest sample is below -60 dBFS holds nothing a recogniser could hear.
SILENCE_PEAK = 10 ** (-60 / 20)


def _check_rate(rate: int | None) -> int:
    if rate is None:
        raise BadInputError("samples without sample_rate: set the document's sample_rate (Hz) with its samples")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise BadInputError(f"implausible sample rate {rate} Hz: expected {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz")
    return int(rate)


def _check_duration(frames: int, rate: int, max_seconds: float) -> None:
    if frames > max_seconds * rate:
        raise BadInputError(
            f"audio too long: {frames / rate:.1f} s exceeds the limit of {max_seconds:g} s "
            "(set max_seconds in the executor's `with:` or TRANSMODAL_MAX_AUDIO_SECONDS)"
        )


def decode_audio(data: bytes | None, max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Encoded bytes (WAV, FLAC, OGG, ...) -> (float32 mono samples in [-1, 1], sample rate)."""
    if data is None or len(data) == 0:
        raise BadInputError("empty audio: the document has no audio bytes")
    data = unwrap_base64(data)
    try:
        sound = soundfile.SoundFile(io.BytesIO(bytes(data)))
    except Exception as error:  # libsndfile reports every unreadable header the same way
        reason = getattr(error, "error_string", None) or str(error)
        raise BadInputError(f"cannot decode audio ({len(data)} bytes): {reason}") from error
    with sound:
        rate = _check_rate(sound.samplerate)
        _check_duration(sound.frames, rate, max_seconds)
        try:
            samples = sound.read(dtype="float32", always_2d=True)
        except Exception as error:
            raise BadInputError(f"cannot decode audio ({len(data)} bytes, truncated or corrupt): {error}") from error
    return samples.mean(axis=1, dtype=np.float32), rate


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """float samples in [-1, 1] (mono, or frames x channels) -> 16-bit PCM WAV bytes."""
    buffer = io.BytesIO()
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    soundfile.write(buffer, clipped, int(rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def resample(samples: np.ndarray, rate: int, target_rate: int = 16_000) -> np.ndarray:
    """Polyphase resampling (anti-aliased) of mono float samples from `rate` to `target_rate`."""
    if rate == target_rate:
        return samples
    from scipy.signal import resample_poly

    common = math.gcd(int(rate), int(target_rate))
    return resample_poly(samples, target_rate // common, rate // common).astype(np.float32)


def _as_mono_float(samples: np.ndarray) -> np.ndarray:
    """Raw samples as given by a caller: float in [-1, 1] or integer PCM; mono or frames x channels."""
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise BadInputError(f"samples must be 1-D (mono) or 2-D (frames x channels), not shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer):  # PCM: full scale is the type's range
        array = array / float(np.iinfo(array.dtype).max + 1)
    array = array.astype(np.float32)
    return array.mean(axis=1, dtype=np.float32) if array.ndim == 2 else array


def audio_of(doc, max_seconds: float = DEFAULT_MAX_SECONDS) -> tuple[np.ndarray, int]:
    """The document's audio as (float32 mono samples, rate), from `audio` bytes or `samples`+`sample_rate`.

    Raises BadInputError for anything a recogniser cannot use: no audio, undecodable bytes, samples
    without a rate, an implausible rate, NaN or infinite samples, silence only, more than max_seconds.
    """
    if doc.audio is not None:
        samples, rate = decode_audio(doc.audio, max_seconds)
    elif doc.samples is not None:
        rate = _check_rate(doc.sample_rate)
        samples = _as_mono_float(doc.samples)
        _check_duration(len(samples), rate, max_seconds)
    else:
        raise BadInputError("no audio: the document has neither audio bytes nor samples")
    if samples.size == 0:
        raise BadInputError("empty audio: 0 samples")
    if not np.isfinite(samples).all():
        raise BadInputError("invalid audio: the samples contain NaN or infinite values")
    peak = float(np.abs(samples).max())
    if peak < SILENCE_PEAK:
        raise BadInputError(f"silent audio: the loudest sample is {20 * math.log10(max(peak, 1e-12)):.0f} dBFS")
    return samples, rate


def split_at_pauses(samples: np.ndarray, rate: int, max_seconds: float = 30.0) -> list[tuple[float, np.ndarray]]:
    """(start in seconds, samples) pieces of a long recording, each at most `max_seconds`, cut at the
    quietest 50 ms of the last third of each piece: a pause between words or sentences, so no word is cut in
    two. Each piece can then be recognised on its own (and the pieces in parallel, on several replicas)."""
    frame = max(1, int(0.05 * rate))
    longest = max(frame, int(max_seconds * rate))
    pieces = []
    start = 0
    while len(samples) - start > longest:
        first = start + (2 * longest) // 3
        window = samples[first : start + longest]
        frames = len(window) // frame
        energy = np.square(window[: frames * frame].reshape(frames, frame)).mean(axis=1)
        cut = first + int(np.argmin(energy)) * frame + frame // 2
        pieces.append((start / rate, samples[start:cut]))
        start = cut
    pieces.append((start / rate, samples[start:]))
    return pieces


def _mel_filterbank(bands: int, fft_size: int, rate: int) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale (HTK's formula), (bands, fft_size // 2 + 1)."""

    def to_mel(hertz):
        return 2595.0 * np.log10(1.0 + np.asarray(hertz) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(to_mel(20.0), to_mel(rate / 2), bands + 2) / 2595.0) - 1.0)
    bins = np.linspace(0, rate / 2, fft_size // 2 + 1)
    filters = np.zeros((bands, len(bins)), np.float32)
    for band in range(bands):
        low, centre, high = edges[band : band + 3]
        rising, falling = (bins - low) / (centre - low), (high - bins) / (high - centre)
        filters[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters


def log_mel(samples: np.ndarray, rate: int, bands: int = 40) -> np.ndarray:
    """(bands, frames) log-mel energies of mono float samples at 16 kHz (resampled when not): 25 ms
    Hann windows every 10 ms, the usual speech front end."""
    samples = resample(np.asarray(samples, np.float32), rate, 16_000)
    window, hop, fft_size = 400, 160, 512
    if len(samples) < window:
        samples = np.pad(samples, (0, window - len(samples)))
    frames = 1 + (len(samples) - window) // hop
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    spectrum = np.abs(np.fft.rfft(samples[index] * np.hanning(window).astype(np.float32), n=fft_size)) ** 2
    energies = spectrum @ _mel_filterbank(bands, fft_size, 16_000).T
    return np.log(energies + 1e-6).T.astype(np.float32)


def speech_features(samples: np.ndarray, rate: int, mels: int = 40) -> np.ndarray:
    """The speech encoder's input: log-mel energies (mels, frames), each band's mean and deviation over the
    utterance normalised away (the microphone's colour and the level do not matter)."""
    features = log_mel(samples, rate, mels)
    return ((features - features.mean(1, keepdims=True)) / (features.std(1, keepdims=True) + 1e-5)).astype(np.float32)
