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

    Returns
    -------
    alpha : ndarray
    score : float
        ``mean log(A alpha)`` at ``alpha``.
    """
    c = float(b @ b)
    if not c > 0:  # every basis function vanishes on the source
        return np.zeros(A.shape[1]), -np.inf
    b_unit = b / c
    n = A.shape[0]

    def project(alpha):
        alpha = alpha + (1.0 - b @ alpha) * b_unit  # onto b^T alpha = 1
        np.maximum(alpha, 0.0, out=alpha)  # alpha >= 0
        total = b @ alpha
        if not total > 0:
            return None, None, -np.inf
        alpha /= total  # back onto b^T alpha = 1
        fitted = A @ alpha
        return alpha, fitted, float(np.log(fitted).sum() / n)

    with np.errstate(divide="ignore"):
        alpha, fitted, score = project(np.ones(A.shape[1]))
    if alpha is None:
        return np.zeros(A.shape[1]), -np.inf
    step, successes = FIRST_STEP, 0
    # A target sample far from every centre has fitted value 0: its gradient
    # is infinite and the step yields NaN, which is rejected like any step
    # that does not raise the score.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(MAX_ITER):
            if step < SMALLEST_STEP:
                break
            gradient = A.T @ (1.0 / fitted)  # gradient of sum_j log (A alpha)_j
            new_alpha, new_fitted, new_score = project(alpha + step * gradient)
            if new_alpha is None or not new_score > score:
                step, successes = step / 10.0, 0
                continue
            gain = new_score - score
            alpha, fitted, score = new_alpha, new_fitted, new_score
            if gain <= GAIN_TOL * abs(score):
                break
            successes += 1
            if successes == 3:
                step, successes = step * 10.0, 0
    return alpha, score


__all__ = ["KLIEP", "kliep_ascent", "PARAM_GRID", "FIXED_PARAMS"]
