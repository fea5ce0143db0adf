"""Language codes: users speak ISO 639-1 ("en", "es"); engines want their own names.

Documents always carry ISO 639-1 codes; each backend maps them here, and an unknown code becomes a
per-document UnsupportedLanguageError rather than an engine crash.
"""

from __future__ import annotations

from transmodal.errors import UnsupportedLanguageError

# ISO 639-1 -> (ISO 639-2/T three-letter code, English name)
LANGUAGES: dict[str, tuple[str, str]] = {
    "ar": ("ara", "Arabic"),
    "bg": ("bul", "Bulgarian"),
    "bs": ("bos", "Bosnian"),
    "ca": ("cat", "Catalan"),
    "cs": ("ces", "Czech"),
    "da": ("dan", "Danish"),
    "de": ("deu", "German"),
    "el": ("ell", "Greek"),
    "en": ("eng", "English"),
    "eo": ("epo", "Esperanto"),
    "es": ("spa", "Spanish"),
    "et": ("est", "Estonian"),
    "eu": ("eus", "Basque"),
    "fa": ("fas", "Persian"),
    "fi": ("fin", "Finnish"),
    "fr": ("fra", "French"),
    "gl": ("glg", "Galician"),
    "he": ("heb", "Hebrew"),
    "hi": ("hin", "Hindi"),
    "hr": ("hrv", "Croatian"),
    "hu": ("hun", "Hungarian"),
    "id": ("ind", "Indonesian"),
    "is": ("isl", "Icelandic"),
    "it": ("ita", "Italian"),
    "ja": ("jpn", "Japanese"),
    "ko": ("kor", "Korean"),
    "lt": ("lit", "Lithuanian"),
    "lv": ("lav", "Latvian"),
    "mk": ("mkd", "Macedonian"),
    "nl": ("nld", "Dutch"),
    "no": ("nor", "Norwegian"),
    "pl": ("pol", "Polish"),
    "pt": ("por", "Portuguese"),
    "ro": ("ron", "Romanian"),
    "ru": ("rus", "Russian"),
    "sk": ("slk", "Slovak"),
    "sl": ("slv", "Slovenian"),
    "sr": ("srp", "Serbian"),
    "sv": ("swe", "Swedish"),
    "th": ("tha", "Thai"),
    "tr": ("tur", "Turkish"),
    "uk": ("ukr", "Ukrainian"),
    "vi": ("vie", "Vietnamese"),
    "zh": ("zho", "Chinese"),
}

# Scripts written without spaces between words or top-to-bottom: the renderer wraps them per character.
CJK_LANGUAGES = {"ja", "zh", "ko"}


_FROM_ISO3 = {three: two for two, (three, _) in LANGUAGES.items()}


def normalize(code: str | None, what: str = "language") -> str:
    """'EN', 'en-US', 'en_GB', 'eng' -> 'en'; raises UnsupportedLanguageError for codes we do not know."""
    if not code:
        raise UnsupportedLanguageError(f"no {what} given: set it to an ISO 639-1 code such as 'en'")
    base = code.strip().replace("_", "-").split("-")[0].lower()
    base = _FROM_ISO3.get(base, base)
    if base not in LANGUAGES:
        raise UnsupportedLanguageError(
            f"unknown {what} code {code!r}: use an ISO 639-1 code, one of {', '.join(sorted(LANGUAGES))}"
        )
    return base


def iso3(code: str) -> str:
    return LANGUAGES[normalize(code)][0]


def name(code: str) -> str:
    return LANGUAGES[normalize(code)][1]


def described(code: str) -> str:
    """ "Spanish (es)" for a known code, the code alone for one this table lacks."""
    return f"{LANGUAGES[code][1]} ({code})" if code in LANGUAGES else code


def resolve(
    document_value: str | None, parameters: dict | None, key: str, configured: str | None, what: str = "language"
) -> str:
    """The language of one document for one stage, normalised: the document's own field first, then the
    request's `parameters[key]`, then the executor's `with:` value. Every executor resolves this way, with
    the same keys (`source_lang`, `target_lang`), so a client sets a language once for a whole Flow."""
    requested = (parameters or {}).get(key)
    if requested is not None and not isinstance(requested, str):
        raise UnsupportedLanguageError(f"parameter {key!r} must be a language code string, got {requested!r}")
    return normalize(document_value or requested or configured, what)


def resolve_optional(
    document_value: str | None, parameters: dict | None, key: str, configured: str | None, what: str = "language"
) -> str | None:
    """As `resolve`, but None when nobody names a language (a recogniser then detects it)."""
    if not (document_value or (parameters or {}).get(key) or configured):
        return None
    return resolve(document_value, parameters, key, configured, what)


def require_listed(language: str, supported: list[str], engine: str) -> None:
    """UnsupportedLanguageError unless `language` is one of the `supported` codes of `engine`."""
    if language not in supported:
        raise UnsupportedLanguageError(
            f"{engine} cannot handle {language!r} ({name(language) if language in LANGUAGES else 'unknown'}); "
            f"it knows: {', '.join(supported)}"
        )
