"""A job's glossary: terms translated the same way on every page, and names kept as they are.

Comic translators ask for this most: a character's name must not become "Maravilla de capitán" on page 3
and "Captain Marvel" on page 4. A glossary maps a source term to its target term, or to `keep` (leave the
term untranslated). File formats: YAML or JSON (`{Captain Marvel: keep, spell book: libro de hechizos}`),
or plain text with one `source = target` (or `source = keep`) a line and `#` comments.

Terms are protected with placeholders that MT engines pass through as unknown words (Apertium does;
`protect` / `restore`), then put back; a placeholder the engine lost is reported so the caller can flag the
text rather than silently drop a term.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import yaml

from transmodal.errors import BadInputError, ConfigurationError

KEEP = "keep"
# Letters only and no vowel pattern an analyser would know: every engine here leaves it as it is.
_PLACEHOLDER = "QXZ{}"


def load_glossary(path: str) -> dict[str, str]:
    """Read a glossary file (YAML, JSON or `source = target` lines) into {source term: target term or 'keep'}."""
    if not os.path.isfile(path):
        raise ConfigurationError(f"glossary file not found: {path!r}")
    with open(path, encoding="utf-8") as file:
        content = file.read()
    if path.endswith((".yml", ".yaml", ".json")):
        loaded = json.loads(content) if path.endswith(".json") else yaml.safe_load(content)
        return checked_glossary(loaded or {})
    terms = {}
    for number, line in enumerate(content.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, equals, target = line.partition("=")
        if not equals or not source.strip():
            raise ConfigurationError(f"{path}:{number}: expected `source term = target term` (or `= keep`)")
        terms[source.strip()] = target.strip() or KEEP
    return terms


def checked_glossary(terms: object) -> dict[str, str]:
    """A glossary from a request or file, validated: string keys, string (or null = keep) values."""
    if not isinstance(terms, dict):
        raise BadInputError(f"a glossary must map source terms to target terms, got {type(terms).__name__}")
    checked = {}
    for source, target in terms.items():
        if not isinstance(source, str) or not source.strip():
            raise BadInputError(f"glossary term {source!r} must be a non-empty string")
        if target is not None and not isinstance(target, str):
            raise BadInputError(f"glossary target of {source!r} must be a string or 'keep', got {target!r}")
        checked[source.strip()] = (target or KEEP).strip()
    return checked


@dataclass
class Protected:
    text: str  # the text with each term replaced by a placeholder
    replacements: dict[str, str]  # placeholder -> what to put back (target term, or the source as written)


def protect(text: str, glossary: dict[str, str]) -> Protected:
    """Replace every glossary term in `text` (whole words, any case; longest terms first) by a placeholder."""
    replacements: dict[str, str] = {}
    for source in sorted(glossary, key=len, reverse=True):
        pattern = re.compile(rf"(?<!\w){re.escape(source)}(?!\w)", re.IGNORECASE)

        def substitute(match: re.Match, source: str = source) -> str:
            placeholder = _PLACEHOLDER.format(len(replacements))
            target = glossary[source]
            replacements[placeholder] = match.group(0) if target == KEEP else _same_case(match.group(0), target)
            return placeholder

        text = pattern.sub(substitute, text)
    return Protected(text, replacements)


def restore(translation: str, protected: Protected) -> tuple[str, list[str]]:
    """Put the terms back into a translation; also returns the placeholders the engine lost."""
    missing = []
    for placeholder, term in protected.replacements.items():
        if placeholder in translation:
            translation = translation.replace(placeholder, term)
        else:
            missing.append(placeholder)
    return translation, missing


def _same_case(source: str, target: str) -> str:
    """The target term in the case the source was written in on this page (SPELL BOOK -> LIBRO DE HECHIZOS)."""
    if source.isupper() and any(char.isalpha() for char in source):
        return target.upper()
    return target
