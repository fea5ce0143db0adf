from collections.abc import Sequence

import numpy as np
from docarray import DocList
from docarray.typing import ID
from jina import Executor, requests

from executors.image_captioner.backends import CAPTIONERS
from transmodal.docs import MediaDoc
from transmodal.errors import BadInputError
from transmodal.media import DEFAULT_MAX_PIXELS, decode_image
from transmodal.processing import fail_invalid_request, for_batch, for_each_doc, mark_failed, traced
from transmodal.scene_world import LOW_CONFIDENCE


class ImageCaptioner(Executor):
    """Describes each document's `image` in words: `text` is the description, `source_lang` its language
    (the backend's), so a TextTranslator or a SpeechSynthesizer can follow. A backend whose units are phones
    (the scenes captioner with a phone checkpoint) fills `phones` instead, for a SpeechSynthesizer to say.

    All images of a request are decoded first (a bad one fails only its document), then described by the
    backend in one batch.
    """

    def __init__(
        self, backend: str = "ocr", backend_options: dict | None = None, max_pixels: int = DEFAULT_MAX_PIXELS, **kwargs
    ):
        super().__init__(**kwargs)
        self.captioner = CAPTIONERS.create(backend, **(backend_options or {}))
        self.max_pixels = max_pixels

    @requests
    def caption(self, docs: DocList[MediaDoc], parameters: dict | None = None, **kwargs) -> DocList[MediaDoc]:
        if fail_invalid_request(docs, self.metas.name, parameters):
            return traced(docs, self)
        decoded: dict[ID | None, np.ndarray] = {}

        def decode(doc: MediaDoc) -> None:
            decoded[doc.id] = decode_image(doc.image, self.max_pixels)

        for_each_doc(docs, self.metas.name, decode)
        for_batch(docs, self.metas.name, lambda batch: self._caption_batch(batch, decoded))
        return traced(docs, self)

    def _caption_batch(self, docs: Sequence[MediaDoc], decoded: dict[ID | None, np.ndarray]) -> None:
        images = [decoded[doc.id] for doc in docs]
        captions = self.captioner.caption(images)
        for doc, caption, sure in zip(docs, captions, self.captioner.confidences(images)):
            if not caption.strip():
                mark_failed(doc, self.metas.name, BadInputError(f"no description: {self.captioner.nothing_found}"))
                continue
            if self.captioner.units == "phones":  # a language with no writing: the description as phones
                doc.phones, doc.text, doc.translation = caption, None, None  # (what is said next: the phones)
            else:
                doc.text = caption
            doc.source_lang = self.captioner.language
            if sure is not None and sure < LOW_CONFIDENCE:
                doc.flags.append(
                    f"{self.metas.name}: the picture looks unlike what it can describe (confidence {sure:.2f}): "
                    f"{self.captioner.knows}; check that the description fits the picture"
                )
