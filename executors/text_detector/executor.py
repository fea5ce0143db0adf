from docarray import DocList
from jina import Executor, requests

from executors.text_detector.backends import DETECTORS, has_words
from transmodal import languages
from transmodal.docs import MediaDoc, TextRegion
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image
from transmodal.processing import for_each_doc, traced


class TextDetector(Executor):
    """Finds the text in each document's `image`: fills `regions` (one per block of text, with its box,
    line boxes, text, confidence and style) and `text` (the regions' texts, one a line, in reading order).

    The language to read comes from the document's `source_lang`, else the request's parameters, else
    `with:`; the document leaves with it normalised. The image itself is not changed.
    """

    def __init__(self, backend: str = "rapidocr+tesseract", backend_options: dict | None = None,
                 source_lang: str = "en", max_pixels: int = DEFAULT_MAX_PIXELS, min_confidence: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.detector = DETECTORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.max_pixels = max_pixels
        self.min_confidence = min_confidence

    @requests
    def detect(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        parameters = parameters or {}

        def detect_text(doc: MediaDoc) -> None:
            language = languages.normalize(
                doc.source_lang or parameters.get("source_lang") or self.source_lang, "source language")
            self.detector.check_language(language)  # before decoding: the cheaper check first
            pixels = decode_image(doc.image, self.max_pixels)
            regions = [region for region in self.detector.detect(pixels, language)
                       if has_words(region.text) and region.confidence >= self.min_confidence]
            doc.regions = DocList[TextRegion](reading_order(regions))
            doc.text = "\n".join(region.text for region in doc.regions)
            doc.source_lang = language

        for_each_doc(docs, self.metas.name, detect_text)
        return traced(docs, self)


def reading_order(regions: list[TextRegion]) -> list[TextRegion]:
    """Top to bottom; regions side by side (one starts above the other's middle) left to right."""
    rows: list[list[TextRegion]] = []
    for region in sorted(regions, key=lambda region: region.box[1]):
        if rows:
            x0, y0, x1, y1 = rows[-1][0].box
            if region.box[1] < (y0 + y1) / 2:
                rows[-1].append(region)
                continue
        rows.append([region])
    return [region for row in rows for region in sorted(row, key=lambda region: region.box[0])]
