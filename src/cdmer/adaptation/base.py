"""What every adaptation method shares: validation at the boundary and the paper's SVM.

Every method of the protocol has one shape: ``fit(Xs, ys, Xt)`` with samples
as rows (source features, source labels, unlabelled target features), then
``predict(X)`` and ``decision_function(X)`` on target samples.

Validation happens once, when data or parameters enter an estimator:

- parameters: :func:`validate_params`, scikit-learn's ``_parameter_constraints``
  mechanism, its errors turned into :class:`~cdmer.errors.InputError` naming
  the parameter;
- data at fit: :func:`check_domains`; data at predict / transform:
  :func:`check_features` (fitted? same number of features?). Both go through
  :func:`sklearn.utils.check_array`.

The classifier is the paper's (section 4.1 (2)): a linear SVM with C = 1,
one-vs-one, with LIBSVM semantics (:class:`LinearSVM`).
"""

import functools
import re
import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.svm import SVC
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, InvalidParameterError, validate_parameter_constraints
from sklearn.utils.multiclass import check_classification_targets

from cdmer.errors import InputError, InputTypeError, NotFittedError


def make_svm(C=1.0):
    """The paper's classifier: LIBSVM linear SVM, one-vs-one (section 4.1 (2)).

    Returns a :class:`LinearSVM`: LIBSVM on the precomputed linear kernel,
    the same problem as ``SVC(kernel="linear", C=C)``, much faster on
    15045-dimensional features.
    """
    return LinearSVM(C=C)


#: (class, parameter, type, repr) of the scalar parameter values already found valid (see validate_params)
_VALID = set()
_VALID_MAX = 100_000


@functools.lru_cache(maxsize=None)
def _param_names(cls):
    return tuple(cls._get_param_names())


def validate_params(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    What scikit-learn's ``estimator._validate_params()`` checks, with the
    same messages: each parameter against its own constraints. A scalar value
    (number, string, None) found valid for a parameter of a class is not
    checked again: a grid of thousands of points (TGSR: 23,035 per
    experiment) repeats the same few values. Raises :class:`InputError`
    (field = the parameter) instead of scikit-learn's ``InvalidParameterError``.
    """
    cls = type(estimator)
    name = getattr(estimator, "method", "") or cls.__name__
    constraints = getattr(estimator, "_parameter_constraints", {})
    todo, keys = {}, []
    for param in _param_names(cls):
        if param not in constraints:
            continue
        value = getattr(estimator, param)
        key = (cls, param, type(value), repr(value)) if isinstance(value, (Real, str, type(None))) else None
        if key is None or key not in _VALID:
            todo[param] = value
            keys.append(key)
    try:
        validate_parameter_constraints({k: constraints[k] for k in todo}, todo, caller_name=cls.__name__)
    except InvalidParameterError as exc:
        match = re.match(r"The '([^']+)' parameter of \S+ must be (.*)\. Got (.*) instead\.$", str(exc), re.S)
        if match is None:
            raise InputError(f"{name}: {exc}") from None
        param, expected, got = match.groups()
        raise InputError(f"{name}: {param} must be {expected}; got {got}", field=param) from None
    if len(_VALID) > _VALID_MAX:
        _VALID.clear()
    _VALID.update(key for key in keys if key is not None)


def _as_matrix(X, field, method):
    """``X`` as a finite float64 2-D array (samples x features); InputError otherwise."""
    if X is None:
        raise InputError(f"{method} requires {field} to be passed, but {field} is None", field=field)
    try:
        return check_array(X, dtype=np.float64, ensure_min_samples=1, input_name=field)
    except TypeError as exc:  # objects that are not numbers
        raise InputTypeError(f"{method}: {exc}", field=field) from None
    except ValueError as exc:  # strings, NaN / inf, wrong dimension, no samples
        raise InputError(f"{method}: {exc}", field=field) from None


def check_domains(Xs, ys, Xt, method):
    """Validate source and target data; return float64 arrays ``Xs, ys, Xt``.

    ``ys`` may be None (no labels needed, e.g. TSRG) and ``Xt`` may be None
    (a classifier on one domain, e.g. :class:`LinearSVM`). Raises
    :class:`InputError` naming ``method`` and the field when an array is not
    a finite numeric 2-D array (strings, NaN, inf), has no samples, the
    domains differ in dimension, the labels are not class labels or do not
    match the samples, or the source has fewer than two classes.
    """
    Xs = _as_matrix(Xs, "Xs", method)
    if Xt is not None:
        Xt = _as_matrix(Xt, "Xt", method)
        if Xs.shape[1] != Xt.shape[1]:
            raise InputError(f"{method}: source has {Xs.shape[1]} features, target has {Xt.shape[1]}; "
                             "both domains must be described by the same features", field="Xt")
    if ys is not None:
        ys = np.asarray(ys)
        if ys.ndim == 2 and ys.shape[1] == 1:
            warnings.warn(f"A column-vector y was passed when a 1d array was expected ({method}); it is "
                          "used as a 1d array", DataConversionWarning, stacklevel=3)
            ys = ys.ravel()
        if ys.ndim != 1:
            raise InputError(f"{method}: y should be a 1d array, got shape {ys.shape}", field="ys")
        if ys.shape[0] != Xs.shape[0]:
            raise InputError(f"{method}: {ys.shape[0]} labels for {Xs.shape[0]} source samples", field="ys")
        try:
            check_classification_targets(ys)
        except ValueError as exc:
            raise InputError(f"{method}: {exc}", field="ys") from None
        if np.unique(ys).size < 2:
            raise InputError(f"{method}: the source has one class only ({ys[0]!r}); "
                             "a classifier needs at least two", field="ys")
    return Xs, ys, Xt


def check_features(estimator, X, attribute, method=None):
    """Validate samples given to a fitted estimator; return them as float64.

    Raises :class:`~cdmer.errors.NotFittedError` when ``attribute`` (a fitted
    attribute) is missing and :class:`InputError` when ``X`` is not a finite
    numeric 2-D array with ``estimator.n_features_in_`` features.
    """
    method = method or type(estimator).__name__
    if not hasattr(estimator, attribute):
        raise NotFittedError(f"This {method} instance is not fitted yet. Call 'fit' with appropriate arguments "
                             "before using this estimator.")
    X = _as_matrix(X, "X", method)
    if X.shape[1] != estimator.n_features_in_:
        raise InputError(f"X has {X.shape[1]} features, but {method} is expecting {estimator.n_features_in_} "
                         "features as input", field="X")
    return X


class LinearSVM(ClassifierMixin, BaseEstimator):
    """The paper's classifier: LIBSVM linear SVM, one-vs-one, trained on the precomputed linear kernel.

    LIBSVM (:class:`sklearn.svm.SVC`, C, one-vs-one) with
    ``kernel="precomputed"`` on the Gram matrix ``X X^T``: the same dual
    problem as LIBSVM's own linear kernel (the kernel values differ only by
    rounding), but LIBSVM's linear kernel recomputes 15045-dimensional dot
    products through a small cache (see docs/baselines.md).

    Tie rule (``break_ties=True``, the default): the label is the class of
    largest decision value, i.e. the argmax of :meth:`decision_function`
    (scikit-learn's ``break_ties=True``). The decision values are
    scikit-learn's one-vs-rest aggregation of the one-vs-one machines: the
    votes of each class plus its summed confidences scaled into (-1/3, 1/3),
    so the most voted class always wins and a tie in the votes goes to the
    class the machines are most confident about; the label and the scores
    reported beside it always agree. ``break_ties=False`` is LIBSVM's own
    rule (a tie in the votes goes to the class listed first), which can
    disagree with the scores; it is what LIBSVM's ``svmpredict`` does and
    reproduces the reference numbers of the published features' README
    (docs/results.md says where the two rules differ on the real features).

    Parameters
    ----------
    C : float
        Penalty (paper: 1).
    tol : float or None
        LIBSVM's stopping tolerance (None: its default 1e-3).
    break_ties : bool
        The tie rule above (True: argmax of the decision values; False: LIBSVM's votes).

    Attributes
    ----------
    classes_, n_features_in_
    coef_ : ndarray
        One row per one-vs-one machine, pairs ``(0, 1), (0, 2), ..., (1, 2), ...``.
    intercept_ : ndarray
    svc_ : sklearn.svm.SVC
        The fitted LIBSVM model (on the precomputed kernel).
    X_fit_ : ndarray
        The training samples (needed for the kernel at prediction).
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="neither"), None],
        "break_ties": ["boolean"],
    }

    def __init__(self, C=1.0, tol=None, break_ties=True):
        self.C = C
        self.tol = tol
        self.break_ties = break_ties

    def fit(self, X, y, sample_weight=None):
        """Train the SVM on samples ``X`` (rows) and labels ``y``; LIBSVM scales C by ``sample_weight``."""
        validate_params(self)
        X, y, _ = check_domains(X, y, None, type(self).__name__)
        svc = SVC(kernel="precomputed", C=self.C, decision_function_shape="ovr")
        if self.tol is not None:
            svc.set_params(tol=self.tol)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        svc.fit(X @ X.T, y, sample_weight=sample_weight)
        self.svc_ = svc
        self.classes_ = svc.classes_
        self.X_fit_ = X
        self.n_features_in_ = X.shape[1]
        self.coef_ = _ovo_coef(svc, X)
        self.intercept_ = svc.intercept_.copy()
        return self

    def decision_function(self, X):
        """Decision values: ``(n,)`` for two classes (positive: ``classes_[1]``), else ``(n, n_classes)``."""
        X = check_features(self, X, "svc_")
        return self.svc_.decision_function(X @ self.X_fit_.T)

    def predict(self, X):
        """Labels by the tie rule above (default: the class of largest decision value)."""
        if not self.break_ties:
            X = check_features(self, X, "svc_")
            return self.svc_.predict(X @ self.X_fit_.T)
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


class SourceSVM(BaseEstimator):
    """Linear SVM trained on the source only: the paper's "SVM" column.

    ``fit(Xs, ys, Xt)`` checks the target (same features) but does not use
    it; ``predict`` and ``decision_function`` are those of the fitted
    :class:`LinearSVM` ``svm_``.
    """

    _parameter_constraints = {"C": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, Xs, ys, Xt):
        """Train the paper's SVM on the labelled source ``(Xs, ys)``."""
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "SVM")
        self.svm_ = make_svm(self.C).fit(Xs, ys)
        self.classes_ = self.svm_.classes_
        self.n_features_in_ = Xs.shape[1]
        return self

    def predict(self, X):
        """Predicted labels of the samples (rows) of ``X``."""
        X = check_features(self, X, "svm_", "SVM")
        return self.svm_.predict(X)

    def decision_function(self, X):
        """The SVM's decision values (see :meth:`LinearSVM.decision_function`)."""
        X = check_features(self, X, "svm_", "SVM")
        return self.svm_.decision_function(X)


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
