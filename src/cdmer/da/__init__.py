"""The skada / scikit-learn layer: Adapters, DA classifiers, the registry, ``make_method``.

``cdmer.da.make_method(name, **params)`` returns the DA estimator of any
method of :data:`cdmer.da.registry.METHODS` (a skada DA pipeline ending in
the paper's linear SVM, or a DA classifier): ``fit(X, y,
sample_domain=...)``, ``predict(X, sample_domain=...)``.

skada is imported only by :mod:`cdmer.da.adapters` and by the registry's
build functions, when they are used: importing skada switches
scikit-learn's metadata routing on for the whole process
(docs/ecosystem.md). ``import cdmer.da`` and ``cdmer.da.registry`` do not.
"""

from cdmer.da.registry import METHODS, MethodSpec, PointOutput, evaluate_points, get_method, make_method

__all__ = ["METHODS", "MethodSpec", "PointOutput", "evaluate_points", "get_method", "make_method",
           "TSRGAdapter", "KMMAdapter", "KLIEPAdapter", "ULSIFAdapter", "STMClassifier", "DRFSTAdapter", "GFKAdapter",
           "DRLSClassifier", "TGSRClassifier", "CORALAdapter", "TKLClassifier", "PaperSVM", "LinearSVM"]

_ADAPTERS = ("TSRGAdapter", "KMMAdapter", "KLIEPAdapter", "ULSIFAdapter", "STMClassifier", "DRFSTAdapter",
             "GFKAdapter", "DRLSClassifier", "TGSRClassifier", "CORALAdapter", "TKLClassifier")


def __getattr__(name):
    if name in _ADAPTERS:
        from cdmer.da import adapters

        return getattr(adapters, name)
    if name == "PaperSVM":
        from cdmer.adaptation._weighted import PaperSVM

        return PaperSVM
    if name == "LinearSVM":
        from cdmer.adaptation.base import LinearSVM

        return LinearSVM
    raise AttributeError(f"module 'cdmer.da' has no attribute {name!r}")
