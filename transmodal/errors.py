"""Errors that end up on a document (`MediaDoc.error`) rather than failing the whole request."""


class TransmodalError(Exception):
    """A problem with one document's input: its message is shown to the user as is."""


class BadInputError(TransmodalError):
    """The document's image, audio or text cannot be used (corrupt, empty, too large, ...)."""


class UnsupportedLanguageError(TransmodalError):
    """A language code, or a pair of them, that the configured backend cannot handle."""


class ModelNotFoundError(TransmodalError):
    """A model backend was selected but its weights are not where the configuration points.

    Raised at executor start-up, so a misconfigured Flow fails fast with the message instead of hanging.
    """


class ConfigurationError(TransmodalError):
    """An executor's `with:` options are invalid (unknown backend, bad value)."""
