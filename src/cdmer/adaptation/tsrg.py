"""TSRG: the Target Sample Re-Generator (Zong et al., ACM MM 2017, section 3).

The re-generator is ``G(x) = phi(C)^T phi(x)`` (eq. (3)) with ``phi(C) =
[phi(Xs), phi(Xt)] P``, so ``G(x) = P^T k(x)``, ``k(x) = k([Xs; Xt], x)``.
``P`` minimises eq. (7)::

    ||Xs - P^T Ks||_F^2 + lambda ||P^T dk||_2^2 + mu ||P||_1,
    Ks = [Kss; Kts], Kt = [Kst; Ktt], dk = Ks 1/ns - Kt 1/nt,

written, as in the paper, with samples as COLUMNS (Xs is d x ns, P is
(ns + nt) x d). This module takes and returns samples as ROWS (scikit-learn
convention) and transposes once at the boundary: ``transform(X)`` returns
``k(X, [Xs; Xt]) @ P``, i.e. ``(P^T K)^T``.

Solvers
-------
``"ialm"`` (default): the inexact ALM of section 3.3 (eqs. (8)-(9), steps
(1)-(4)) with the authors' released MATLAB settings: P and T start as
all-ones matrices, kappa0 = 1e-3, rho = 1.1, kappa_max = 1e15, stop when
``max|P - Q| < 1e-8`` (checked after the P step; T and kappa are then left
unchanged) and the result is the P of the last P step. Two printing errors
of the paper are corrected as the derivation requires:

- the closed form of the Q step drops lambda; setting the gradient of (9) in
  Q to zero gives ``Q = (Ks Ks^T + lambda dk dk^T + kappa/2 I)^-1 (Ks Xs^T +
  (kappa P + T)/2)`` (which is also what the authors' code computes);
- the second case of the soft threshold reads ``< mu/kappa``; it is
  ``< -mu/kappa``.

The Q step is computed from one eigendecomposition of the rank ``<= ns + 1``
matrix ``A = Ks Ks^T + lambda dk dk^T`` (see :mod:`._tsrg_solvers`).

``"exact"``: the same objective minimised to optimality. Because kappa grows
geometrically, the inexact ALM stops when ``2 mu / kappa`` falls below its
tolerance, not when P is optimal: on real LBP-TOP features its P violates the
Lasso optimality conditions of eq. (7) by several times mu and its objective
is above the minimum. Each column ``p_j`` of eq. (7) is a Lasso problem on the
shared Gram matrix ``A = Ks Ks^T + lambda dk dk^T`` (``min p^T A p - 2 b_j^T p
+ mu |p|_1``, ``b_j = Ks x_j``); the exact solver follows, for every column,
the LARS-lasso homotopy (Efron et al. 2004, with the lasso modification: a
variable whose coefficient reaches zero leaves the active set) from ``mu =
2 max|b_j|`` (where ``p_j = 0``) down to the requested mu. The path is
piecewise linear in mu, so every mu on it is solved exactly (to rounding), and
one path per column serves all the mus of a grid at once. ``A`` is singular
(rank <= ns + 1 < n): a variable that is, to rounding, a combination of the
active ones is not added (its Cholesky pivot is below ``1e-12 A_jj``). After
the path, every column's subgradient condition of eq. (7) (``0 in 2 (A p -
b) + mu d|p|_1``) is checked exactly; a column violating it by more than
``tol_kkt * mu`` is polished from the path solution by active-set Newton with
sign fixing (feature-sign search: Newton steps on the support with a line
search over sign changes, activating the worst violator; up to 1000
iterations), and any column still above ``tol_kkt`` is reported in a
:class:`~cdmer.errors.ConvergenceWarning` (count and worst violation). The
largest violation / mu is stored in ``kkt_violation_``. Because ``A`` is
singular the minimiser may be non-unique; the two solvers therefore give
different P and, in general, different predictions.
"""

import threading
import time
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from cdmer.adaptation._tsrg_solvers import Problem, solve_exact, solve_ialm
from cdmer.adaptation.base import check_domains, check_features, make_svm, validate_params
from cdmer.adaptation.kernels import KERNELS, kernel_matrix, resolve_gamma
from cdmer.errors import ConvergenceWarning, NotFittedError
from cdmer.io.provenance import content_digest

SOLVERS = ("ialm", "exact")

_LAMBDAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
_MUS = tuple([round(k * 0.001, 3) for k in range(1, 10)] + [round(k * 0.01, 2) for k in range(1, 10)]
             + [round(k * 0.1, 1) for k in range(1, 11)] + [float(k) for k in range(2, 11)])
#: The authors' grid (their released example scripts): 7 lambdas x 37 mus.
PARAM_GRID = tuple({"lam": lam, "mu": mu} for lam in _LAMBDAS for mu in _MUS)
#: Label-free default: the grid centre (lambda = 1) and a small sparsity weight.
FIXED_PARAMS = {"lam": 1.0, "mu": 0.01}

_POSITIVE = Interval(Real, 0, None, closed="neither")
#: Parameters of eq. (7), its kernel and its solvers (scikit-learn's parameter validation).
TSRG_CONSTRAINTS = {
    "lam": [Interval(Real, 0, None, closed="left")],
    "mu": [Interval(Real, 0, None, closed="left")],
    "kernel": [StrOptions(set(KERNELS))],
    "gamma": [_POSITIVE, None],
    "degree": [Interval(Integral, 1, None, closed="left")],
    "coef0": [Interval(Real, None, None, closed="neither")],
    "solver": [StrOptions(set(SOLVERS))],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [_POSITIVE],
    "kappa0": [_POSITIVE],
    "rho": [Interval(Real, 1, None, closed="neither")],
    "kappa_max": [_POSITIVE],
    "tol_kkt": [Interval(Real, 0, None, closed="left")],
}


class TSRGParameters:
    """The parameters of eq. (7), its kernel and its solvers: one signature for every estimator built on
    TSRG's problem (TSRG, DRFS-T, DRLS and their skada wrappers); see :class:`TSRG` for their meaning."""

    _parameter_constraints = dict(TSRG_CONSTRAINTS)

    def __init__(self, lam=1.0, mu=0.01, kernel="linear", gamma=None, degree=3, coef0=1.0, solver="ialm",
                 max_iter=1000, tol=1e-8, kappa0=1e-3, rho=1.1, kappa_max=1e15, tol_kkt=1e-6):
        self.lam = lam
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.kappa0 = kappa0
        self.rho = rho
        self.kappa_max = kappa_max
        self.tol_kkt = tol_kkt


class TSRGClassifierParameters:
    """:class:`TSRGParameters` and the paper's SVM's ``C``: the signature of TSRG's and DRFS-T's classifiers."""

    _parameter_constraints = {**TSRG_CONSTRAINTS, "C": [_POSITIVE]}

    def __init__(self, lam=1.0, mu=0.01, kernel="linear", gamma=None, degree=3, coef0=1.0, solver="ialm",
                 C=1.0, max_iter=1000, tol=1e-8, kappa0=1e-3, rho=1.1, kappa_max=1e15, tol_kkt=1e-6):
        self.lam = lam
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.solver = solver
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.kappa0 = kappa0
        self.rho = rho
        self.kappa_max = kappa_max
        self.tol_kkt = tol_kkt


class TSRG(TSRGParameters, BaseEstimator):
    """Target Sample Re-Generator (eq. (7)); see the module docstring.

    ``TSRG(lam, mu).fit(Xs, Xt).transform(X)``: ``fit`` learns ``P`` from
    the source and target samples (rows), ``transform`` re-generates samples
    of the target domain.

    Parameters
    ----------
    lam, mu : float
        lambda (MMD term) and mu (l1 sparsity) of eq. (7).
    kernel : {"linear", "rbf", "poly"}
        See :mod:`cdmer.adaptation.kernels`; ``gamma``, ``degree``, ``coef0``
        as scikit-learn (``gamma=None``: the rule documented there).
    solver : {"ialm", "exact"}
    max_iter : int
        ``"ialm"``: iteration cap; with the default kappa schedule the ALM
        stops by itself once ``2 mu / kappa < tol``, after at most about
        ``log(2 mu / (tol kappa0)) / log(rho) + 1`` iterations.
        A :class:`~cdmer.errors.ConvergenceWarning` is raised when it is hit.
        ``"exact"``: cap on the breakpoints of each column's path; a capped
        column goes to the polish, and the warning is raised only if the
        polish does not reach ``tol_kkt`` (it then names the capped paths).
    tol, kappa0, rho, kappa_max : float
        ALM settings (section 3.3; defaults of the authors' code).
    tol_kkt : float
        ``"exact"``: largest tolerated violation of the subgradient condition
        of eq. (7), relative to mu (absolute when mu = 0).

    Attributes
    ----------
    P_ : ndarray (ns + nt, d)
    X_fit_ : ndarray (ns + nt, d)
        ``[Xs; Xt]``, needed to evaluate ``k(x)``.
    gamma_ : float or None
        The kernel parameter used (None for the linear kernel).
    n_features_in_ : int
    n_iter_, converged_, objective_ : int, bool, float
        ``objective_`` is eq. (7) at ``P_``. For ``"exact"``, ``n_iter_`` is
        the largest number of path breakpoints over the columns and
        ``converged_`` means ``kkt_violation_ <= tol_kkt``.
    kkt_violation_ : float
        ``"exact"`` only: largest violation of the subgradient condition of
        eq. (7) over all entries of ``P_``, divided by mu.
    n_polished_ : int
        ``"exact"`` only: columns that needed the polish.

    See Also
    --------
    tsrg_path : the re-generated targets for one lambda and many mus at once.
    """

    def fit(self, Xs, Xt):
        """Learn ``P`` from source ``Xs`` (ns, d) and target ``Xt`` (nt, d), rows = samples."""
        validate_params(self)
        Xs, _, Xt = check_domains(Xs, None, Xt, "TSRG")
        self._fit_problem(_problem(Xs, Xt, self.get_params()))
        return self

    def _fit_problem(self, problem):
        self.X_fit_ = problem.X_fit
        self.n_source_ = problem.ns
        self.n_features_in_ = problem.X_fit.shape[1]
        self.gamma_ = problem.gamma_
        for name, value in solve_problem(self, problem, "TSRG").items():
            setattr(self, name, value)

    def transform(self, X):
        """Re-generate samples: ``k(X, [Xs; Xt]) @ P_`` (rows in, rows out)."""
        X = check_features(self, X, "P_", "TSRG")
        return kernel_matrix(X, self.X_fit_, self.kernel, self.gamma_, self.degree, self.coef0) @ self.P_

    def info(self):
        """JSON-able summary of the fit: n_iter, converged, objective (and kkt_violation for "exact")."""
        if not hasattr(self, "P_"):
            raise NotFittedError("This TSRG instance is not fitted yet; call fit(Xs, Xt) first")
        out = {"n_iter": int(self.n_iter_), "converged": bool(self.converged_),
               "objective": float(self.objective_), "solver": self.solver}
        if self.solver == "exact":
            out["kkt_violation"] = float(self.kkt_violation_)
        return out


def _problem(Xs, Xt, params):
    """The kernels of eq. (7) for ``[Xs; Xt]`` with gamma resolved by the one rule of kernels.py."""
    kernel = params.get("kernel", "linear")
    gamma = resolve_gamma(params.get("gamma"), kernel, np.concatenate([Xs, Xt]), "TSRG")
    problem = Problem(Xs, Xt, kernel, gamma, params.get("degree", 3), params.get("coef0", 1.0))
    problem.gamma_ = gamma
    return problem


class TSRGClassifier(TSRGClassifierParameters, BaseEstimator):
    """TSRG + the paper's SVM: trained on the original source, applied to re-generated targets.

    ``fit(Xs, ys, Xt)`` learns TSRG on (Xs, Xt) and a linear SVM (C) on
    (Xs, ys); ``predict(X)`` is ``svm_.predict(tsrg_.transform(X))``.
    Parameters are those of :class:`TSRG` and the SVM's ``C``.
    """

    method = "TSRG"

    def fit(self, Xs, ys, Xt):
        """Learn TSRG from ``(Xs, Xt)`` and the paper's SVM from the labelled source ``(Xs, ys)``."""
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "TSRG")
        params = {k: v for k, v in self.get_params().items() if k != "C"}
        self.tsrg_ = TSRG(**params).fit(Xs, Xt)
        self.svm_ = make_svm(self.C).fit(Xs, ys)
        self.classes_ = self.svm_.classes_
        self.n_features_in_ = Xs.shape[1]
        return self

    def predict(self, X):
        """Labels of the target samples ``X``: the SVM applied to their re-generated version."""
        Z = self.transform(X)
        return self.svm_.predict(Z)

    def decision_function(self, X):
        """The SVM's decision values on the re-generated ``X``."""
        Z = self.transform(X)
        return self.svm_.decision_function(Z)

    def transform(self, X):
        """Re-generated target samples (what the SVM sees)."""
        if not hasattr(self, "tsrg_"):
            check_features(self, X, "tsrg_", "TSRG")
        return self.tsrg_.transform(X)


def tsrg_path(Xs, Xt, lam, mus, *, kernel="linear", gamma=None, degree=3, coef0=1.0, solver="exact",
              max_iter=1000, tol=1e-8, kappa0=1e-3, rho=1.1, kappa_max=1e15, tol_kkt=1e-6):
    """Re-generated targets for one lambda and several mus, sharing the work (cf. scikit-learn's ``lasso_path``).

    Solves eq. (7) at ``(lam, mu)`` for every ``mu`` in ``mus`` and returns
    the re-generated target samples ``Kt^T P`` (what ``TSRG(lam, mu, ...).
    fit(Xs, Xt).transform(Xt)`` returns), without storing ``P``. The kernels
    and ``Ks Xs^T`` are computed once. ``"exact"``: ONE LARS-lasso homotopy
    path per column of ``P`` serves all the mus (the path is piecewise
    linear in mu, see the module docstring), so the cost is about that of
    the smallest mu alone. ``"ialm"``: the eigendecomposition of the Q step
    is shared; each mu is one ALM run (independent of the others).

    Parameters
    ----------
    Xs, Xt : array-like (ns, d), (nt, d)
        Source and target samples (rows).
    lam : float
        lambda of eq. (7).
    mus : sequence of float
        The mus, in any order (results follow that order).
    kernel, gamma, degree, coef0, solver, max_iter, tol, kappa0, rho, kappa_max, tol_kkt
        As for :class:`TSRG`.

    Returns
    -------
    Zt : list of ndarray (nt, d)
        The re-generated targets, one per mu.
    info : list of dict
        One per mu, JSON-able: ``n_iter``, ``converged``, ``objective``,
        ``solver``, ``time_s`` (for ``"exact"``, the path's time divided
        equally among the mus) and, for ``"exact"``, ``kkt_violation``.
    """
    mus = [float(m) for m in mus]
    settings = dict(lam=lam, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0, solver=solver,
                    max_iter=max_iter, tol=tol, kappa0=kappa0, rho=rho, kappa_max=kappa_max, tol_kkt=tol_kkt)
    for mu in mus:
        validate_params(TSRG(mu=mu, **settings))
    Xs, _, Xt = check_domains(Xs, None, Xt, "TSRG")
    store = shared_store()
    if store is None:
        return _tsrg_path(Xs, Xt, lam, mus, settings)
    t0 = time.perf_counter()
    key = (content_digest(Xs, Xt), tuple(mus), tuple((k, repr(v)) for k, v in settings.items()))
    if key in store:
        Zt, info, caught = store[key]
        share = (time.perf_counter() - t0) / max(len(mus), 1)
        info = [{**inf, "time_s": share, "reused": True} for inf in info]
    else:
        store.clear()                                        # one result at a time (they are large)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Zt, info = _tsrg_path(Xs, Xt, lam, mus, settings)
        for z in Zt:
            z.setflags(write=False)                          # shared by the callers: never changed in place
        caught = list(caught)
        store[key] = (Zt, info, caught)
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return list(Zt), [dict(inf) for inf in info]


#: Per thread (a Dask worker runs tasks in threads): ``store``, tsrg_path's stored result inside
#: :func:`shared_paths` (content key -> (Zt, info, warnings)).
_local = threading.local()


def shared_store():
    """The store of the innermost :func:`shared_paths` block of this thread, or None outside one."""
    return getattr(_local, "store", None)


@contextmanager
def shared_paths():
    """Inside the block, a :func:`tsrg_path` call equal in content to the previous one returns its result.

    Equal in content: the same source and target rows (by a hash of their
    bytes), lambda, mus (in order) and settings. DRFS-T on the experiment
    B -> A calls ``tsrg_path(A, B, ...)``, exactly TSRG's call on A -> B
    (:func:`~cdmer.adaptation.drfst.drfst_path`): the evaluation protocol
    runs such tasks together inside this block, so the homotopy paths are
    computed once. The reused result is the same arrays (read-only), the
    ``info`` dicts say ``"reused": True`` with the time actually spent, and
    the warnings of the computation are raised again. Only the last result is
    kept (one lambda's re-generated targets: hundreds of MB on real
    features); it is dropped when the outermost block ends. The store
    belongs to the thread that opened the block.
    """
    outer = shared_store()
    if outer is None:
        _local.store = {}
    try:
        yield
    finally:
        if outer is None:
            _local.store = None


def _tsrg_path(Xs, Xt, lam, mus, settings):
    """:func:`tsrg_path` on checked rows (its work, without the sharing)."""
    problem = _problem(Xs, Xt, settings)
    lam, solver, tol_kkt, max_iter = float(lam), settings["solver"], settings["tol_kkt"], settings["max_iter"]
    if solver == "exact":
        t0 = time.perf_counter()
        res = solve_exact(problem, lam, mus, tol_kkt=tol_kkt, max_steps=max_iter)
        _warn_exact(res, lam, tol_kkt, max_iter)
        share = (time.perf_counter() - t0) / max(len(mus), 1)
        n_iter = int(res.steps.max(initial=0))
        Zt, info = [], []
        for mu in mus:
            k = int(np.flatnonzero(res.mus == mu)[0])
            Zt.append(res.R[k])
            info.append({"n_iter": n_iter, "converged": bool(res.kkt[k] <= tol_kkt),
                         "objective": float(res.objective[k]), "time_s": share, "solver": solver,
                         "kkt_violation": float(res.kkt[k])})
        return Zt, info
    Zt, info = [], []
    for mu in mus:
        est = TSRG(mu=mu, **settings)
        t0 = time.perf_counter()
        est._fit_problem(problem)
        Zt.append(problem.Kt.T @ est.P_)
        info.append({**est.info(), "time_s": time.perf_counter() - t0})
    return Zt, info


def solve_problem(est, problem, name):
    """Minimise eq. (7) on ``problem`` with ``est``'s solver and settings (:class:`TSRGParameters`).

    The one solve step of every estimator on TSRG's objective (TSRG, and DRLS
    on its label problem); ``name`` labels the warnings. Returns the fitted
    attributes: ``P_``, ``n_iter_``, ``converged_``, ``objective_`` and, for
    ``"exact"``, ``kkt_violation_`` and ``n_polished_``.
    """
    lam, mu = float(est.lam), float(est.mu)
    if est.solver == "ialm":
        P, n_iter, converged = solve_ialm(problem, lam, mu, kappa0=est.kappa0, rho=est.rho,
                                          kappa_max=est.kappa_max, tol=est.tol, max_iter=est.max_iter)
        if not converged:
            warnings.warn(f"{name} (ialm, lam={lam}, mu={mu}) stopped at its iteration cap "
                          f"max_iter={est.max_iter} before reaching its tolerance", ConvergenceWarning,
                          stacklevel=4)
        return {"P_": P, "n_iter_": n_iter, "converged_": converged, "objective_": problem.objective(P, lam, mu)}
    res = solve_exact(problem, lam, [mu], tol_kkt=est.tol_kkt, max_steps=est.max_iter, store_P=True)
    _warn_exact(res, lam, est.tol_kkt, est.max_iter, name)
    return {"P_": res.P, "n_iter_": int(res.steps.max(initial=0)), "converged_": bool(res.kkt[0] <= est.tol_kkt),
            "objective_": float(res.objective[0]), "kkt_violation_": float(res.kkt[0]),
            "n_polished_": int(res.n_polished[0])}


def _warn_exact(res, lam, tol_kkt, max_steps, name="TSRG"):
    """ConvergenceWarning for every mu of an exact solve with columns above ``tol_kkt``."""
    capped = int((~res.complete).sum())
    for k in np.flatnonzero(res.n_failed):
        warnings.warn(f"{name} (exact, lam={lam}, mu={res.mus[k]}): {res.n_failed[k]} of {res.kkt_columns.shape[1]} "
                      f"columns still violate the optimality conditions of eq. (7) after the polish; worst "
                      f"violation {res.kkt[k]:.3g} x mu > tol_kkt={tol_kkt}"
                      + (f" ({capped} paths stopped at the iteration cap max_iter={max_steps})" if capped else ""),
                      ConvergenceWarning, stacklevel=4)
