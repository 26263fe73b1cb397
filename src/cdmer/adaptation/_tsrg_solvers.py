"""Numerical core of TSRG (paper section 3.3): kernels, spectrum, solvers.

Notation (samples as rows, the transpose of the paper's): ``Xs`` is
``(ns, d)``, ``P`` is ``(n, d)`` with ``n = ns + nt``, ``Ks = [Kss; Kts]`` is
``(n, ns)``, ``Kt = [Kst; Ktt]`` is ``(n, nt)``. Every column ``p_j`` of ``P``
solves its own problem, all sharing ``A = Ks Ks^T + lambda dk dk^T``::

    f_j(p) = ||x_j - Ks^T p||^2 + lambda (dk^T p)^2 + mu ||p||_1          (7)
           = p^T A p - 2 b_j^T p + ||x_j||^2 + mu ||p||_1,  B = Ks Xs.

``A`` has rank at most ``ns + 1``: with ``A = U diag(e) U^T`` (``U`` the
``r = min(n, ns + 1)`` leading eigenvectors)::

    (A + c I)^-1 = (1/c) I + U diag(1/(e + c) - 1/c) U^T,

so a solve with ``A + c I`` costs two thin products ``(n x r) (r x d)``.
"""

import numpy as np
from numba import njit, prange

from cdmer.adaptation.kernels import kernel_matrix


class Problem:
    """Kernel matrices and the data of eq. (7) for one (Xs, Xt, kernel)."""

    def __init__(self, Xs, Xt, kernel="linear", gamma=None, degree=3, coef0=1.0):
        self.Xs = np.ascontiguousarray(Xs, dtype=np.float64)
        self.X_fit = np.vstack([Xs, Xt])
        self.ns, self.nt = Xs.shape[0], Xt.shape[0]
        self.n = self.ns + self.nt
        K = kernel_matrix(self.X_fit, self.X_fit, kernel, gamma, degree, coef0)
        K = 0.5 * (K + K.T)                              # exact symmetry of Kss, Ktt
        self.Ks = np.ascontiguousarray(K[:, :self.ns])   # [Kss; Kts], (n, ns)
        self.Kt = np.ascontiguousarray(K[:, self.ns:])   # [Kst; Ktt], (n, nt)
        self.dk = self.Ks.mean(axis=1) - self.Kt.mean(axis=1)   # Delta k_st of eq. (9)
        self.B = self.Ks @ self.Xs                       # Ks Xs^T in the paper's notation
        self._spectra = {}

    def spectrum(self, lam):
        """``(e, U)``: the ``r = min(n, ns + 1)`` leading eigenpairs of ``A``."""
        lam = float(lam)
        if lam not in self._spectra:
            A = self.Ks @ self.Ks.T + lam * np.outer(self.dk, self.dk)
            e, U = np.linalg.eigh(0.5 * (A + A.T))
            r = min(self.n, self.ns + 1)
            e = np.maximum(e[-r:], 0.0)                   # A is PSD; clip rounding noise
            U = np.ascontiguousarray(U[:, -r:])
            self._spectra[lam] = (e, U, np.ascontiguousarray(U.T), U.T @ self.B)
        return self._spectra[lam]

    def objective(self, P, lam, mu):
        """Value of eq. (7) at ``P``."""
        E = self.Xs - self.Ks.T @ P
        return float(np.sum(E * E) + lam * np.sum((self.dk @ P) ** 2) + mu * np.abs(P).sum())

    def optimality(self, P, lam, mu):
        """KKT violation and duality gap of eq. (7) at ``P``.

        Returns ``(objective, gap, kkt)``: ``gap`` bounds ``f(P) - min f``
        (Lasso dual of each column, with the dual point the residual scaled
        into the dual feasible set); ``kkt`` is the largest violation of the
        subgradient condition ``0 in 2 (A p - b) + mu d||p||_1`` over all
        entries (absolute; divide by ``mu`` for the relative figure).
        """
        E = self.Xs - self.Ks.T @ P                       # residual x_j - Ks^T p_j, (ns, d)
        dp = self.dk @ P
        G = 2.0 * (lam * np.outer(self.dk, dp) - self.Ks @ E)   # gradient of the smooth part
        rr = np.sum(E * E, axis=0) + lam * dp ** 2
        F = rr + mu * np.abs(P).sum(axis=0)
        ry = np.sum(self.Xs * E, axis=0)
        gmax = np.abs(G).max(axis=0)
        s = np.minimum(1.0, mu / np.maximum(gmax, np.finfo(float).tiny))
        D = 2.0 * s * ry - s * s * rr                     # Lasso dual objective at s * residual
        kkt = np.where(P > 0, np.abs(G + mu), np.where(P < 0, np.abs(G - mu), np.maximum(np.abs(G) - mu, 0.0)))
        return float(F.sum()), float(max((F - D).sum(), 0.0)), float(kkt.max())


@njit(parallel=True, cache=True)
def _alm_step(P, T, H, B, V, kappa, kappa_next, thr):
    """One fused pass of steps (2)-(4) of section 3.3, in place.

    With ``V = U diag(g) U^T M`` the low-rank part of the Q step (1),
    ``Q - T/kappa = P + (2/kappa) B + V`` exactly (expand ``M/c`` with
    ``M = B + (kappa P + T)/2`` and ``c = kappa/2``), so the pass reads P, T,
    B, V once and writes the new P, T and ``H = kappa_next P + T`` (the
    right-hand side of the next Q step). Returns ``max |P - Q|``.
    """
    n, d = P.shape
    inv = 1.0 / kappa
    two = 2.0 / kappa
    rowmax = np.zeros(n)
    for i in prange(n):
        m = 0.0
        for j in range(d):
            w = P[i, j] + two * B[i, j] + V[i, j]        # Q - T/kappa
            if w > thr:                                   # soft threshold, step (2)
                p = w - thr
            elif w < -thr:
                p = w + thr
            else:
                p = 0.0
            leq = p - w - T[i, j] * inv                   # P - Q, step (4)
            if abs(leq) > m:
                m = abs(leq)
            t = kappa * (p - w)                           # T + kappa (P - Q), step (3)
            P[i, j] = p
            T[i, j] = t
            H[i, j] = kappa_next * p + t
        rowmax[i] = m
    return rowmax.max()


def alm_iterations(problem, lam, mu, P, T, kappa, *, rho, kappa_max, tol, max_iter, grow=True):
    """Run the iterations of section 3.3 from ``(P, T, kappa)`` in place.

    Each iteration: (1) Q step (eq. (9) minimised in Q), (2) P = soft(Q -
    T/kappa, mu/kappa), (4) stop if ``max|P - Q| < tol`` (then T and kappa
    are left as they are, as in the authors' code), else (3) T += kappa (P -
    Q) and kappa = min(rho kappa, kappa_max). With ``grow=False`` kappa stays
    fixed (plain ADMM). Returns ``(n_iter, converged, kappa, last_change)``.
    """
    e, U, UT, YB = problem.spectrum(lam)
    H = kappa * P + T
    V = np.empty_like(P)
    stop = np.inf
    for it in range(1, max_iter + 1):
        c = 0.5 * kappa
        g = 1.0 / (e + c) - 1.0 / c
        Z = YB + 0.5 * (UT @ H)                           # U^T (Ks Xs^T + (kappa P + T)/2)
        np.matmul(U, g[:, None] * Z, out=V)
        kappa_next = min(rho * kappa, kappa_max) if grow else kappa
        stop = _alm_step(P, T, H, problem.B, V, kappa, kappa_next, mu / kappa)
        if stop < tol:
            return it, True, kappa, stop
        kappa = kappa_next
    return max_iter, False, kappa, stop


def solve_ialm(problem, lam, mu, *, kappa0, rho, kappa_max, tol, max_iter):
    """The inexact ALM of section 3.3 from the authors' start (P = T = ones)."""
    P = np.ones((problem.n, problem.Xs.shape[1]))
    T = np.ones_like(P)
    n_iter, converged, _, _ = alm_iterations(problem, lam, mu, P, T, kappa0, rho=rho, kappa_max=kappa_max,
                                             tol=tol, max_iter=max_iter)
    return P, n_iter, converged


def solve_exact(problem, lam, mu, *, P0=None, T0=None, tol_gap=1e-6, kappa=None, check_every=10,
                max_iter=5000):
    """Minimise eq. (7) to a relative duality gap ``tol_gap`` (ADMM, fixed kappa).

    The same splitting as section 3.3 (P = Q) but with kappa fixed, which
    converges to a minimiser (the growing kappa of the inexact ALM does not).
    Stops when ``(f(P) - dual) <= tol_gap * f(P)``. Returns ``(P, T, n_iter,
    converged, objective, gap, kkt)``.
    """
    n, d = problem.n, problem.Xs.shape[1]
    e, _, _, _ = problem.spectrum(lam)
    if kappa is None:
        # Empirical: the slow directions are A's null space (only the l1 term
        # acts there), where a small kappa helps; a few times A's smallest
        # non-zero eigenvalue was best among powers of ten on test problems.
        pos = e[e > e.max() * 1e-12]
        kappa = 8.0 * float(pos.min())
    P = np.zeros((n, d)) if P0 is None else np.array(P0, dtype=np.float64, copy=True)
    T = np.zeros((n, d)) if T0 is None else np.array(T0, dtype=np.float64, copy=True)
    n_iter, converged = 0, False
    F, gap, kkt = problem.optimality(P, lam, mu)
    while n_iter < max_iter:
        if gap <= tol_gap * F:
            converged = True
            break
        k, _, _, _ = alm_iterations(problem, lam, mu, P, T, kappa, rho=1.0, kappa_max=kappa, tol=-1.0,
                                    max_iter=check_every, grow=False)
        n_iter += k
        F, gap, kkt = problem.optimality(P, lam, mu)
    converged = converged or gap <= tol_gap * F
    return P, T, n_iter, converged, F, gap, kkt
