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


class InputTypeError(InputError, TypeError):
    """Bad user input of the wrong type, e.g. feature arrays holding strings or objects.

    Both an :class:`InputError` and a :class:`TypeError` (scikit-learn's
    convention for values that cannot be converted to numbers).
    """


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration cap before its tolerance."""


try:  # scikit-learn is a dependency of every estimator; errors.py stays importable without it
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError
except ImportError:  # pragma: no cover
    _SklearnNotFittedError = AttributeError


class NotFittedError(CdmerError, _SklearnNotFittedError):
    """An estimator was used (predict, transform, ...) before ``fit``.

    A subclass of :class:`sklearn.exceptions.NotFittedError`, so that
    scikit-learn's and skada's tools recognise it.
    """
