"""What every adaptation method shares: input checks and the source classifier.

Every method of the protocol has one shape: ``fit(Xs, ys, Xt)`` with samples
as rows (source features, source labels, unlabelled target features), then
``predict(X)`` and ``decision_function(X)`` on target samples.

The classifier is the paper's (section 4.1 (2)): a linear SVM with C = 1,
one-vs-one, with LIBSVM semantics: :class:`sklearn.svm.SVC` wraps LIBSVM.
"""

import numpy as np
from sklearn.svm import SVC

from cdmer.errors import InputError


def make_svm(C=1.0):
    """The paper's classifier: LIBSVM linear SVM, one-vs-one (section 4.1 (2)).

    Returns a :class:`LinearSVM`: LIBSVM on the precomputed linear kernel,
    the same problem as ``SVC(kernel="linear", C=C)``, much faster on
    15045-dimensional features.
    """
    return LinearSVM(C)


def check_domains(Xs, ys, Xt, method):
    """Validate source and target data; return float64 arrays ``Xs, ys, Xt``.

    Raises :class:`InputError` naming ``method`` and the field when the
    domains differ in dimension, contain NaN or inf, the target is empty, or
    the source has fewer than two classes.
    """
    Xs = _matrix(Xs, "Xs", method)
    Xt = _matrix(Xt, "Xt", method)
    if Xs.shape[0] == 0:
        raise InputError(f"{method}: the source has no samples", field="Xs")
    if Xt.shape[0] == 0:
        raise InputError(f"{method}: the target has no samples", field="Xt")
    if Xs.shape[1] != Xt.shape[1]:
        raise InputError(f"{method}: source has {Xs.shape[1]} features, target has {Xt.shape[1]}; "
                         "both domains must be described by the same features", field="Xt")
    if ys is not None:
        ys = np.asarray(ys).ravel()
        if ys.shape[0] != Xs.shape[0]:
            raise InputError(f"{method}: {ys.shape[0]} labels for {Xs.shape[0]} source samples", field="ys")
        if np.unique(ys).size < 2:
            raise InputError(f"{method}: the source has one class only ({ys[0]!r}); "
                             "a classifier needs at least two", field="ys")
    return Xs, ys, Xt


def _matrix(X, name, method):
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{method}: expected a 2-D array (samples x features), got shape {X.shape}", field=name)
    X = X.astype(np.float64, copy=False)
    if not np.all(np.isfinite(X)):
        raise InputError(f"{method}: contains NaN or inf", field=name)
    return X


class SourceSVM:
    """Linear SVM trained on the source only: the paper's "SVM" column.

    The target passed to :meth:`fit` is checked but not used.
    """

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, Xs, ys, Xt):
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "SVM")
        self.svm_ = make_svm(self.C).fit(Xs, ys)
        self.classes_ = self.svm_.classes_
        return self

    def predict(self, X):
        return self.svm_.predict(X)

    def decision_function(self, X):
        return self.svm_.decision_function(X)


class LinearSVM:
    """The paper's classifier, trained on the precomputed linear kernel.

    LIBSVM (:class:`sklearn.svm.SVC`, C, one-vs-one) with
    ``kernel="precomputed"`` on the Gram matrix ``X X^T``: the same dual
    problem as LIBSVM's own linear kernel (the kernel values differ only by
    rounding; decision values agree to about 1e-12), but LIBSVM's linear
    kernel recomputes 15045-dimensional dot products through a small cache:
    at 1000 samples it takes minutes where the Gram matrix takes a second.

    Exposes what the linear SVC does: ``classes_``, ``coef_`` (one row per
    one-vs-one machine, pairs ``(0, 1), (0, 2), ..., (1, 2), ...``),
    ``intercept_``, ``predict`` and ``decision_function`` (scikit-learn's
    shapes and sign conventions), and ``svc_``, the fitted LIBSVM model.
    """

    def __init__(self, C=1.0, tol=None):
        self.C = C
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        svc = SVC(kernel="precomputed", C=self.C)
        if self.tol is not None:
            svc.set_params(tol=self.tol)
        svc.fit(X @ X.T, y, sample_weight=sample_weight)
        self.svc_ = svc
        self.classes_ = svc.classes_
        self.X_fit_ = X
        self.coef_ = _ovo_coef(svc, X)
        self.intercept_ = svc.intercept_.copy()
        return self

    def decision_function(self, X):
        return self.svc_.decision_function(np.asarray(X, dtype=np.float64) @ self.X_fit_.T)

    def predict(self, X):
        return self.svc_.predict(np.asarray(X, dtype=np.float64) @ self.X_fit_.T)


def _ovo_coef(svc, X):
    """Primal weight vectors of LIBSVM's one-vs-one machines (linear kernel).

    LIBSVM's layout (documented with scikit-learn's ``SVC.dual_coef_``):
    support vectors are grouped by class; for the machine of classes ``i <
    j`` the coefficients of class ``i``'s support vectors are in row ``j -
    1`` of ``dual_coef_`` and those of class ``j`` in row ``i``. Then ``w =
    sum coef * x_sv`` and the decision value is ``w^T x + intercept``.
    """
    k = len(svc.classes_)
    sv = X[svc.support_]
    dual = svc.dual_coef_
    if k == 2:
        return dual @ sv
    start = np.concatenate([[0], np.cumsum(svc.n_support_)])
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            si = slice(start[i], start[i + 1])
            sj = slice(start[j], start[j + 1])
            rows.append(dual[j - 1, si] @ sv[si] + dual[i, sj] @ sv[sj])
    return np.array(rows)
