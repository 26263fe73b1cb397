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
    """The paper's classifier: LIBSVM linear SVM, one-vs-one (section 4.1 (2))."""
    return SVC(kernel="linear", C=C)


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
