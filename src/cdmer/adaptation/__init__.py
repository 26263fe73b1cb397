"""Domain adaptation: TSRG (the paper's method) and its comparison methods.

All estimators take samples as rows. The protocol's shape is
``fit(Xs, ys, Xt)`` then ``predict(X)``; :class:`TSRG` itself is a
transformer (``fit(Xs, Xt)``, ``transform(X)``).
"""

from cdmer.adaptation.base import SourceSVM, make_svm
from cdmer.adaptation.methods import METHODS, get_method

__all__ = ["SourceSVM", "make_svm", "METHODS", "get_method", "TSRG", "TSRGClassifier",
           "KMM", "KLIEP", "ULSIF", "STM"]

_LAZY = {
    "TSRG": "cdmer.adaptation.tsrg",
    "TSRGClassifier": "cdmer.adaptation.tsrg",
    "KMM": "cdmer.adaptation.kmm",
    "KLIEP": "cdmer.adaptation.kliep",
    "ULSIF": "cdmer.adaptation.ulsif",
    "STM": "cdmer.adaptation.stm",
}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cdmer.adaptation' has no attribute {name!r}")
