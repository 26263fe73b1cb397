"""Unconstrained least-squares importance fitting (uLSIF).

Kanamori, Hido, Sugiyama, "A Least-squares Approach to Direct Importance
Estimation", Journal of Machine Learning Research 10, 2009. The paper (Zong
et al. 2017, section 4.1 (4)(a)) searches uLSIF's trade-off parameter
``lambda`` on a grid; its optima were 570, 36e5, 89, 1, 79 and 42e5 in
Exp.1 to Exp.6.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
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

#: The paper's optimal lambdas (section 4.1 (4)(a), Exp.1 to Exp.6).
PAPER_LAMBDAS = (570.0, 36e5, 89.0, 1.0, 79.0, 42e5)

#: lambda searched by the protocol: decades 1e-3 .. 1e7 plus the paper's optima.
PARAM_GRID = tuple({"lam": float(lam)} for lam in sorted(set(np.logspace(-3, 7, 11).tolist()) | set(PAPER_LAMBDAS)))

#: Without target labels: lambda and sigma by the original leave-one-out score.
FIXED_PARAMS = {"lam": "loo"}

#: The original's candidate lambdas for the leave-one-out choice.
LOO_LAMBDAS = np.logspace(-3, 1, 9)
#: The original's candidate widths, here in units of the median distance to the centres.
LOO_WIDTHS = np.logspace(-3, 1, 9)


class ULSIF(GaussianImportance, ImportanceWeightedSVM):
    """Importance weights by uLSIF, then a weighted linear SVM.

    The importance ``w(x) = p_t(x) / p_s(x)`` is modelled as ``alpha^T
    phi(x)`` with Gaussian basis functions ``phi_l(x) = exp(-||x -
    c_l||^2 / (2 sigma^2))`` centred at (at most ``n_centers``) target samples
    drawn with the seed (JMLR 2009, section 3.1 and 5). uLSIF minimises the
    regularised squared error to the true ratio (section 3.2)::

        min_alpha  1/2 alpha^T H alpha - h^T alpha + lambda/2 alpha^T alpha
        H = mean_i phi(xs_i) phi(xs_i)^T,   h = mean_j phi(xt_j)

    whose solution is closed form, ``alpha~ = (H + lambda I)^-1 h``, and the
    estimate is ``alpha = max(0, alpha~)`` (section 3.2; the original clips
    the parameters, which keeps ``w`` non-negative since ``phi >= 0``).

    ``sigma`` (and ``lambda`` when ``lam="loo"``) are chosen by the closed
    form leave-one-out score of section 3.4 (the "analytic" LOO of the
    authors' code): pairs of one source and one target sample are held out in
    turn and the score ``1/2 mean w_-i(xs_i)^2 - mean w_-i(xt_i)`` (the
    squared-error criterion up to a constant) is minimised. The original
    pairs the first ``min(ns, nt)`` samples in input order; here the pairs are
    drawn with the seed, since the sources are often sorted by class. The
    candidate widths are the original's ``logspace(-3, 1, 9)`` in units of
    the median distance from the samples to the centres (the original assumes
    unit-scale data), the candidate lambdas its ``logspace(-3, 1, 9)``.

    Weight scale: the ridge shrinks ``alpha`` towards 0 as ``lambda`` grows
    (at the paper's 4.2e6 the weights are about 1e-6), and LIBSVM multiplies
    ``C`` by each weight, so raw weights would silently turn the paper's C = 1
    into C = 1e-6. With ``normalize=True`` (default) the SVM is trained with
    ``weights_ / mean(weights_)`` (mean 1 over the source, as the true ratio
    has); ``weights_`` keeps the ratio estimate itself.

    Parameters
    ----------
    lam : float or "loo"
        The trade-off (ridge) parameter lambda; ``"loo"`` chooses it by the
        leave-one-out score.
    sigma : float or None
        Gaussian width; ``None`` chooses it by the leave-one-out score.
    n_centers : int
        Maximum number of Gaussian centres (the original's 100).
    normalize : bool
        Train the SVM on weights of mean 1 (see above).
    C : float
        The SVM's C (paper: 1).
    random_state : int
        Seed of the centres and of the leave-one-out pairs.

    Attributes
    ----------
    weights_ : ndarray (ns,)
        ``w(xs_i) = alpha^T phi(xs_i)``.
    alpha_, centers_, sigma_, lam_
        The fitted model and the chosen parameters.
    loo_scores_ : dict
        Leave-one-out score of each ``(sigma, lambda)`` tried.
    objective_ : float
        The uLSIF criterion ``1/2 alpha^T H alpha - h^T alpha`` at ``alpha_``
        (an estimate of the squared error to the true ratio, up to a constant).
    svm_, classes_
        The weighted SVM and the classes it can predict.
    """

    method = "uLSIF"
    _parameter_constraints = {
        "lam": [Interval(Real, 0, None, closed="left"), StrOptions({"loo"})],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "C": [Interval(Real, 0, None, closed="neither")],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, lam="loo", sigma=None, n_centers=100, normalize=True, C=1.0, random_state=0):
        self.lam = lam
        self.sigma = sigma
        self.n_centers = n_centers
        self.normalize = normalize
        self.C = C
        self.random_state = random_state

    def _svm_weights(self):
        # Scaled to mean 1 so that C keeps its meaning (raw uLSIF weights can be ~1e-6).
        if self.normalize and self.weights_.mean() > 0:
            return self.weights_ / self.weights_.mean()
        return self.weights_

    def _fit_weights(self, Xs, Xt):
        rng = np.random.default_rng(self.random_state)
        ns, nt = Xs.shape[0], Xt.shape[0]
        lambdas = LOO_LAMBDAS if isinstance(self.lam, str) else np.array([float(self.lam)])
        self.centers_ = Xt[choose_centers(Xt, self.n_centers, rng, "uLSIF")]
        d2_s = squared_distances(Xs, self.centers_)
        d2_t = squared_distances(Xt, self.centers_)
        if self.sigma is None:
            scale = median_distance((d2_s, d2_t), "uLSIF")
            sigmas = scale * LOO_WIDTHS
        else:
            sigmas = np.array([float(self.sigma)])
        self.loo_scores_ = {}
        if sigmas.size * lambdas.size > 1:
            if min(ns, nt) < 2:
                raise InputError("uLSIF: the leave-one-out choice needs at least two source and two target "
                                 "samples", field="Xt")
            n = min(ns, nt)
            pair_s = rng.permutation(ns)[:n]
            pair_t = rng.permutation(nt)[:n]
            # Small matrices: BLAS threads only contend (tens of times slower on a busy machine).
            with threadpool_limits(limits=1, user_api="blas"):
                best = self._loo_search(d2_s, d2_t, sigmas, lambdas, pair_s, pair_t)
            if best[1] is None:
                raise InputError("uLSIF: no (sigma, lambda) gives a finite leave-one-out score", field="Xt")
            self.sigma_, self.lam_ = float(best[1]), float(best[2])
        else:
            self.sigma_, self.lam_ = float(sigmas[0]), float(lambdas[0])
        Phi_s = gaussian_design(d2_s, self.sigma_)
        Phi_t = gaussian_design(d2_t, self.sigma_)
        H = Phi_s.T @ Phi_s / ns  # H of section 3.2
        h = Phi_t.mean(axis=0)  # h of section 3.2
        self.alpha_ = ulsif_alpha(H, h, self.lam_)
        self.objective_ = float(0.5 * self.alpha_ @ H @ self.alpha_ - h @ self.alpha_)
        self.weights_ = Phi_s @ self.alpha_
        return self

    def _loo_search(self, d2_s, d2_t, sigmas, lambdas, pair_s, pair_t):
        """The (score, sigma, lambda) of least leave-one-out score; fills ``loo_scores_``."""
        best = (np.inf, None, None)
        for sigma in sigmas:
            Phi_s = gaussian_design(d2_s, sigma)
            Phi_t = gaussian_design(d2_t, sigma)
            for lam, score in zip(lambdas, ulsif_loo_scores(Phi_s, Phi_t, pair_s, pair_t, lambdas)):
                self.loo_scores_[(float(sigma), float(lam))] = float(score)
                if score < best[0]:
                    best = (score, sigma, lam)
        return best


def ulsif_alpha(H, h, lam):
    """``max(0, (H + lam I)^-1 h)`` (Kanamori et al. 2009, section 3.2)."""
    b = H.shape[0]
    return np.maximum(0.0, np.linalg.solve(H + lam * np.eye(b), h))


def ulsif_loo_scores(Phi_s, Phi_t, pair_s, pair_t, lambdas):
    """Closed-form leave-one-out scores of uLSIF for each lambda.

    Kanamori et al. (2009, section 3.4): holding out the pair ``(xs_i,
    xt_i)`` changes ``H`` and ``h`` by rank-one terms, so every held-out
    solution follows from one inverse by the Sherman-Woodbury-Morrison
    formula. Source basis ``Phi_s`` (ns x b), target ``Phi_t`` (nt x b), the
    ``n`` held-out pairs index ``pair_s`` and ``pair_t``. The score is
    ``1/2 mean_i w_-i(xs_i)^2 - mean_i w_-i(xt_i)``.
    """
    ns, b = Phi_s.shape
    nt = Phi_t.shape[0]
    H = Phi_s.T @ Phi_s / ns
    h = Phi_t.mean(axis=0)
    S = Phi_s[pair_s].T  # b x n, held-out source basis values (columns)
    T = Phi_t[pair_t].T  # b x n, held-out target basis values
    # One eigendecomposition H = Q diag(e) Q^T serves every lambda.
    e, Q = np.linalg.eigh(H)
    e = np.maximum(e, 0.0)
    Qh, QS, QT = Q.T @ h, Q.T @ S, Q.T @ T
    scores = []
    for lam in lambdas:
        # H_-i + lam I = ns/(ns-1) (Ct - s_i s_i^T / ns), Ct = H + lam (ns-1)/ns I = Q diag(d) Q^T
        inv_d = 1.0 / (e + lam * (ns - 1) / ns)
        inv_h = Q @ (inv_d * Qh)  # Ct^-1 h
        inv_S = Q @ (inv_d[:, None] * QS)  # Ct^-1 s_i, columns
        inv_T = Q @ (inv_d[:, None] * QT)  # Ct^-1 t_i, columns
        denom = ns - np.einsum("ki,k,ki->i", QS, inv_d, QS)  # ns - s_i^T Ct^-1 s_i
        # Sherman-Morrison: (Ct - s s^T/ns)^-1 v = Ct^-1 v + Ct^-1 s (s^T Ct^-1 v) / (ns - s^T Ct^-1 s)
        B0 = inv_h[:, None] + inv_S * ((Qh * inv_d) @ QS / denom)  # applied to h
        B1 = inv_T + inv_S * (np.einsum("ki,k,ki->i", QT, inv_d, QS) / denom)  # applied to each t_i
        # h_-i = (nt h - t_i) / (nt - 1); the factor (ns-1)/ns undoes the scaling of Ct.
        alpha = np.maximum(0.0, (ns - 1) / (ns * (nt - 1)) * (nt * B0 - B1))
        w_s = np.sum(S * alpha, axis=0)
        w_t = np.sum(T * alpha, axis=0)
        scores.append(np.mean(w_s**2) / 2 - np.mean(w_t))
    return np.array(scores)


__all__ = ["ULSIF", "ulsif_alpha", "ulsif_loo_scores", "PARAM_GRID", "FIXED_PARAMS", "PAPER_LAMBDAS"]
