"""The single exception type that model import raises."""


class ModelImportError(Exception):
    """A source model directory cannot be converted; the message says why in one line."""
