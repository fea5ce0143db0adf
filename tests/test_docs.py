"""The documents' own protobuf conversion (transmodal.docs.Doc) writes and reads exactly what docarray's
general conversion does: a Jina gateway or a client without transmodal reads the same messages."""

from unittest import mock

import numpy as np
from docarray import BaseDoc, DocList

from transmodal.docs import Doc, GeneratedImage, MediaDoc, Segment, TextRegion, TextStyle

DOC_TYPES = (TextStyle, TextRegion, Segment, GeneratedImage, MediaDoc)


def _docarray_conversion():
    """docarray's own conversion on every transmodal document type, nested ones included."""
    patches = [mock.patch.object(kind, "to_protobuf", BaseDoc.to_protobuf) for kind in DOC_TYPES]
    patches += [
        mock.patch.object(kind, "from_protobuf", classmethod(BaseDoc.from_protobuf.__func__)) for kind in DOC_TYPES
    ]
    return patches


def _sample() -> MediaDoc:
    region = TextRegion(
        polygon=[[1.5, 2.0], [30.25, 2.0], [30.25, 12.0], [1.5, 12.0]],
        lines=[[1.5, 2.0, 30.25, 12.0]],
        text="NO PARKING",
        translation=None,
        confidence=0.875,
        style=TextStyle(color=[10, 20, 30], font_size=14.5, alignment="center"),
        kind="sign",
        container=[],
        fills_container=True,
        flags=["untouched"],
    )
    # Values a stage may assign without validation: ints and numpy floats in float lists, a tuple.
    region.drawn_box = [3, 4.5, np.float64(7.25), 9]
    other = TextRegion(text="ÉTÉ 東京", lines=[], translation="", style=TextStyle(angle=-3.5))
    return MediaDoc(
        image=b"\x89PNG fake bytes",
        text="NO PARKING\nÉTÉ 東京",
        source_lang="en",
        language_probability=None,
        regions=DocList[TextRegion]([region, other]),
        segments=DocList[Segment]([Segment(start=0.0, end=1.25, text="hello")]),
        images=DocList[GeneratedImage]([GeneratedImage(image=b"\x89PNG more", seed=7)]),
        samples=np.arange(6, dtype=np.float32),
        sample_rate=16000,
        trace=["TextDetector/rep-0"],
        flags=[],
    )


def test_the_documents_write_the_bytes_docarray_writes():
    docs = DocList[MediaDoc]([_sample(), MediaDoc()])
    ours = docs.to_protobuf().SerializeToString(deterministic=True)
    patches = _docarray_conversion()
    for patch in patches:
        patch.start()
    try:
        theirs = docs.to_protobuf().SerializeToString(deterministic=True)
    finally:
        for patch in patches:
            patch.stop()
    assert ours == theirs


def test_the_documents_read_what_docarray_reads():
    message = DocList[MediaDoc]([_sample(), MediaDoc()]).to_protobuf()
    ours = DocList[MediaDoc].from_protobuf(message)
    patches = _docarray_conversion()
    for patch in patches:
        patch.start()
    try:
        theirs = DocList[MediaDoc].from_protobuf(message)
    finally:
        for patch in patches:
            patch.stop()
    for mine, reference in zip(ours, theirs):
        assert mine.model_dump(exclude={"samples"}) == reference.model_dump(exclude={"samples"})
    assert np.array_equal(ours[0].samples, theirs[0].samples)
    region = ours[0].regions[0]
    assert region.drawn_box == [3.0, 4.5, 7.25, 9.0] and region.translation is None and region.fills_container
    assert ours[0].regions[1].text == "ÉTÉ 東京" and ours[0].regions[1].style.angle == -3.5
    assert isinstance(ours[0].regions[0], Doc) and ours[0].images[0].seed == 7
