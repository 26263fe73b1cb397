"""What the importance-weighting baselines share.

- :func:`kmm_terms` and :func:`solve_kmm_qp`: the kernel mean matching
  quadratic program of Huang et al. (NIPS 2006, section 3), used by
  :class:`~cdmer.adaptation.kmm.KMM` and, with an extra linear term, by the
  weight step of :class:`~cdmer.adaptation.stm.STM`.
- :func:`fit_weighted_svm` and :class:`PaperSVM`: the paper's linear SVM
  (section 4.1 (2), :class:`~cdmer.adaptation.base.LinearSVM`) trained with
  one importance weight per source sample, zero-weight samples and classes
  left out (the same rule for the array API and the skada pipelines).
- :func:`gaussian_design` and :func:`median_distance`: the Gaussian basis
  centred on target samples used by KLIEP and uLSIF.
- :class:`WeightedSVMClassifier`: ``predict`` / ``decision_function`` through
  the fitted SVM; :class:`ImportanceWeightedSVM`: weights, then the SVM.

The QP is solved with Clarabel (an interior-point solver for convex conic
programs, maintained by the Oxford control group) through ``qpsolvers``: it is
a declared dependency of cdmer, it reports a status that separates "solved"
from "infeasible" and "stopped early", and its supernodal ``faer`` factorisation
is fast on the dense 1000-sample KMM problem (timings in docs/baselines.md).
"""

import warnings
from numbers import Real

import numpy as np
import qpsolvers
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics.pairwise import euclidean_distances, rbf_kernel
from sklearn.utils._param_validation import Interval, StrOptions

from cdmer.adaptation.base import LinearSVM, check_domains, check_features, validate_params
from cdmer.adaptation.kernels import resolve_gamma
from cdmer.errors import CdmerError, ConvergenceWarning, InputError, NotFittedError

#: Parameter constraints shared by the KMM-type weightings (KMM, STM).
KMM_CONSTRAINTS = {
    "B": [Interval(Real, 0, None, closed="neither")],
    "eps": [Interval(Real, 0, None, closed="left"), None],
    "kernel": [StrOptions({"linear", "rbf"})],
    "gamma": [Interval(Real, 0, None, closed="neither"), None],
    "C": [Interval(Real, 0, None, closed="neither")],
    "solver_options": [dict, None],
}

#: Clarabel statuses after which the last iterate is usable (with a warning).
_STOPPED_EARLY = {"AlmostSolved", "MaxIterations", "MaxTime", "InsufficientProgress"}
_INFEASIBLE = {"PrimalInfeasible", "AlmostPrimalInfeasible"}


def default_eps(ns):
    """KMM's tolerance on the weight sum: ``(sqrt(ns) - 1) / sqrt(ns)``.

    Huang et al. (2006, section 3.1) advise ``eps = O(B / sqrt(ns))``; the
    paper (section 4.1 (3)) writes "sqrt(ntr) - 1 / sqrt(ntr)", read here as
    ``(sqrt(ns) - 1) / sqrt(ns)``, the value of the authors' KMM code: with
    ``eps = sqrt(ns) - 1/sqrt(ns)`` the lower bound of the sum would be
    negative and the constraint void.
    """
    root = np.sqrt(ns)
    return float((root - 1.0) / root)


def check_kmm_params(B, eps, ns, method):
    """The sum tolerance for ``ns`` source samples (default :func:`default_eps`); check feasibility.

    ``B`` and ``eps`` are checked by the estimator's parameter constraints;
    here only what depends on the data: the constraints ``0 <= b_i <= B`` and
    ``|sum(b) - ns| <= ns * eps`` are feasible exactly when ``B >= 1 - eps``.
    """
    eps = default_eps(ns) if eps is None else float(eps)
    if B < 1.0 - eps:
        raise InputError(f"{method}: the weight constraints are infeasible: weights at most B = {B:g} "
                         f"cannot sum to at least ns * (1 - eps) = {ns * (1.0 - eps):g}; "
                         "expected B >= 1 - eps", field="B")
    return eps


def kmm_terms(Xs, Xt, kernel, gamma, method):
    """KMM's quadratic and linear terms ``K`` and ``kappa``.

    ``K_ij = k(xs_i, xs_j)`` and ``kappa_i = ns / nt * sum_j k(xs_i, xt_j)``
    (Huang et al. 2006, section 3.1). With the linear kernel ``kappa`` needs
    only the target mean: ``kappa = ns * Xs @ mean(Xt)``.

    Returns
    -------
    K : ndarray (ns, ns) or None
        ``None`` when ``factor`` is returned instead.
    factor : ndarray (d, ns) or None
        ``Xs.T`` when the kernel is linear and ``d <= ns / 4``: then ``K =
        factor.T @ factor`` and the QP is solved in that factored form.
    kappa : ndarray (ns,)
    gamma : float or None
        The RBF parameter used (``None`` for the linear kernel).
    """
    ns, d = Xs.shape
    nt = Xt.shape[0]
    if kernel == "linear":
        kappa = ns * (Xs @ Xt.mean(axis=0))
        if 4 * d <= ns:
            return None, np.ascontiguousarray(Xs.T), kappa, None
        return Xs @ Xs.T, None, kappa, None
    if kernel == "rbf":
        # The one gamma=None rule of cdmer (kernels.py): 1 / (d var) of the pooled samples.
        gamma = resolve_gamma(gamma, kernel, np.concatenate([Xs, Xt]), method)
        K = rbf_kernel(Xs, Xs, gamma=gamma)
        kappa = ns / nt * rbf_kernel(Xs, Xt, gamma=gamma).sum(axis=1)
        return K, None, kappa, float(gamma)
    raise InputError(f"{method}: unknown kernel {kernel!r}; expected 'linear' or 'rbf'", field="kernel")


def warn_if_degenerate(Xs, method):
    """Warn when all source samples are identical (constant kernel matrix)."""
    if Xs.shape[0] > 1 and np.ptp(Xs, axis=0).max() == 0:
        warnings.warn(f"{method}: all source samples are identical, so the kernel matrix is constant and "
                      "the weights are not identifiable; the solver returns one optimal weighting "
                      "(equal weights)", UserWarning, stacklevel=3)


def solve_kmm_qp(q, B, eps, method, *, K=None, factor=None, options=None):
    """Solve ``min 1/2 b^T K b + q^T b`` s.t. ``0 <= b <= B``, ``|sum(b) - ns| <= ns eps``.

    KMM takes ``q = -kappa`` (Huang et al. 2006, section 3.1); STM's weight
    step adds the scaled per-sample losses (Chu et al. 2013, section 3).

    Give either the kernel matrix ``K`` (ns x ns) or a ``factor`` F (r x ns)
    with ``K = F^T F``; the factored problem ``min 1/2 ||z||^2 + q^T b`` s.t.
    ``F b - z = 0`` has the same solution ``b`` and a sparse Hessian, which is
    faster when ``r`` is well below ``ns``. ``K`` is used as given: no ridge
    is added (a singular ``K``, e.g. rank ``d < ns`` for the linear kernel,
    is a valid positive semi-definite QP for an interior-point method).

    Returns
    -------
    b : ndarray (ns,)
    status : str
        Clarabel's status (``"Solved"`` or, with a
        :class:`~cdmer.errors.ConvergenceWarning`, a stopped-early status).

    Raises
    ------
    CdmerError
        When the solver reports the problem infeasible or fails numerically.
    """
    ns = q.shape[0]
    lo, hi = ns * (1.0 - eps), ns * (1.0 + eps)
    eye = sp.identity(ns, format="csc")
    ones = sp.csc_matrix(np.ones((1, ns)))
    if factor is None:
        n_extra = 0
        P = sp.csc_matrix(np.triu(K))
        c = q
        A = b_eq = None
    else:
        n_extra = factor.shape[0]
        P = sp.block_diag([sp.csc_matrix((ns, ns)), sp.identity(n_extra)], format="csc")
        c = np.concatenate([q, np.zeros(n_extra)])
        A = sp.hstack([sp.csc_matrix(factor), -sp.identity(n_extra)], format="csc")
        b_eq = np.zeros(n_extra)
    def rows(block):
        return sp.hstack([block, sp.csc_matrix((block.shape[0], n_extra))], format="csc") if n_extra else block

    # sum(b) <= ns (1 + eps), -sum(b) <= -ns (1 - eps), b <= B, -b <= 0
    G = sp.vstack([rows(ones), rows(-ones), rows(eye), rows(-eye)], format="csc")
    h = np.concatenate([[hi, -lo], np.full(ns, float(B)), np.zeros(ns)])
    settings = {"direct_solve_method": "qdldl" if factor is not None else "faer"}
    settings.update(options or {})
    problem = qpsolvers.Problem(P, c, G, h, A, b_eq)
    x, status = solve_clarabel(problem, settings, method=method, size=ns, clipped="clipped to [0, B]",
                               infeasible=f"the weight QP is infeasible (solver status {{status}}; B = {B:g}, "
                                          f"eps = {eps:g}, ns = {ns})")
    return np.clip(x, 0.0, B), status


def solve_clarabel(problem, settings, *, method, size, clipped, infeasible):
    """Solve a :class:`qpsolvers.Problem` with Clarabel; return ``(x[:size], status)``.

    Raises :class:`~cdmer.errors.CdmerError` when the solver reports the
    problem infeasible (the message ``infeasible``, formatted with
    ``status``), returns no finite solution, or fails otherwise; warns
    (:class:`~cdmer.errors.ConvergenceWarning`) when it stopped early, saying
    its last iterate is used (``clipped`` says how the caller bounds it).
    """
    with warnings.catch_warnings():
        # qpsolvers warns on any status but Solved; the status is reported below.
        warnings.simplefilter("ignore")
        solution = qpsolvers.solve_problem(problem, solver="clarabel", **settings)
    status = str(solution.extras.get("status", "unknown")).split(".")[-1]
    x = None if solution.x is None else np.asarray(solution.x, dtype=float)[:size]
    if status in _INFEASIBLE:
        raise CdmerError(f"{method}: " + infeasible.format(status=status))
    if x is None or x.shape != (size,) or not np.all(np.isfinite(x)):
        raise CdmerError(f"{method}: the QP solver (Clarabel) failed with status {status} and no usable "
                         "solution; the kernel matrix may be badly scaled")
    if status != "Solved":
        if status not in _STOPPED_EARLY:
            raise CdmerError(f"{method}: the QP solver (Clarabel) failed with status {status}")
        warnings.warn(f"{method}: the QP solver (Clarabel) stopped with status {status} before reaching "
                      f"its tolerance; using its last iterate, {clipped}", ConvergenceWarning, stacklevel=4)
    return x, status


def qp_objective(b, q, K=None, factor=None):
    """``1/2 b^T K b + q^T b`` (with ``K = factor^T factor`` when factored)."""
    if factor is not None:
        z = factor @ b
        return float(0.5 * z @ z + q @ b)
    return float(0.5 * b @ K @ b + q @ b)


#: Weights below this fraction of the largest count as zero: an interior-point
#: method never returns exact zeros (weakly active bounds come out near
#: sqrt(tolerance), about 1e-5 of the largest weight).
ZERO_WEIGHT = 1e-6
#: A class holding less than this fraction of the total weight counts as lost.
CLASS_MASS_FLOOR = 1e-4


def weighted_subset(ys, weights, method):
    """The samples the weighted SVM is trained on: the rule of :func:`fit_weighted_svm`.

    Returns a boolean mask over the samples; raises / warns as described there.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (ys.shape[0],) or not np.all(np.isfinite(weights)):
        raise CdmerError(f"{method}: the importance weights are not finite (one per source sample expected)")
    if np.any(weights < 0):
        raise CdmerError(f"{method}: negative importance weights (min {weights.min():g})")
    total = weights.sum()
    keep = weights > ZERO_WEIGHT * weights.max()
    classes = np.unique(ys)
    lost = [c for c in classes.tolist() if not weights[ys == c].sum() > CLASS_MASS_FLOOR * total]
    keep &= ~np.isin(ys, lost)
    kept = np.unique(ys[keep])
    if kept.size < 2:
        raise CdmerError(f"{method}: after weighting, only {kept.size} source class(es) keep a positive "
                         f"weight ({', '.join(map(str, kept)) or 'none'}); a classifier needs at least two. "
                         "The weighting gave zero weight to every sample of "
                         f"{', '.join(map(repr, lost))}")
    if lost:
        warnings.warn(f"{method}: every source sample of class {', '.join(map(repr, lost))} got zero "
                      "weight; the classifier is trained without that class and will never predict it",
                      UserWarning, stacklevel=4)
    return keep


def fit_weighted_svm(Xs, ys, weights, method, C=1.0, tol=None):
    """Train the paper's linear SVM with one weight per source sample.

    LIBSVM multiplies ``C`` by each sample's weight. Samples of weight zero
    have no influence on the solution (their dual variable is bounded by
    ``0``) and are left out; weights below :data:`ZERO_WEIGHT` times the
    largest count as zero. A class whose weights are all zero (its share of
    the total weight below :data:`CLASS_MASS_FLOOR`) cannot be learned: it is
    dropped with a warning naming it; if fewer than two classes keep a
    positive weight, :class:`CdmerError` is raised.

    Returns a fitted :class:`~cdmer.adaptation.base.LinearSVM`.
    """
    weights = np.asarray(weights, dtype=float)
    keep = weighted_subset(ys, weights, method)
    return LinearSVM(C=C, tol=tol).fit(Xs[keep], ys[keep], sample_weight=weights[keep])


class PaperSVM(ClassifierMixin, BaseEstimator):
    """The paper's linear SVM with importance weights: a plain scikit-learn classifier.

    ``fit(X, y, sample_weight=None)``: without weights, the
    :class:`~cdmer.adaptation.base.LinearSVM`; with weights, the rule of
    :func:`fit_weighted_svm` (zero-weight samples and classes left out). It
    is the final estimator of the reweighting pipelines of :mod:`cdmer.da`
    (KMM, KLIEP, uLSIF), which therefore predict exactly as the array API.

    Parameters
    ----------
    C : float
        Penalty (paper: 1).
    tol : float or None
        LIBSVM's stopping tolerance (None: its default).

    Attributes
    ----------
    svm_ : LinearSVM
        The SVM trained on the kept samples.
    classes_ : ndarray
        Classes it can predict (a class whose weights are all zero is not among them).
    n_features_in_ : int
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, C=1.0, tol=None):
        self.C = C
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        """Train on samples ``X`` (rows), labels ``y`` and optional importance weights."""
        validate_params(self)
        X, y, _ = check_domains(X, y, None, "PaperSVM")
        if sample_weight is None:
            self.svm_ = LinearSVM(C=self.C, tol=self.tol).fit(X, y)
        else:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != (X.shape[0],):
                raise InputError(f"PaperSVM: sample_weight.shape == {sample_weight.shape}, expected "
                                 f"{(X.shape[0],)}", field="sample_weight")
            self.svm_ = fit_weighted_svm(X, y, sample_weight, "PaperSVM", C=self.C, tol=self.tol)
        self.classes_ = self.svm_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X):
        """Decision values of the SVM (see :meth:`LinearSVM.decision_function`)."""
        X = check_features(self, X, "svm_")
        return self.svm_.decision_function(X)

    def predict(self, X):
        """Labels: the class of largest decision value (the tie rule of :class:`LinearSVM`)."""
        X = check_features(self, X, "svm_")
        return self.svm_.predict(X)


def median_distance(sq_dist, method):
    """Median Euclidean distance, from squared distances of samples to the centres.

    The Gaussian widths of KLIEP and uLSIF are searched in multiples of this
    scale. When more than half the distances are zero the mean of the
    non-zero ones is used; when all are zero (the samples are identical) no
    Gaussian width can be chosen and :class:`InputError` is raised.
    """
    dist = np.sqrt(np.concatenate([d.ravel() for d in sq_dist]))
    scale = float(np.median(dist))
    if scale == 0:
        if dist.max() == 0:
            raise InputError(f"{method}: all source and target samples are identical (every distance to "
                             "the Gaussian centres is 0); a Gaussian width cannot be chosen", field="Xt")
        scale = float(dist[dist > 0].mean())
    return scale


def squared_distances(X, centers):
    """Squared Euclidean distances, clipped at 0 (rounding)."""
    return np.maximum(euclidean_distances(X, centers, squared=True), 0.0)


#: Basis values below this are set to 0: products of two of them would be
#: subnormal numbers, which slow BLAS down a hundredfold, and at 1e-150 of
#: the basis's peak they carry no information.
BASIS_FLOOR = 1e-150


def gaussian_design(sq_dist, sigma):
    """Gaussian basis ``exp(-||x - c||^2 / (2 sigma^2))`` from squared distances."""
    values = np.exp(-sq_dist / (2.0 * sigma * sigma))
    values[values < BASIS_FLOOR] = 0.0
    return values


def choose_centers(Xt, n_centers, rng, method):
    """At most ``n_centers`` target samples drawn without replacement (random order)."""
    index = rng.permutation(Xt.shape[0])[: min(int(n_centers), Xt.shape[0])]
    return index


class WeightedSVMClassifier(BaseEstimator):
    """``predict`` and ``decision_function`` through the fitted ``svm_``.

    Parameters come from ``__init__`` (``get_params`` / ``set_params`` /
    ``clone`` work as in scikit-learn); subclasses set ``method`` (the name
    in messages).
    """

    method = ""

    def predict(self, X):
        """Predicted class names of the samples (rows) of ``X``."""
        X = check_features(self, X, "svm_", self.method)
        return self.svm_.predict(X)

    def decision_function(self, X):
        """The SVM's decision values (scikit-learn's one-vs-rest shape)."""
        X = check_features(self, X, "svm_", self.method)
        return self.svm_.decision_function(X)


class ImportanceWeightedSVM(WeightedSVMClassifier):
    """Importance weighting, then the weighted SVM: the shape of KMM, KLIEP and uLSIF.

    Subclasses implement ``_fit_weights(Xs, Xt)``, which sets ``weights_``;
    ``_svm_weights()`` gives the sample weights the SVM is trained with.
    """

    def fit(self, Xs, ys, Xt):
        """Learn the weights from ``Xs`` and ``Xt``, then the weighted SVM on ``(Xs, ys)``."""
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, self.method)
        self._fit_weights(Xs, Xt)
        self.svm_ = fit_weighted_svm(Xs, ys, self._svm_weights(), self.method, C=self.C)
        self.classes_ = self.svm_.classes_
        self.n_features_in_ = Xs.shape[1]
        return self

    def fit_weights(self, Xs, Xt):
        """Learn only the importance weights (no classifier); returns ``self``."""
        validate_params(self)
        Xs, _, Xt = check_domains(Xs, None, Xt, self.method)
        self._fit_weights(Xs, Xt)
        self.n_features_in_ = Xs.shape[1]
        return self

    def svm_weights(self):
        """The weights the SVM is trained with (``weights_``, rescaled by uLSIF when normalising)."""
        if not hasattr(self, "weights_"):
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet; call fit first")
        return self._svm_weights()

    def _svm_weights(self):
        return self.weights_


class GaussianImportance:
    """``importance(X)`` of a Gaussian-kernel model ``w(x) = sum_l alpha_l exp(-||x - c_l||^2 / (2 sigma^2))``."""

    def importance(self, X):
        """The estimated importance ``w(x)`` at the rows of ``X``."""
        X = check_features(self, X, "alpha_", self.method)
        return gaussian_design(squared_distances(X, self.centers_), self.sigma_) @ self.alpha_
