"""Exceptions raised by cdmer.

Every error about user input is an :class:`InputError` whose message names
the file (when there is one), the field and what was expected, so that the
command line can print it as one line and exit with status 2.
"""


class CdmerError(Exception):
    """Base class of all cdmer errors."""


class InputError(CdmerError, ValueError):
    """Bad user input: a file, a field or a parameter that is not as expected.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : str or os.PathLike, optional
        The file or folder concerned; prefixed to the message.
    field : str, optional
        The variable, column or parameter concerned; prefixed to the message.
    """

    def __init__(self, message, *, path=None, field=None):
        self.path = None if path is None else str(path)
        self.field = field
        self.reason = message
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if field is not None:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration cap before its tolerance."""
