"""DRLS: Domain Regeneration in the Label Space (Zong, Zheng, Huang, Shi, Cui, Zhao, IEEE TIP 2018).

DRLS is TSRG's objective (ACM MM 2017, eq. (7)) with the one-hot source label
matrix ``Ls`` (c x ns) in place of the source features: the re-generator maps
any sample to a label vector, ``G(x) = P^T k(x)``, ``k(x) = k([Xs; Xt], x)``::

    min_P ||Ls - P^T Ks||_F^2 + lambda ||P^T dk||_2^2 + mu ||P||_1,            (DRLS)
    Ks = [Kss; Kts] (n x ns), dk = Ks 1/ns - Kt 1/nt,  P (n x c), n = ns + nt,

written with samples as columns (TSRG paper notation). ``decision_function(X)``
is ``(P^T K(X))^T = k(X, [Xs; Xt]) P`` (one column per class, ``classes_``
order) and ``predict`` its argmax.

Solvers (the same as TSRG's, :mod:`cdmer.adaptation._tsrg_solvers`, on the
label problem: ``Xs`` replaced by ``Ls^T``):

``"ialm"`` (default)
    TSRG's inexact ALM (MM 2017 section 3.3, eqs. (8)-(9)) with the same start
    (P = T = ones), kappa schedule (kappa0 = 1e-3, rho = 1.1, kappa_max =
    1e15) and stopping rule (``max|P - Q| < tol``), and the same corrections of
    the paper's printing errors (lambda in the Q step, ``< -mu/kappa`` in the
    soft threshold); see :mod:`cdmer.adaptation.tsrg`.
``"exact"``
    Every column ``p_j`` of (DRLS) is a Lasso on the shared Gram ``A = Ks Ks^T
    + lambda dk dk^T`` (``min p^T A p - 2 b_j^T p + mu |p|_1``, ``b_j = Ks
    Ls_j^T``); TSRG's exact solver follows each column's LARS-lasso homotopy
    down to mu (exact to rounding on the path), then checks the subgradient
    condition ``0 in 2 (A p - b_j) + mu d|p|_1`` of every entry and polishes
    any column violating it by more than ``tol_kkt * mu`` (feature-sign
    search); ``kkt_violation_`` is the largest remaining violation / mu. With
    only c columns this costs c paths.
"""

import time

import numpy as np
from sklearn.base import BaseEstimator

from cdmer.adaptation._tsrg_solvers import Problem, solve_exact, solve_ialm
from cdmer.adaptation.base import check_domains, check_features, validate_params
from cdmer.adaptation.kernels import kernel_matrix, resolve_gamma
from cdmer.adaptation.tsrg import FIXED_PARAMS, PARAM_GRID, TSRGParameters, _warn_exact, solve_problem  # noqa: F401


def label_problem(Xs, ys, Xt, kernel="linear", gamma=None, degree=3, coef0=1.0):
    """TSRG's :class:`Problem` with the one-hot labels ``Ls^T`` (ns x c) in place of ``Xs``.

    Returns ``(problem, classes)``. The kernels are those of ``[Xs; Xt]``;
    ``problem.Xs`` is ``Ls^T`` and ``problem.B = Ks Ls^T``, so TSRG's solvers
    minimise (DRLS). ``gamma=None`` follows the one rule of
    :func:`~cdmer.adaptation.kernels.resolve_gamma` on ``[Xs; Xt]`` (as TSRG);
    the value used is ``problem.gamma_``.
    """
    classes = np.unique(ys)
    LsT = np.ascontiguousarray((ys[:, None] == classes[None, :]).astype(np.float64))
    gamma = resolve_gamma(gamma, kernel, np.concatenate([Xs, Xt]), "DRLS")
    problem = Problem(Xs, Xt, kernel, gamma, degree, coef0)
    problem.gamma_ = gamma
    problem.Xs = LsT
    problem.B = problem.Ks @ LsT
    problem._spectra = {}
    return problem, classes


class DRLS(TSRGParameters, BaseEstimator):
    """Domain Regeneration in the Label Space; see the module docstring.

    Parameters
    ----------
    lam, mu : float
        lambda (MMD term) and mu (l1 sparsity) of (DRLS).
    kernel, gamma, degree, coef0
        As :class:`cdmer.adaptation.tsrg.TSRG`.
    solver : {"ialm", "exact"}
    max_iter, tol, kappa0, rho, kappa_max, tol_kkt
        As :class:`~cdmer.adaptation.tsrg.TSRG`.

    Attributes
    ----------
    P_ : ndarray (ns + nt, c)
    X_fit_ : ndarray (ns + nt, d)
    classes_, n_iter_, converged_, objective_
    kkt_violation_ : float (``"exact"`` only)
    """

    def fit(self, Xs, ys, Xt):
        """Learn ``P`` from labelled source rows ``(Xs, ys)`` and unlabelled target rows ``Xt``."""
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "DRLS")
        problem, self.classes_ = label_problem(Xs, ys, Xt, self.kernel, self.gamma, self.degree, self.coef0)
        self.X_fit_ = problem.X_fit
        self.gamma_ = problem.gamma_
        for name, value in solve_problem(self, problem, "DRLS").items():
            setattr(self, name, value)
        self.n_features_in_ = Xs.shape[1]
        return self

    def decision_function(self, X):
        """Re-generated label vectors ``k(X, [Xs; Xt]) P`` (n_samples, c), ``classes_`` order."""
        X = check_features(self, X, "P_", "DRLS")
        return kernel_matrix(X, self.X_fit_, self.kernel, self.gamma_, self.degree, self.coef0) @ self.P_

    def predict(self, X):
        """The class of the largest re-generated label value."""
        decision = self.decision_function(X)
        return self.classes_[np.argmax(decision, axis=1)]


def drls_path(Xs, ys, Xt, lam, mus, *, solver="exact", **params):
    """DRLS for one lambda and many mus; yield ``(mu, y_pred, decision, info)`` per mu.

    ``decision`` is the (nt, c) re-generated target labels ``Kt^T P`` in
    ``info["classes"]`` order. ``"exact"``: ONE homotopy path per class
    column serves every mu (``time_s`` = the lambda's time / number of mus);
    ``"ialm"``: kernels and the eigendecomposition are shared, one ALM per mu.
    Each result equals ``DRLS(lam, mu, solver=solver, **params).fit(Xs, ys, Xt)``
    applied to ``Xt``.
    """
    est = DRLS(lam=lam, solver=solver, **params)
    mus = [float(m) for m in mus]
    for m in mus:
        validate_params(est.set_params(mu=m))
    Xs, ys, Xt = check_domains(Xs, ys, Xt, "DRLS")
    problem, classes = label_problem(Xs, ys, Xt, est.kernel, est.gamma, est.degree, est.coef0)
    lam = float(lam)
    if solver == "exact":
        t0 = time.perf_counter()
        res = solve_exact(problem, lam, mus, tol_kkt=est.tol_kkt, max_steps=est.max_iter)
        _warn_exact(res, lam, est.tol_kkt, est.max_iter, "DRLS")
        share = (time.perf_counter() - t0) / len(mus)
        for mu in mus:
            k = int(np.flatnonzero(res.mus == mu)[0])
            dec = res.R[k]
            yield mu, classes[np.argmax(dec, axis=1)], dec, {
                "n_iter": int(res.steps.max(initial=0)), "converged": bool(res.kkt[k] <= est.tol_kkt),
                "objective": float(res.objective[k]), "kkt_violation": float(res.kkt[k]), "time_s": share,
                "solver": solver, "classes": classes.tolist()}
        return
    for mu in mus:
        t0 = time.perf_counter()
        P, n_iter, converged = solve_ialm(problem, lam, mu, kappa0=est.kappa0, rho=est.rho,
                                          kappa_max=est.kappa_max, tol=est.tol, max_iter=est.max_iter)
        dec = problem.Kt.T @ P
        yield mu, classes[np.argmax(dec, axis=1)], dec, {
            "n_iter": n_iter, "converged": converged, "objective": problem.objective(P, lam, mu),
            "time_s": time.perf_counter() - t0, "solver": solver, "classes": classes.tolist()}
