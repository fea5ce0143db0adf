"""Files in and out: an input file becomes a MediaDoc typed by its content; a result is written by type."""

from __future__ import annotations

import hashlib
import json
import os

from transmodal.docs import MediaDoc
from transmodal.media import AUDIO_SIGNATURES, IMAGE_SIGNATURES


def kind_of(data: bytes, path: str = "") -> str:
    """'image', 'audio' or 'text', from the bytes (the file name only breaks ties for empty files)."""
    if data.startswith(IMAGE_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return "image"
    if data.startswith(AUDIO_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        return "audio"
    extension = os.path.splitext(path)[1].lower()
    if not data and extension in (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"):
        return "image"
    if not data and extension in (".wav", ".flac", ".ogg", ".mp3"):
        return "audio"
    try:
        data.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "image"  # unknown binary: let the image decoder say why it cannot be read


def read_input(path: str, kind: str | None = None) -> MediaDoc:
    """A document for one input file; `kind` forces image/audio/text instead of sniffing."""
    with open(path, "rb") as file:
        data = file.read()
    return doc_from_bytes(data, os.path.basename(path), kind)


def doc_from_bytes(data: bytes, name: str, kind: str | None = None) -> MediaDoc:
    """A document for one file's content (read from disk, or uploaded to the web app)."""
    kind = kind or kind_of(data, name)
    if kind == "image":
        return MediaDoc(image=data, name=name)  # type: ignore[arg-type]  # docarray validates the bytes into ImageBytes
    if kind == "audio":
        return MediaDoc(audio=data, name=name)  # type: ignore[arg-type]  # docarray validates the bytes into AudioBytes
    return MediaDoc(text=data.decode("utf-8", errors="replace"), name=name)


def unique_name(name: str, stems_seen: dict[str, int]) -> str:
    """Outputs are named by the input's stem: a/sign.png and b/sign.jpg would both write sign.png, so the
    second one seen becomes sign-2.jpg (and writes sign-2.png)."""
    stem, extension = os.path.splitext(name)
    stems_seen[stem] = stems_seen.get(stem, 0) + 1
    return name if stems_seen[stem] == 1 else f"{stem}-{stems_seen[stem]}{extension}"


def fingerprint(data) -> str | None:
    return None if data is None else hashlib.sha1(bytes(data)).hexdigest()


def write_outputs(
    doc: MediaDoc, out_dir: str, input_fingerprint: str | None = None, save_regions: bool = False
) -> list[str]:
    """Write what the Flow produced: image -> .png, audio -> .wav, else text -> .txt (or phones ->
    .phones.txt); regions -> .json.

    An image or audio identical to the input (`input_fingerprint`) is not written back: in read-aloud the
    image only passes through, the speech is the result.
    """
    os.makedirs(out_dir, exist_ok=True)
    name = doc.name or doc.id
    assert name is not None  # docarray always sets an id
    stem = os.path.splitext(name)[0]
    written = []

    def write(suffix: str, data: bytes) -> None:
        path = os.path.join(out_dir, stem + suffix)
        with open(path, "wb") as file:
            file.write(data)
        written.append(path)

    image = doc.image if fingerprint(doc.image) != input_fingerprint else None
    audio = doc.audio if fingerprint(doc.audio) != input_fingerprint else None
    if image is not None:
        write(".png", bytes(image))
    for index, generated in enumerate(doc.images[1:], start=1):  # the first is doc.image
        write(f"-{index}.png", bytes(generated.image))
    if audio is not None:
        write(".wav", bytes(audio))
    if doc.final_text is not None and image is None and audio is None:
        write(".txt", doc.final_text.encode("utf-8"))
    elif doc.phones is not None and image is None and audio is None:  # said in phones, with no writing
        write(".phones.txt", doc.phones.encode("utf-8"))
    if save_regions and doc.regions:
        regions = [region.dict(exclude={"id"}) for region in doc.regions]
        write(
            ".json",
            json.dumps(
                {
                    "source_lang": doc.source_lang,
                    "target_lang": doc.target_lang,
                    "text": doc.text,
                    "translation": doc.translation,
                    "regions": regions,
                },
                ensure_ascii=False,
                indent=1,
            ).encode("utf-8"),
        )
    return written
