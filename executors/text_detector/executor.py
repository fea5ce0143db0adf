from docarray import DocList
from jina import Executor, requests

from executors.text_detector.backends import DETECTORS
from transmodal import languages
from transmodal.docs import MediaDoc, TextRegion
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image_scaled, scale_lines
from transmodal.ocr.lines import has_words, reading_order, regions_from_lines
from transmodal.processing import for_each_doc, traced


class TextDetector(Executor):
    """Finds the text in each document's `image`: fills `regions` (one per block of text, with its box,
    line boxes, text, confidence and style) and `text` (the regions' texts, one a line, in reading order).

    The backend returns the page's lines; this executor does the rest for every backend alike: lines into
    regions, noise and low-confidence regions dropped, regions in reading order. The language to read is
    resolved by `transmodal.languages.resolve` (document, request, `with:`); the document leaves with it
    normalised. The image itself is not changed.
    """

    def __init__(self, backend: str = "rapidocr+tesseract", backend_options: dict | None = None,
                 source_lang: str = "en", max_pixels: int = DEFAULT_MAX_PIXELS, min_confidence: float = 0.5,
                 **kwargs):
        super().__init__(**kwargs)
        self.reader = DETECTORS.create(backend, **(backend_options or {}))
        self.source_lang = source_lang
        self.max_pixels = max_pixels
        self.min_confidence = min_confidence

    @requests
    def detect(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        def detect_text(doc: MediaDoc) -> None:
            language = languages.resolve(doc.source_lang, parameters, "source_lang", self.source_lang,
                                         "source language")
            self.reader.check_language(language)  # before decoding: the cheaper check first
            pixels, scale = decode_image_scaled(doc.image, self.max_pixels)  # large images: detect on fewer pixels
            lines = scale_lines(self.reader.read(pixels, language), 1 / scale)  # boxes back on the original
            regions = [region for region in regions_from_lines(lines, language)
                       if has_words(region.text) and region.confidence >= self.min_confidence]
            doc.regions = DocList[TextRegion](reading_order(regions))
            doc.text = "\n".join(region.text for region in doc.regions)
            doc.source_lang = language

        for_each_doc(docs, self.metas.name, detect_text)
        return traced(docs, self)
