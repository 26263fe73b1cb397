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

import numbers
import time
import warnings

import numpy as np

from cdmer.adaptation._tsrg_solvers import Problem, solve_exact, solve_ialm
from cdmer.adaptation.base import check_domains, make_svm
from cdmer.adaptation.kernels import check_kernel, kernel_matrix
from cdmer.errors import ConvergenceWarning, InputError

SOLVERS = ("ialm", "exact")

_LAMBDAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
_MUS = tuple([round(k * 0.001, 3) for k in range(1, 10)] + [round(k * 0.01, 2) for k in range(1, 10)]
             + [round(k * 0.1, 1) for k in range(1, 11)] + [float(k) for k in range(2, 11)])
#: The authors' grid (their released example scripts): 7 lambdas x 37 mus.
PARAM_GRID = [{"lam": lam, "mu": mu} for lam in _LAMBDAS for mu in _MUS]
#: Label-free default: the grid centre (lambda = 1) and a small sparsity weight.
FIXED_PARAMS = {"lam": 1.0, "mu": 0.01}


def _check_params(est):
    name = type(est).__name__
    for field in ("lam", "mu"):
        v = getattr(est, field)
        if not (isinstance(v, numbers.Real) and np.isfinite(v) and v >= 0):
            raise InputError(f"{name}: {field} must be a finite number >= 0, got {v!r}", field=field)
    if est.solver not in SOLVERS:
        raise InputError(f"{name}: unknown solver {est.solver!r}; expected one of {', '.join(SOLVERS)}",
                         field="solver")
    check_kernel(est.kernel, est.gamma, est.degree, est.coef0, method=name)


class TSRG:
    """Target Sample Re-Generator (eq. (7)); see the module docstring.

    Parameters
    ----------
    lam, mu : float
        lambda (MMD term) and mu (l1 sparsity) of eq. (7).
    kernel : {"linear", "rbf", "poly"}
        See :mod:`cdmer.adaptation.kernels`; ``gamma``, ``degree``, ``coef0``
        as scikit-learn (``gamma=None`` is ``1 / d``).
    solver : {"ialm", "exact"}
    max_iter : int
        ``"ialm"``: iteration cap; with the default kappa schedule the ALM
        stops by itself once ``2 mu / kappa < tol``, after at most about
        ``log(2 mu / (tol kappa0)) / log(rho) + 1`` iterations.
        A :class:`~cdmer.errors.ConvergenceWarning` is raised when it is hit.
        ``"exact"``: cap on the breakpoints of each column's path (real
        LBP-TOP features need ~350 down to mu = 0.001); a capped column
        goes to the polish, and the warning is raised only if the polish
        does not reach ``tol_kkt`` (it then names the capped paths).
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
    n_iter_, converged_, objective_ : int, bool, float
        ``objective_`` is eq. (7) at ``P_``. For ``"exact"``, ``n_iter_`` is
        the largest number of path breakpoints over the columns and
        ``converged_`` means ``kkt_violation_ <= tol_kkt``.
    kkt_violation_ : float
        ``"exact"`` only: largest violation of the subgradient condition of
        eq. (7) over all entries of ``P_``, divided by mu.
    n_polished_ : int
        ``"exact"`` only: columns that needed the polish.
    """

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

    def fit(self, Xs, Xt):
        """Learn ``P`` from source ``Xs`` (ns, d) and target ``Xt`` (nt, d), rows = samples."""
        _check_params(self)
        Xs, _, Xt = check_domains(Xs, None, Xt, "TSRG")
        problem = Problem(Xs, Xt, self.kernel, self.gamma, self.degree, self.coef0)
        self._fit_problem(problem)
        return self

    def _fit_problem(self, problem):
        lam, mu = float(self.lam), float(self.mu)
        self.X_fit_ = problem.X_fit
        self.n_source_ = problem.ns
        if self.solver == "ialm":
            P, n_iter, converged = solve_ialm(problem, lam, mu, kappa0=self.kappa0, rho=self.rho,
                                              kappa_max=self.kappa_max, tol=self.tol, max_iter=self.max_iter)
            self.objective_ = problem.objective(P, lam, mu)
            if not converged:
                warnings.warn(f"TSRG (ialm, lam={lam}, mu={mu}) stopped at its iteration cap "
                              f"max_iter={self.max_iter} before reaching its tolerance", ConvergenceWarning,
                              stacklevel=3)
        else:
            res = solve_exact(problem, lam, [mu], tol_kkt=self.tol_kkt, max_steps=self.max_iter, store_P=True)
            _warn_exact(res, lam, self.tol_kkt, self.max_iter)
            P, n_iter, converged = res.P, int(res.steps.max(initial=0)), bool(res.kkt[0] <= self.tol_kkt)
            self.objective_, self.kkt_violation_ = float(res.objective[0]), float(res.kkt[0])
            self.n_polished_ = int(res.n_polished[0])
        self.P_, self.n_iter_, self.converged_ = P, n_iter, converged

    def transform(self, X):
        """Re-generate samples: ``k(X, [Xs; Xt]) @ P_`` (rows in, rows out)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.X_fit_.shape[1]:
            raise InputError(f"TSRG: expected samples with {self.X_fit_.shape[1]} features, got shape {X.shape}",
                             field="X")
        if not np.all(np.isfinite(X)):
            raise InputError("TSRG: contains NaN or inf", field="X")
        return kernel_matrix(X, self.X_fit_, self.kernel, self.gamma, self.degree, self.coef0) @ self.P_


class TSRGClassifier:
    """TSRG + the paper's SVM: trained on the original source, applied to re-generated targets.

    ``fit(Xs, ys, Xt)`` learns TSRG on (Xs, Xt) and a linear SVM (C) on
    (Xs, ys); ``predict(X)`` is ``svm_.predict(tsrg_.transform(X))``.
    """

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

    def _tsrg(self, **override):
        params = dict(lam=self.lam, mu=self.mu, kernel=self.kernel, gamma=self.gamma, degree=self.degree,
                      coef0=self.coef0, solver=self.solver, max_iter=self.max_iter, tol=self.tol,
                      kappa0=self.kappa0, rho=self.rho, kappa_max=self.kappa_max, tol_kkt=self.tol_kkt)
        params.update(override)
        return TSRG(**params)

    def fit(self, Xs, ys, Xt):
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "TSRG")
        self.tsrg_ = self._tsrg().fit(Xs, Xt)
        self.svm_ = make_svm(self.C).fit(Xs, ys)
        self.classes_ = self.svm_.classes_
        return self

    def predict(self, X):
        return self.svm_.predict(self.tsrg_.transform(X))

    def decision_function(self, X):
        return self.svm_.decision_function(self.tsrg_.transform(X))

    @classmethod
    def grid_predict(cls, Xs, ys, Xt, params_list, *, solver="ialm", n_jobs=1, progress=None, **fixed):
        """Predict the target ``Xt`` for every ``{"lam", "mu"}`` in ``params_list``.

        Yields ``(params, y_pred, info)`` as results arrive, ``info`` =
        ``{"n_iter", "converged", "objective", "time_s", "solver"}`` (plus
        ``"kkt_violation"``, the largest KKT violation of eq. (7) / mu, for
        ``"exact"``). The SVM is trained once; kernels and ``Ks Xs^T`` once
        per call. ``"ialm"``: the eigendecomposition once per lambda, one ALM
        run per point. ``"exact"``: ONE homotopy path per column and lambda
        serves all the mus of that lambda (only the re-generated targets
        ``Kt^T P`` are kept per mu, not P); ``time_s`` is then that lambda's
        solve time divided equally among its points. Results equal those of
        ``TSRGClassifier(**params).fit(...).predict(Xt)``.
        A point may carry its own ``"solver"`` key (as the evaluation
        protocol's overrides do); it takes precedence over ``solver``.
        ``n_jobs > 1`` spreads lambdas over processes (joblib).
        ``progress``, if given, is called with no argument after each point.
        """
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "TSRG")
        params_list = [dict(p) for p in params_list]
        for p in params_list:
            _check_params(cls(lam=p["lam"], mu=p["mu"], solver=p.get("solver", solver), **fixed))
        svm = make_svm(fixed.get("C", 1.0)).fit(Xs, ys)
        groups = {}
        for i, p in enumerate(params_list):                # a point's own "solver" key overrides `solver`
            groups.setdefault((float(p["lam"]), p.get("solver", solver)), []).append(i)
        tasks = [(lam, how, [params_list[i] for i in idx]) for (lam, how), idx in groups.items()]
        if n_jobs == 1 or len(tasks) == 1:
            problem = Problem(Xs, Xt, **_kernel_args(fixed))
            for lam, how, plist in tasks:
                for params, z, info in _grid_lambda(problem, lam, plist, how, fixed):
                    if progress is not None:
                        progress()
                    yield params, svm.predict(z), info
            return
        from joblib import Parallel, delayed
        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for results in runner(delayed(_grid_lambda_list)(Xs, Xt, lam, plist, how, fixed) for lam, how, plist in tasks):
            for params, z, info in results:
                if progress is not None:
                    progress()
                yield params, svm.predict(z), info


def _kernel_args(fixed):
    return {k: fixed[k] for k in ("kernel", "gamma", "degree", "coef0") if k in fixed}


def _grid_lambda_list(Xs, Xt, lam, plist, solver, fixed):
    return list(_grid_lambda(Problem(Xs, Xt, **_kernel_args(fixed)), lam, plist, solver, fixed))


def _warn_exact(res, lam, tol_kkt, max_steps):
    """ConvergenceWarning for every mu of an exact solve with columns above ``tol_kkt``."""
    capped = int((~res.complete).sum())
    for k in np.flatnonzero(res.n_failed):
        warnings.warn(f"TSRG (exact, lam={lam}, mu={res.mus[k]}): {res.n_failed[k]} of {res.kkt_columns.shape[1]} "
                      f"columns still violate the optimality conditions of eq. (7) after the polish; worst "
                      f"violation {res.kkt[k]:.3g} x mu > tol_kkt={tol_kkt}"
                      + (f" ({capped} paths stopped at the iteration cap max_iter={max_steps})" if capped else ""),
                      ConvergenceWarning, stacklevel=4)


def _grid_lambda(problem, lam, plist, solver, fixed):
    """Solve eq. (7) for one lambda and several mus; yield (params, regenerated Xt, info)."""
    tsrg_args = {k: v for k, v in fixed.items() if k != "C"}
    if solver == "exact":
        est = TSRG(lam=lam, solver=solver, **tsrg_args)
        t0 = time.perf_counter()
        res = solve_exact(problem, lam, [float(p["mu"]) for p in plist], tol_kkt=est.tol_kkt,
                          max_steps=est.max_iter)
        _warn_exact(res, lam, est.tol_kkt, est.max_iter)
        share = (time.perf_counter() - t0) / len(plist)
        n_iter = int(res.steps.max(initial=0))
        for params in plist:
            k = int(np.flatnonzero(res.mus == float(params["mu"]))[0])
            info = {"n_iter": n_iter, "converged": bool(res.kkt[k] <= est.tol_kkt),
                    "objective": float(res.objective[k]), "time_s": share, "solver": solver,
                    "kkt_violation": float(res.kkt[k])}
            yield params, res.R[k], info
        return
    for params in plist:
        est = TSRG(lam=lam, mu=float(params["mu"]), solver=solver, **tsrg_args)
        t0 = time.perf_counter()
        est._fit_problem(problem)
        info = {"n_iter": est.n_iter_, "converged": est.converged_, "objective": est.objective_,
                "time_s": time.perf_counter() - t0, "solver": solver}
        yield params, problem.Kt.T @ est.P_, info
