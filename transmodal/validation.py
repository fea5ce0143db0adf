"""Checks at the edge: request parameters and document fields that cannot travel, or would crash a stage.

The client runs them before anything is sent (a bad parameter fails the call with a clear message, a bad
document fails alone, by name, and the stream goes on); an executor can run the same checks on what it
receives (`check_parameters`), since not every caller is this client.

What is refused, and why (measured with Jina 3.34):
- a string with a lone surrogate ("\\ud800"): it cannot be encoded as UTF-8, the gRPC client then cancels
  the whole stream (asyncio.CancelledError), taking documents already sent with it;
- parameters nested deeper than MAX_DEPTH: protobuf's parser gives up around 100 levels in the gateway
  (StatusCode.INTERNAL for the whole call);
- values JSON cannot carry (bytes, sets, objects), non-string keys, NaN/infinity;
- language fields that are not short strings of letters ("en", "pt-BR", "eng"), and the glossary in any
  shape other than {term: target or null}.
"""

from __future__ import annotations

import math
import re
from typing import Any

from transmodal.errors import TransmodalError

MAX_DEPTH = 16  # dicts/lists inside parameters
MAX_STRING = 100_000  # characters of one string parameter or text field
MAX_ITEMS = 10_000  # entries of one dict or list parameter
MAX_NAME = 1_000  # characters of a document name
LANGUAGE_KEYS = ("source_lang", "target_lang")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}")


class InvalidRequestError(TransmodalError, ValueError):
    """Request parameters that cannot be sent or would fail every document: nothing was sent."""


def encoding_problem(text: str) -> str | None:
    """Why `text` cannot travel (a lone surrogate, a NUL), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        return (
            f"contains a lone surrogate U+{ord(bad):04X} at character {error.start}, which is not valid "
            f"Unicode text (often a file name or text decoded with errors='surrogateescape'): "
            f"re-encode it as UTF-8"
        )
    if "\x00" in text:
        return f"contains a NUL character at position {text.index(chr(0))}: remove it"
    return None


def language_problem(value: object) -> str | None:
    """Why `value` cannot be a language code (type, length, encoding, characters), or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"must be a language code string such as 'en', got {type(value).__name__} {_short(value)}"
    problem = encoding_problem(value)
    if problem:
        return problem
    if len(value) > 35:
        return f"is {len(value)} characters long; a language code is 2 or 3 letters such as 'en' or 'pt-BR'"
    if not _LANGUAGE.fullmatch(value.strip()):
        return f"{value!r} is not a language code: use an ISO 639-1 code such as 'en', 'es' or 'pt-BR'"
    return None


def check_parameters(parameters: object) -> dict:
    """`parameters` if they can be sent and every executor can read them; InvalidRequestError otherwise."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise InvalidRequestError(f"parameters must be a dict, got {type(parameters).__name__}")
    _check_value(parameters, "parameters", 0)
    for key in LANGUAGE_KEYS:
        problem = language_problem(parameters.get(key))
        if problem:
            raise InvalidRequestError(f"parameter {key!r} {problem}")
    glossary = parameters.get("glossary")
    if glossary is not None:
        if not isinstance(glossary, dict):
            raise InvalidRequestError(
                f"parameter 'glossary' must map source terms to target terms ({{'Captain Marvel': 'keep'}}), "
                f"got {type(glossary).__name__}"
            )
        for source, target in glossary.items():
            if not source.strip():
                raise InvalidRequestError("parameter 'glossary' has an empty source term")
            if target is not None and not isinstance(target, str):
                raise InvalidRequestError(
                    f"parameter 'glossary': the target of {source!r} must be a string or "
                    f"null (keep), got {type(target).__name__} {_short(target)}"
                )
    return parameters


def _check_value(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        shown = path if len(path) <= 80 else path[:60] + "..."
        raise InvalidRequestError(f"parameters are nested more than {MAX_DEPTH} levels deep (at {shown}): flatten them")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        problem = encoding_problem(value)
        if problem:
            raise InvalidRequestError(f"{path} {problem}")
        if len(value) > MAX_STRING:
            raise InvalidRequestError(f"{path} is {len(value):,} characters long (limit {MAX_STRING:,})")
        return
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(f"{path} is {value}: parameters must be finite numbers")
        if isinstance(value, int) and abs(value) > 2**53:
            raise InvalidRequestError(f"{path} = {value} is too large to travel exactly (parameters are doubles)")
        return
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            raise InvalidRequestError(f"{path} has {len(value):,} entries (limit {MAX_ITEMS:,})")
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError(
                    f"{path} has a key of type {type(key).__name__} ({key!r}): keys must be strings"
                )
            problem = encoding_problem(key)
            if problem:
                raise InvalidRequestError(f"a key of {path} {problem}")
            _check_value(item, f"{path}[{key!r}]", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise InvalidRequestError(f"{path} has {len(value):,} items (limit {MAX_ITEMS:,})")
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
        return
    raise InvalidRequestError(
        f"{path} is a {type(value).__name__}: parameters may only hold strings, numbers, "
        f"booleans, null, lists and dicts (JSON)"
    )


def document_problem(doc) -> str | None:
    """Why one document cannot be sent (a text field that cannot be encoded, a bad language), or None."""
    for field in ("source_lang", "target_lang"):
        problem = language_problem(getattr(doc, field, None))
        if problem:
            return f"{field} {problem}"
    for field in ("text", "translation", "phones", "name"):
        value = getattr(doc, field, None)
        if value is None:
            continue
        if not isinstance(value, str):
            return f"{field} must be a string, got {type(value).__name__}"
        problem = encoding_problem(value)
        if problem:
            return f"{field} {problem}"
        limit = MAX_NAME if field == "name" else MAX_STRING * 10
        if len(value) > limit:
            return f"{field} is {len(value):,} characters long (limit {limit:,})"
    for index, region in enumerate(getattr(doc, "regions", None) or []):
        for field in ("text", "translation"):
            value = getattr(region, field, None)
            problem = encoding_problem(value) if isinstance(value, str) else None
            if problem:
                return f"regions[{index}].{field} {problem}"
    return None


def printable_name(name: object) -> str:
    """A document name safe to print and send back (lone surrogates shown as \\udcxx)."""
    text = name if isinstance(name, str) else str(name)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
