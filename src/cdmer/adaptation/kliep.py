"""Kullback-Leibler importance estimation procedure (KLIEP).

Sugiyama, Nakajima, Kashima, von Bünau, Kawanabe, "Direct importance
estimation with model selection and its application to covariate shift
adaptation", NIPS 2007; the journal version, Sugiyama, Suzuki, Nakajima,
Kashima, von Bünau, Kawanabe, "Direct importance estimation for covariate
shift adaptation", Annals of the Institute of Statistical Mathematics 60(4),
2008. The paper (Zong et al. 2017, section 4.1 (4)) sets no parameter for
KLIEP: the Gaussian width is chosen by the original's likelihood
cross-validation on the target.
"""

from numbers import Integral, Real

import numpy as np
from numba import njit
from sklearn.utils._param_validation import Interval
from threadpoolctl import threadpool_limits

from cdmer.adaptation._weighted import (
    ImportanceWeightedSVM,
    GaussianImportance,
    choose_centers,
    gaussian_design,
    median_distance,
    squared_distances,
)
from cdmer.errors import InputError

#: Nothing is searched (section 4.1 (4): "for KLIEP, no parameter needs be set").
PARAM_GRID = ({},)
#: Width by likelihood cross-validation, 100 centres, seed 0.
FIXED_PARAMS = {}

#: First step size of the projected gradient ascent (the original's largest),
#: the smallest tried, and the relative gain of an accepted step below which
#: the ascent stops; the iteration cap.
FIRST_STEP = 1e3
SMALLEST_STEP = 1e-12
GAIN_TOL = 1e-9
MAX_ITER = 20000


class KLIEP(GaussianImportance, ImportanceWeightedSVM):
    """Importance weights by KLIEP, then a weighted linear SVM.

    The importance ``w(x) = p_t(x) / p_s(x)`` is modelled as a linear
    combination of Gaussian kernels (the papers' kernel model)::

        w(x) = sum_l alpha_l exp(-||x - c_l||^2 / (2 sigma^2))

    with centres ``c_l`` at (at most ``n_centers``) target samples drawn with
    the seed, and ``alpha`` solves the KLIEP problem (the problem solved in
    Figure 1 of the NIPS 2007 paper)::

        max_alpha  mean_j log w(xt_j)
        s.t.       mean_i w(xs_i) = 1,  alpha >= 0

    by the original projected gradient ascent (NIPS 2007, Figure 1): a step
    ``alpha <- alpha + e A^T (1 / A alpha)``, then ``alpha <- alpha + (1 -
    b^T alpha) b / (b^T b)``, ``alpha <- max(0, alpha)``, ``alpha <- alpha /
    (b^T alpha)`` (``A_jl`` the basis at target sample j, ``b_l`` its source
    mean), kept only if it raises the mean log-likelihood. The authors' code
    tries step sizes 1e3, 1e2, ..., 1e-3 in one pass, up to 100 steps each,
    moving to the next size at the first step that fails. That pass can stall
    at its start: a target sample far from every centre makes the gradient so
    large that even the smallest step overshoots (docs/baselines.md shows it
    on a one-dimensional example). Here the same decade step sizes adapt in
    both directions: divided by 10 after a failed step (down to 1e-12),
    multiplied by 10 after three successes, until an accepted step gains
    less than 1e-9 (relative).

    The width is chosen by likelihood cross-validation (NIPS 2007, Figure
    2): the target samples are split into ``n_folds`` folds; the score of a
    width is the held-out mean of ``log w`` averaged over the folds. The
    candidates follow the original's coarse-to-fine descent: from ``10``,
    lower the width by ``1, 0.1, ..., 1e-5`` in turn while the score rises.
    Three deliberate differences from the code, because its assumptions do
    not hold here: (i) the original assumes data of unit scale; LBP-TOP
    distances are not, so widths are in units of the median distance from the
    samples to the centres (the original's search on median-scaled data);
    (ii) the original draws a new fold split for every candidate; here one
    split (from the seed) serves all candidates, so that they are compared
    on the same folds; (iii) the original scores each fold with a model whose
    centres include the held-out samples themselves. When every target
    sample is a centre (``nt <= n_centers``) that makes the held-out
    likelihood grow without bound as the width shrinks, and the search ends
    at a width where one source sample takes all the weight. Here the model
    scored on a fold uses only the centres outside that fold (the final
    model uses all of them). When the domains are far apart the held-out
    likelihood can still rise as the width shrinks: the weights then sit on
    a few source samples and a class can lose all its weight (a warning; see
    :func:`~cdmer.adaptation._weighted.fit_weighted_svm`; measured on the
    real features in docs/baselines.md).

    The weighted SVM is trained with ``sample_weight = w(xs_i)``, whose mean
    over the source is 1 by the constraint, so C keeps its meaning.

    Parameters
    ----------
    sigma : float or None
        Gaussian width; ``None`` chooses it by likelihood cross-validation.
    n_centers : int
        Maximum number of Gaussian centres (the original's 100).
    n_folds : int
        Folds of the likelihood cross-validation (the original's 5).
    C : float
        The SVM's C (paper: 1).
    random_state : int
        Seed of the centre choice and of the fold split.

    Attributes
    ----------
    weights_ : ndarray (ns,)
        ``w(xs_i)``.
    alpha_ : ndarray (n_centers_,)
    centers_ : ndarray (n_centers_, d)
    sigma_ : float
        The width used.
    cv_scores_ : dict
        Cross-validation score of each width tried (empty when ``sigma`` is given).
    objective_ : float
        Mean ``log w`` over all target samples at the solution.
    svm_, classes_
        The weighted SVM and the classes it can predict.
    """

    method = "KLIEP"
    _parameter_constraints = {
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "C": [Interval(Real, 0, None, closed="neither")],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, sigma=None, n_centers=100, n_folds=5, C=1.0, random_state=0):
        self.sigma = sigma
        self.n_centers = n_centers
        self.n_folds = n_folds
        self.C = C
        self.random_state = random_state

    def _fit_weights(self, Xs, Xt):
        rng = np.random.default_rng(self.random_state)
        nt = Xt.shape[0]
        center_index = choose_centers(Xt, self.n_centers, rng, "KLIEP")
        self.centers_ = Xt[center_index]
        d2_s = squared_distances(Xs, self.centers_)
        d2_t = squared_distances(Xt, self.centers_)
        self.cv_scores_ = {}
        if self.sigma is None:
            folds = int(self.n_folds)
            if folds > nt:
                raise InputError(f"KLIEP: n_folds must be between 2 and the number of target samples ({nt}), "
                                 f"got {self.n_folds!r}", field="n_folds")
            scale = median_distance((d2_s, d2_t), "KLIEP")
            # Fold of each target sample: the original's floor(i * fold / nt) over a permutation.
            fold_of = np.empty(nt, dtype=int)
            fold_of[rng.permutation(nt)] = np.arange(nt) * folds // nt
            # Small matrices: BLAS threads only contend (tens of times slower on a busy machine).
            with threadpool_limits(limits=1, user_api="blas"):
                self.sigma_ = scale * self._search_width(d2_s, d2_t, fold_of, folds, scale, center_index)
        else:
            self.sigma_ = float(self.sigma)
        A_s = gaussian_design(d2_s, self.sigma_)
        A_t = gaussian_design(d2_t, self.sigma_)
        with threadpool_limits(limits=1, user_api="blas"):
            self.alpha_, self.objective_ = kliep_ascent(A_s.mean(axis=0), A_t)
        self.weights_ = A_s @ self.alpha_
        return self

    def _search_width(self, d2_s, d2_t, fold_of, folds, scale, center_index):
        """The original's coarse-to-fine descent over widths (in units of ``scale``)."""
        # The model scored on fold k uses only the centres outside fold k.
        outside = [fold_of[center_index] != k for k in range(folds)]

        def score(width):
            sigma = width * scale
            A_s = gaussian_design(d2_s, sigma)
            A_t = gaussian_design(d2_t, sigma)
            b = A_s.mean(axis=0)
            total = 0.0
            for k in range(folds):
                cols = outside[k]
                alpha, _ = kliep_ascent(b[cols], A_t[fold_of != k][:, cols])
                with np.errstate(divide="ignore"):
                    total += np.mean(np.log(A_t[fold_of == k][:, cols] @ alpha)) / folds
            self.cv_scores_[float(sigma)] = float(total)
            return total

        width, best = 10.0, -np.inf
        for exponent in range(0, -6, -1):
            for _ in range(9):
                candidate = width - 10.0 ** exponent
                if candidate <= 0:
                    break
                new = score(candidate)
                if not new > best:
                    break
                best, width = new, candidate
        if not np.isfinite(best):
            raise InputError("KLIEP: no Gaussian width gives a finite held-out likelihood on the target "
                             "(the target samples are too far from every centre)", field="Xt")
        return width


def kliep_ascent(b, A):
    """Maximise ``mean log(A alpha)`` s.t. ``b^T alpha = 1``, ``alpha >= 0``.

    The projected gradient ascent of Sugiyama et al. (NIPS 2007, Figure 1)
    with decade step sizes adapted in both directions and run to convergence
    (:data:`FIRST_STEP`, :data:`SMALLEST_STEP`, :data:`GAIN_TOL`,
    :data:`MAX_ITER`; see :class:`KLIEP` for why the original's single pass
    is not enough). ``b`` is the source mean of the basis,
    ``A`` the basis at the target samples (rows).

    The iterations run in one compiled kernel (:func:`_ascent`): the likelihood
    cross-validation calls this function hundreds of times on small matrices,
    where NumPy's per-call overhead dominates. The kernel performs the
    arithmetic of the NumPy transcription (in ``tests/test_kliep_speed.py``)
    operation by operation, with the same BLAS routines for the products and
    NumPy's pairwise summation for the sum of logs, so the results are the
    same to the bit. NumPy picks the BLAS routine by the memory layout of
    ``A``, so a Fortran-ordered ``A`` (what the cross-validation's column
    selection gives) is kept as it is; any other ``A`` is used as a
    C-contiguous float64 copy.

    Returns
    -------
    alpha : ndarray
    score : float
        ``mean log(A alpha)`` at ``alpha``.
    """
    b = np.ascontiguousarray(b, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    if not A.flags.f_contiguous or A.flags.c_contiguous:
        A = np.ascontiguousarray(A)
    c = float(b @ b)
    if not c > 0:  # every basis function vanishes on the source
        return np.zeros(A.shape[1]), -np.inf
    alpha, score, feasible = _ascent(b, b / c, A, FIRST_STEP, SMALLEST_STEP, GAIN_TOL, MAX_ITER)
    if not feasible:
        return np.zeros(A.shape[1]), -np.inf
    return alpha, float(score)


@njit(cache=True)
def _block_sum(a, start, n):
    """NumPy's sum of a block of at most 128 values: eight accumulators from eight values on, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = start + 8
    stop = start + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < start + n:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_sum(a, n):
    """``a[:n].sum()`` as NumPy computes it: pairwise summation over blocks of at most 128 values.

    NumPy splits a longer range in two (the first part a multiple of 8) and
    adds the sums of the parts. The split tree is walked with an explicit
    stack: numba's cache does not reload self-recursive functions reliably.
    """
    if n <= 128:
        return _block_sum(a, 0, n)
    starts = np.empty(256, np.int64)
    lengths = np.empty(256, np.int64)
    joins = np.empty(256, np.bool_)  # True: both parts are summed, add the last two partial sums
    partial = np.empty(128)
    top, count = 1, 0
    starts[0], lengths[0], joins[0] = 0, n, False
    while top > 0:
        top -= 1
        start, length = starts[top], lengths[top]
        if joins[top]:
            partial[count - 2] = partial[count - 2] + partial[count - 1]
            count -= 1
        elif length <= 128:
            partial[count] = _block_sum(a, start, length)
            count += 1
        else:
            half = length // 2
            half -= half % 8
            starts[top], lengths[top], joins[top] = start, length, True
            starts[top + 1], lengths[top + 1], joins[top + 1] = start + half, length - half, False
            starts[top + 2], lengths[top + 2], joins[top + 2] = start, half, False  # the first part first
            top += 3
    return partial[0]


@njit(cache=True, error_model="numpy")
def _project(alpha, b, b_unit, A, row, fitted, logs):
    """The ascent's projection of ``alpha`` in place; ``(score, feasible)``, ``fitted = A alpha``.

    Like NumPy's ``A @ alpha``, a single row (``row``, its contiguous copy) is
    a dot product, more rows a matrix-vector product (BLAS ddot and dgemv,
    chosen by the layout of ``A`` as NumPy chooses them).
    """
    shift = 1.0 - np.dot(b, alpha)  # onto b^T alpha = 1
    for i in range(alpha.shape[0]):
        value = alpha[i] + shift * b_unit[i]
        alpha[i] = value if value >= 0.0 or value != value else 0.0  # np.maximum(alpha, 0): NaN kept
    total = np.dot(b, alpha)
    if not total > 0:
        return -np.inf, False
    for i in range(alpha.shape[0]):
        alpha[i] = alpha[i] / total  # back onto b^T alpha = 1
    n = A.shape[0]
    if n == 1:
        fitted[0] = np.dot(row, alpha)
    elif n > 1:
        np.dot(A, alpha, fitted)
    for j in range(n):
        logs[j] = np.log(fitted[j])
    return _pairwise_sum(logs, n) / n, True


@njit(cache=True, error_model="numpy")  # NumPy's 1 / 0 = inf: a target sample far from every centre
def _ascent(b, b_unit, A, first_step, smallest_step, gain_tol, max_iter):
    """The iterations of :func:`kliep_ascent`: ``(alpha, score, feasible)`` from ``alpha = 1``.

    A target sample with fitted value 0 makes the gradient infinite and the
    step NaN, which is rejected like any step that does not raise the score.
    """
    n, m = A.shape
    alpha = np.ones(m)
    fitted = np.empty(n)
    logs = np.empty(n)
    row = A[0].copy() if n == 1 else np.empty(0)  # one row: NumPy's A @ alpha is a dot product
    score, feasible = _project(alpha, b, b_unit, A, row, fitted, logs)
    if not feasible:
        return alpha, score, False
    new_alpha = np.empty(m)
    new_fitted = np.empty(n)
    inverse = np.empty(n)
    gradient = np.zeros(m)
    column = A[:, 0].copy() if m == 1 else np.empty(0)  # one column: NumPy's A.T @ v is a dot product
    step, successes = first_step, 0
    for _ in range(max_iter):
        if step < smallest_step:
            break
        for j in range(n):
            inverse[j] = 1.0 / fitted[j]
        # gradient of sum_j log (A alpha)_j: A^T (1 / fitted), a dot product when A has one column (as in NumPy)
        if m == 1:
            gradient[0] = np.dot(column, inverse)
        elif n > 0:
            np.dot(A.T, inverse, gradient)
        for i in range(m):
            new_alpha[i] = alpha[i] + step * gradient[i]
        new_score, feasible = _project(new_alpha, b, b_unit, A, row, new_fitted, logs)
        if not feasible or not new_score > score:
            step, successes = step / 10.0, 0
            continue
        gain = new_score - score
        alpha, new_alpha = new_alpha, alpha
        fitted, new_fitted = new_fitted, fitted
        score = new_score
        if gain <= gain_tol * abs(score):
            break
        successes += 1
        if successes == 3:
            step, successes = step * 10.0, 0
    return alpha, score, True


__all__ = ["KLIEP", "kliep_ascent", "PARAM_GRID", "FIXED_PARAMS"]
