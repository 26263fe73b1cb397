"""Domain adaptation: TSRG (the paper's method) and its comparison methods (the array API).

All estimators take samples as rows. The protocol's shape is
``fit(Xs, ys, Xt)`` then ``predict(X)``; :class:`TSRG` itself is a
transformer (``fit(Xs, Xt)``, ``transform(X)``). The skada / scikit-learn
layer over these estimators, and the registry of methods, are in
:mod:`cdmer.da`.
"""

from cdmer.adaptation.base import LinearSVM, SourceSVM, check_domains, make_svm

__all__ = ["LinearSVM", "SourceSVM", "check_domains", "make_svm", "PaperSVM", "TSRG", "TSRGClassifier",
           "tsrg_path", "KMM", "KLIEP", "ULSIF", "STM", "DRFST", "DRFSTClassifier", "DRLS", "TGSR", "GFK",
           "CORAL", "TKL", "TKLClassifier"]

_LAZY = {
    "TSRG": "cdmer.adaptation.tsrg",
    "TSRGClassifier": "cdmer.adaptation.tsrg",
    "tsrg_path": "cdmer.adaptation.tsrg",
    "KMM": "cdmer.adaptation.kmm",
    "KLIEP": "cdmer.adaptation.kliep",
    "ULSIF": "cdmer.adaptation.ulsif",
    "STM": "cdmer.adaptation.stm",
    "PaperSVM": "cdmer.adaptation._weighted",
    "DRFST": "cdmer.adaptation.drfst",
    "DRFSTClassifier": "cdmer.adaptation.drfst",
    "DRLS": "cdmer.adaptation.drls",
    "TGSR": "cdmer.adaptation.tgsr",
    "GFK": "cdmer.adaptation.gfk",
    "CORAL": "cdmer.adaptation.coral",
    "TKL": "cdmer.adaptation.tkl",
    "TKLClassifier": "cdmer.adaptation.tkl",
}


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cdmer.adaptation' has no attribute {name!r}")
