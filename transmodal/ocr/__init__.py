"""OCR engines and text-line layout shared by the TextDetector and the ImageCaptioner's `ocr` backend.

Every engine offers `check_language(language)`, `find_lines(pixels, language) -> list[Line]` and
`read_lines(pixels, boxes, language) -> list[Line]` (transmodal.stages.LineFinder / LineReader).
"""
