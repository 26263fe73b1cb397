"""The registry of methods the protocol compares (the columns of Tables 2-3).

Each entry names the estimator class (``fit(Xs, ys, Xt)``, ``predict``,
``decision_function``), the grid of constructor parameters the protocol
searches and the one setting used without target labels (*fixed*). Grids and
fixed settings live beside each method, as ``PARAM_GRID`` and
``FIXED_PARAMS`` in its module.
"""

from dataclasses import dataclass
from importlib import import_module

from cdmer.errors import CdmerError, InputError


@dataclass(frozen=True)
class Method:
    """A method of the comparison.

    Attributes
    ----------
    name : str
        Column name in the tables (``SVM``, ``KMM``, ``KLIEP``, ``uLSIF``, ``STM``, ``TSRG``).
    target : str
        ``"module:Class"`` of the estimator.
    citation : str
        The paper it implements.
    """

    name: str
    target: str
    citation: str

    @property
    def estimator_class(self):
        module, cls = self.target.split(":")
        return getattr(import_module(module), cls)

    @property
    def module(self):
        return import_module(self.target.split(":")[0])

    @property
    def grid(self):
        """The parameter grid searched by the protocol (list of dicts)."""
        return [dict(p) for p in getattr(self.module, "PARAM_GRID", [{}])]

    @property
    def fixed(self):
        """The setting chosen without target labels, the same for every experiment."""
        return dict(getattr(self.module, "FIXED_PARAMS", {}))

    def make(self, **params):
        return self.estimator_class(**params)

    def grid_predict(self, Xs, ys, Xt, params_list, **kwargs):
        """Yield ``(params, y_pred, info)`` for each point; fast path when the class has one.

        A point whose fit fails for a reason of the method (a
        :class:`~cdmer.errors.CdmerError` that is not an input error, e.g. a
        weighting that leaves one class) yields ``y_pred = None`` and the
        reason in ``info["error"]``; the other points go on.
        """
        cls = self.estimator_class
        if hasattr(cls, "grid_predict"):
            yield from cls.grid_predict(Xs, ys, Xt, params_list, **kwargs)
            return
        import time

        for params in params_list:
            start = time.perf_counter()
            try:
                est = cls(**params).fit(Xs, ys, Xt)
            except InputError:
                raise
            except CdmerError as exc:  # this point failed (e.g. a weighting left one class): go on
                yield params, None, {"time_s": time.perf_counter() - start, "error": str(exc)}
                continue
            y_pred = est.predict(Xt)
            info = {"time_s": time.perf_counter() - start}
            info.update(getattr(est, "info_", {}) or {})
            yield params, y_pred, info


METHODS = {
    m.name: m
    for m in (
        Method("SVM", "cdmer.adaptation.base:SourceSVM",
               "linear SVM, C = 1, LIBSVM one-vs-one (paper section 4.1 (2))"),
        Method("KMM", "cdmer.adaptation.kmm:KMM", "Huang et al., NIPS 2006"),
        Method("KLIEP", "cdmer.adaptation.kliep:KLIEP", "Sugiyama et al., NIPS 2007"),
        Method("uLSIF", "cdmer.adaptation.ulsif:ULSIF", "Kanamori et al., JMLR 2009"),
        Method("STM", "cdmer.adaptation.stm:STM", "Chu, De la Torre and Cohn, CVPR 2013"),
        Method("TSRG", "cdmer.adaptation.tsrg:TSRGClassifier", "Zong et al., ACM MM 2017"),
    )
}


def get_method(name):
    """Look a method up by name, case-insensitively."""
    for key, method in METHODS.items():
        if key.lower() == str(name).lower():
            return method
    raise InputError(f"unknown method {name!r} (expected one of {', '.join(METHODS)})", field="methods")
