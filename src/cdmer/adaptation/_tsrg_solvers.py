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

so a solve with ``A + c I`` costs two thin products ``(n x r) (r x d)``
(the inexact ALM, :func:`solve_ialm`).

The exact solver (:func:`solve_exact`) writes column j of eq. (7), divided
by 2, as the Lasso ``1/2 p^T A p - b_j^T p + alpha |p|_1`` with ``alpha =
mu / 2`` and follows its LARS-lasso path in alpha on the Gram ``A`` (one
column per numba thread; see :func:`_lasso_path`).
"""

import numpy as np
from numba import njit, parallel_chunksize, prange

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


#: Columns of P per block of the inexact ALM: the block's P, T (two buffers),
#: B, H, V (n x ALM_BLOCK each) plus U, U^T stay in a core's L2 cache for all
#: its iterations (n = 142: about 0.6 MB).
ALM_BLOCK = 64


@njit(nogil=True, cache=True)
def _alm_block(P, Tc, Tn, B, YB, U, UT, e, kap, mu, tol, start, until, stop_early, rec):
    """Iterations ``start .. until`` of section 3.3 on one block of columns of P, in place.

    The columns of P are independent given the kappa schedule ``kap``
    (``kap[it]`` is kappa at iteration ``it``), so a block runs all its
    iterations while it stays in cache. Per iteration, with ``c = kappa/2``,
    ``g = 1/(e + c) - 1/c`` and ``H = kappa P + T``:

    (1) Q step, eq. (9) minimised in Q: ``Q = (A + c I)^-1 M`` with
        ``M = B + H/2`` and ``(A + cI)^-1 = I/c + U diag(g) U^T``, so
        ``Q - T/kappa = P + (2/kappa) B + V``, ``V = U diag(g) (U^T B + U^T H / 2)``
        (two thin products on the block);
    (2) P = soft-threshold(Q - T/kappa, mu/kappa);
    (4) ``max |P - Q|`` of the block is written to ``rec[it]``;
    (3) ``T + kappa (P - Q) = kappa (P - (Q - T/kappa))`` is written to ``Tn``
        (never over ``Tc``), and ``H`` for the next iteration is formed in
        the same pass (the products fused with the elementwise pass).

    Stops after ``until``, or (``stop_early``) after the first iteration whose
    ``rec`` is below ``tol``. On return P is P_it, ``Tc`` / ``Tn`` (after
    the returned number of swaps) hold T before / after step (3) of the last
    iteration: the caller resumes from ``Tn`` or keeps ``Tc`` (the authors'
    code leaves T un-updated at the stopping iteration). Returns
    ``(last iteration, number of buffer swaps)``.
    """
    n, w = P.shape
    r = U.shape[1]
    H = np.empty((n, w))
    Z = np.empty((r, w))
    V = np.empty((n, w))
    kappa = kap[start]
    for i in range(n):
        for j in range(w):
            H[i, j] = kappa * P[i, j] + Tc[i, j]
    it = start
    swaps = 0
    while True:
        c = 0.5 * kappa
        np.dot(UT, H, Z)                                  # U^T H
        for k in range(r):
            gk = 1.0 / (e[k] + c) - 1.0 / c
            for j in range(w):
                Z[k, j] = (YB[k, j] + 0.5 * Z[k, j]) * gk   # diag(g) U^T M
        np.dot(U, Z, V)                                   # V = U diag(g) U^T M
        kn = kap[it + 1]
        inv = 1.0 / kappa
        two = 2.0 / kappa
        thr = mu / kappa
        m = 0.0
        for i in range(n):
            for j in range(w):
                x = P[i, j] + two * B[i, j] + V[i, j]      # Q - T/kappa, step (1)
                if x > thr:                               # soft threshold, step (2)
                    p = x - thr
                elif x < -thr:
                    p = x + thr
                else:
                    p = 0.0
                leq = p - x - Tc[i, j] * inv              # P - Q, step (4)
                if abs(leq) > m:
                    m = abs(leq)
                t = kappa * (p - x)                       # T + kappa (P - Q), step (3)
                P[i, j] = p
                Tn[i, j] = t
                H[i, j] = kn * p + t
        rec[it] = m
        if (stop_early and m < tol) or it >= until:
            return it, swaps
        Tc, Tn = Tn, Tc
        swaps += 1
        kappa = kn
        it += 1


@njit(parallel=True, cache=True)
def _alm_advance(P3, TA, TB, cur, at, B3, YB3, U, UT, e, kap, mu, tol, until, stop_early, rec, active):
    """Advance every ``active`` block from its iteration ``at[b]`` (one numba thread per block).

    Block b's T before step (3) of iteration ``at[b]`` is ``(TA, TB)[cur[b]]``,
    after it the other buffer; the run resumes from the latter.
    """
    for b in prange(P3.shape[0]):
        if not active[b]:
            continue
        c = 1 - cur[b]
        if c == 0:
            Tc, Tn = TA[b], TB[b]
        else:
            Tc, Tn = TB[b], TA[b]
        last, swaps = _alm_block(P3[b], Tc, Tn, B3[b], YB3[b], U, UT, e, kap, mu, tol, at[b] + 1, until,
                                 stop_early, rec[b])
        cur[b] = c ^ (swaps & 1)
        at[b] = last


def _to_blocks(X, width):
    """``X`` (m, d) as ``(ceil(d / width), m, width)`` contiguous blocks of columns, zero-padded."""
    m, d = X.shape
    nb = -(-d // width)
    X3 = np.zeros((nb, m, width))
    for b in range(nb):
        part = X[:, b * width:(b + 1) * width]
        X3[b, :, :part.shape[1]] = part
    return X3


def _from_blocks(X3, d):
    return np.concatenate(list(X3), axis=1)[:, :d]


def alm_iterations(problem, lam, mu, P, T, kappa, *, rho, kappa_max, tol, max_iter, block=None):
    """Run the iterations of section 3.3 from ``(P, T, kappa)`` in place.

    Each iteration: (1) Q step (eq. (9) minimised in Q), (2) P = soft(Q -
    T/kappa, mu/kappa), (4) stop if ``max|P - Q| < tol`` (then T and kappa
    are left as they are, as in the authors' code), else (3) T += kappa (P -
    Q) and kappa = min(rho kappa, kappa_max). Returns ``(n_iter, converged, kappa, last_change)``.

    The iterates are those of the ALM on the whole of P (stopping test over
    all columns); they are computed by blocks of ``block`` columns
    (:data:`ALM_BLOCK`), each run through its iterations while it stays in
    cache (:func:`_alm_block`). The global stopping iteration is the first
    at which every block's ``max|P - Q|`` is below ``tol``: each block first
    runs to its own first such iteration, recording its maximum at every
    iteration; blocks behind the latest of these are advanced to it (they
    resume exactly where they stopped, T being double-buffered); if some
    block is then above ``tol`` (the maxima are not monotone), every block
    runs on to its next iteration below ``tol`` and the check repeats. So P
    (and T, kappa) are exactly the global-stopping ALM's, up to the rounding
    of the block products.
    """
    n, d = P.shape
    e, U, UT, YB = problem.spectrum(lam)
    width = int(block or ALM_BLOCK)
    P3, TA, B3, YB3 = _to_blocks(P, width), _to_blocks(T, width), _to_blocks(problem.B, width), _to_blocks(YB, width)
    TB = np.zeros_like(TA)                               # padded columns stay exactly 0
    nb = P3.shape[0]
    kap = np.empty(max_iter + 2)                         # kap[it]: kappa at iteration it (step (3) schedule)
    kap[0] = kap[1] = kappa
    for i in range(2, max_iter + 2):
        kap[i] = min(rho * kap[i - 1], kappa_max)
    cur = np.ones(nb, dtype=np.int64)                    # "at iteration 0": T_0 (in TA) is the one to resume from
    at = np.zeros(nb, dtype=np.int64)
    rec = np.full((nb, max_iter + 2), np.inf)
    active = np.ones(nb, dtype=np.bool_)
    mu, tol = float(mu), float(tol)
    with _one_blas_thread(), parallel_chunksize(1):      # blocks handed out one at a time: balanced
        _alm_advance(P3, TA, TB, cur, at, B3, YB3, U, UT, e, kap, mu, tol, max_iter, True, rec, active)
        while True:
            L = int(at.max())
            active = at < L
            if active.any():
                _alm_advance(P3, TA, TB, cur, at, B3, YB3, U, UT, e, kap, mu, tol, L, False, rec, active)
            if L >= max_iter or bool((rec[:, L] < tol).all()):
                break
            active[:] = True
            _alm_advance(P3, TA, TB, cur, at, B3, YB3, U, UT, e, kap, mu, tol, max_iter, True, rec, active)
    converged = bool((rec[:, L] < tol).all())
    P[...] = _from_blocks(P3, d)
    if converged:                                        # stop: T, kappa as before step (3)
        T[...] = _from_blocks(np.where((cur == 0)[:, None, None], TA, TB), d)
        kappa = kap[L]
    else:                                                # cap: step (3) was applied
        T[...] = _from_blocks(np.where((cur == 0)[:, None, None], TB, TA), d)
        kappa = kap[L + 1]
    return L, converged, kappa, float(rec[:, L].max())


def _one_blas_thread():
    """BLAS limited to one thread while numba's threads run the blocks (no oversubscription)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def solve_ialm(problem, lam, mu, *, kappa0, rho, kappa_max, tol, max_iter):
    """The inexact ALM of section 3.3 from the authors' start (P = T = ones)."""
    P = np.ones((problem.n, problem.Xs.shape[1]))
    T = np.ones_like(P)
    n_iter, converged, _, _ = alm_iterations(problem, lam, mu, P, T, kappa0, rho=rho, kappa_max=kappa_max,
                                             tol=tol, max_iter=max_iter)
    return P, n_iter, converged


# ---------------------------------------------------------------------------
# Exact solver: LARS-lasso homotopy (Efron et al. 2004, lasso modification)
# ---------------------------------------------------------------------------
#
# Column j of eq. (7) is, with alpha = mu / 2,
#     min_p 1/2 p^T A p - b^T p + alpha ||p||_1                      (7) / 2
# On a segment of the path with active set S and signs s, the optimality
# conditions c_S = alpha s_S, |c_i| <= alpha off S, c = b - A p, give
#     p_S(alpha) = u - alpha w,  A_SS u = b_S,  A_SS w = s_S,
#     c(alpha) = c0 + alpha a,   c0 = b - A_:S u,  a = A_:S w,
# affine in alpha, so every requested alpha inside a segment is exact. u and
# w are recomputed from the Cholesky factor of A_SS at every breakpoint, so
# rounding errors do not accumulate along the path. The kernels below are
# arranged for speed (contiguous inner loops, several rows per pass, the
# forward substitution kept between breakpoints) without changing any
# floating-point operation or its order: the results are those of the plain
# row-by-row loops, to the bit.


@njit(cache=True, nogil=True)
def _chol_forward2(L, LT, lo, m, S, b, sgn, y1, y2):
    """Rows ``lo .. m-1`` of ``L y1 = b_S``, ``L y2 = s_S`` (forward substitution, ``L = L[:m, :m]``, ``LT = L^T``).

    Row i reads only rows ``<= i`` of ``L`` and of the right-hand sides. A
    variable entering appends row m of ``L``; one leaving at position q
    changes rows ``>= q`` only (:func:`_chol_delete`). The rows above keep
    their values bit for bit, so only rows ``lo ..`` are substituted: O(m)
    per entry instead of O(m^2). Each ``y[i]`` receives ``- L[i, k] y[k]``
    for ``k = 0 .. i-1`` in that order, then the division by ``L[i, i]``:
    along the rows of ``L`` for one or two rows, else by columns of ``L``
    (the rows of ``LT``, contiguous: the inner loop vectorises); the same
    values to the bit either way.
    """
    if m - lo <= 2:
        for i in range(lo, m):
            v1, v2 = b[S[i]], sgn[S[i]]
            row = L[i]
            for k in range(i):
                v1 -= row[k] * y1[k]
                v2 -= row[k] * y2[k]
            y1[i] = v1 / row[i]
            y2[i] = v2 / row[i]
        return
    for i in range(lo, m):
        y1[i] = b[S[i]]
        y2[i] = sgn[S[i]]
    for k in range(m):
        if k >= lo:
            y1[k] /= LT[k, k]
            y2[k] /= LT[k, k]
        v1, v2 = y1[k], y2[k]
        s = max(lo, k + 1)
        rowt, u1, u2 = LT[k, s:m], y1[s:m], y2[s:m]
        for i in range(rowt.shape[0]):
            u1[i] = u1[i] - rowt[i] * v1
            u2[i] = u2[i] - rowt[i] * v2


@njit(cache=True, nogil=True)
def _chol_backward2(L, m, y1, y2, x1, x2):
    """Solve ``L^T x = y`` for two right-hand sides, ``L = L[:m, :m]`` lower triangular.

    Column sweep along the rows of ``L`` (contiguous), two rows per pass
    over ``x``; every ``x[k]`` receives its updates in the order of the
    one-row sweep (rows ``m-1, m-2, ..``), so the result is the same to the bit.
    """
    for i in range(m):
        x1[i] = y1[i]
        x2[i] = y2[i]
    i = m - 1
    while i >= 1:
        ra, rb = L[i], L[i - 1]                          # rows i and i - 1
        x1[i] /= ra[i]
        x2[i] /= ra[i]
        va1, va2 = x1[i], x2[i]
        x1[i - 1] -= ra[i - 1] * va1
        x2[i - 1] -= ra[i - 1] * va2
        x1[i - 1] /= rb[i - 1]
        x2[i - 1] /= rb[i - 1]
        vb1, vb2 = x1[i - 1], x2[i - 1]
        a_, b_, u1, u2 = ra[:i - 1], rb[:i - 1], x1[:i - 1], x2[:i - 1]
        for k in range(a_.shape[0]):
            u1[k] = u1[k] - a_[k] * va1 - b_[k] * vb1
            u2[k] = u2[k] - a_[k] * va2 - b_[k] * vb2
        i -= 2
    if i == 0:
        x1[0] /= L[0, 0]
        x2[0] /= L[0, 0]


@njit(cache=True, nogil=True)
def _chol_column(LT, m, z):
    """``z = L^-1 z`` for ``L = L[:m, :m]``, by columns of ``L`` (the rows of ``LT = L^T``, contiguous).

    Each ``z[i]`` receives ``- L[i, k] z[k]`` for ``k = 0 .. i-1`` in that
    order and then the division by ``L[i, i]``: the row-wise substitution's
    operations, to the bit, but the inner loop vectorises (two columns per
    pass).
    """
    k = 0
    while k + 2 <= m:                                    # two columns per pass over z
        ra, rb = LT[k], LT[k + 1]
        za = z[k] / ra[k]
        z[k] = za
        zb = (z[k + 1] - ra[k + 1] * za) / rb[k + 1]
        z[k + 1] = zb
        a_, b_, zz = ra[k + 2:m], rb[k + 2:m], z[k + 2:m]
        for i in range(zz.shape[0]):
            zz[i] = zz[i] - a_[i] * za - b_[i] * zb
        k += 2
    if k < m:
        z[k] = z[k] / LT[k, k]


@njit(cache=True, nogil=True)
def _chol_delete(L, LT, m, q):
    """Remove row and column ``q`` of ``A_SS = L L^T`` (Givens re-triangularisation), in ``L`` and ``LT = L^T``.

    Only rows ``>= q`` of ``L`` (columns ``>= q`` of ``LT``) change. The same
    rotations, with the same values, are applied to both copies; in ``LT``
    they run along rows (contiguous).
    """
    for i in range(q, m - 1):
        for k in range(i + 2):
            L[i, k] = L[i + 1, k]
    for k in range(m):                                   # the same shift in LT: column i <- column i + 1
        lo = max(q, k - 1)
        row = LT[k]
        for i in range(lo, m - 1):
            row[i] = row[i + 1]
    for i in range(q, m - 1):
        x, y = L[i, i], L[i, i + 1]
        r = np.hypot(x, y)
        c, s = x / r, y / r
        for row in range(i, m - 1):
            x, y = L[row, i], L[row, i + 1]
            L[row, i] = c * x + s * y
            L[row, i + 1] = -s * x + c * y
        L[i, i + 1] = 0.0
        ri, rj = LT[i, i:m - 1], LT[i + 1, i:m - 1]
        for t in range(ri.shape[0]):
            x, y = ri[t], rj[t]
            ri[t] = c * x + s * y
            rj[t] = -s * x + c * y
        LT[i + 1, i] = 0.0
    for k in range(m):
        L[m - 1, k] = 0.0
        L[k, m - 1] = 0.0
        LT[m - 1, k] = 0.0
        LT[k, m - 1] = 0.0


@njit(cache=True, nogil=True)
def _add_rows(M, idx, coef, m, out):
    """``out += sum_q coef[q] M[idx[q], :len(out)]`` for ``q = 0 .. m-1``, added in that order.

    Eight (then four, then one) rows per pass over ``out``: each ``out[i]``
    still receives the terms one at a time, in the order of ``q``, so the
    result is that of one row per pass, to the bit.
    """
    n = out.shape[0]
    q = 0
    while q + 8 <= m:
        r0, r1, r2, r3 = M[idx[q]], M[idx[q + 1]], M[idx[q + 2]], M[idx[q + 3]]
        r4, r5, r6, r7 = M[idx[q + 4]], M[idx[q + 5]], M[idx[q + 6]], M[idx[q + 7]]
        c0, c1, c2, c3 = coef[q], coef[q + 1], coef[q + 2], coef[q + 3]
        c4, c5, c6, c7 = coef[q + 4], coef[q + 5], coef[q + 6], coef[q + 7]
        for i in range(n):
            out[i] = (out[i] + r0[i] * c0 + r1[i] * c1 + r2[i] * c2 + r3[i] * c3 + r4[i] * c4 + r5[i] * c5
                      + r6[i] * c6 + r7[i] * c7)
        q += 8
    while q + 4 <= m:
        r0, r1, r2, r3 = M[idx[q]], M[idx[q + 1]], M[idx[q + 2]], M[idx[q + 3]]
        c0, c1, c2, c3 = coef[q], coef[q + 1], coef[q + 2], coef[q + 3]
        for i in range(n):
            out[i] = out[i] + r0[i] * c0 + r1[i] * c1 + r2[i] * c2 + r3[i] * c3
        q += 4
    while q < m:
        r0 = M[idx[q]]
        c0 = coef[q]
        for i in range(n):
            out[i] = out[i] + r0[i] * c0
        q += 1


@njit(cache=True, nogil=True, error_model="numpy")
def _lasso_path(A, b, alphas, max_steps, piv_eps, Pk, refresh=8):
    """LARS-lasso path of ``min 1/2 p^T A p - b^T p + alpha |p|_1`` on the (symmetric) Gram ``A``.

    Writes ``Pk[k] = p(alphas[k])`` for ``alphas`` sorted decreasingly.
    A variable whose Cholesky pivot would be ``<= piv_eps * A_jj`` (it is, to
    rounding, a combination of the active ones: A is rank deficient) is not
    added and is skipped until the next drop. Returns ``(steps, complete)``;
    ``complete`` is False when ``max_steps`` ran out (the remaining alphas
    then take the last segment's values and are left to the KKT check).

    ``u`` and ``w`` are re-solved from the Cholesky factor at every
    breakpoint where the active set changed; the forward half of the solve is
    kept between breakpoints and only its rows from the first changed row of
    ``L`` on are substituted (:func:`_chol_forward2`), which gives the full
    substitution's values to the bit. After a skipped variable the active
    set, ``u``, ``w`` and ``a`` are unchanged and are not recomputed.
    """
    n = A.shape[0]
    K = alphas.shape[0]
    for k in range(K):
        for i in range(n):
            Pk[k, i] = 0.0
    alpha = 0.0
    first = -1
    for i in range(n):
        if abs(b[i]) > alpha:
            alpha = abs(b[i])
            first = i
    kk = 0
    while kk < K and alphas[kk] >= alpha:
        kk += 1                                          # p = 0 for alpha >= max|b|
    if kk == K or first < 0:
        return 0, True
    # L[:m, :m] (lower triangle) and LT = L^T (upper triangle of LT[:m, :m]): every entry is written
    # before it is read (the helpers read no other), so the buffers are not cleared
    L = np.empty((n, n))
    LT = np.empty((n, n))
    S = np.empty(n, dtype=np.int64)                     # active variables, in the order of L
    inS = np.zeros(n, dtype=np.bool_)
    skip = np.zeros(n, dtype=np.bool_)
    sgn = np.zeros(n)
    y1 = np.empty(n)                                    # L^-1 b_S, L^-1 s_S (forward halves)
    y2 = np.empty(n)
    u = np.empty(n)
    w = np.empty(n)
    nu = np.empty(n)
    z = np.empty(n)
    c0 = np.empty(n)
    a = np.empty(n)
    tp = np.empty(n)                                    # entry points of the free variables, sign + / -
    tm = np.empty(n)
    td = np.empty(n)                                    # drop points of the active variables
    S[0] = first
    inS[first] = True
    sgn[first] = 1.0 if b[first] > 0 else -1.0
    L[0, 0] = np.sqrt(A[first, first])
    LT[0, 0] = L[0, 0]
    m = 1
    lo = 0                                               # first row of L changed since the last solve
    changed = True                                       # active set changed since the last solve
    entered, dropped, dropped_sign = first, -1, 0.0
    for step in range(1, max_steps + 1):
        if changed:
            _chol_forward2(L, LT, lo, m, S, b, sgn, y1, y2)
            _chol_backward2(L, m, y1, y2, u, w)
            lo = m
        if (step - 1) % refresh == 0:
            for i in range(n):                           # c0 = b - A_:S u exactly
                c0[i] = b[i]
            for q in range(m):
                nu[q] = -u[q]
            _add_rows(A, S, nu, m, c0)
            if changed:
                a[:] = 0.0
                _add_rows(A, S, w, m, a)
        else:
            # c(alpha) is continuous at the breakpoint: c0' = c0 + alpha (a - a')
            for i in range(n):
                c0[i] += alpha * a[i]
            if changed:
                a[:] = 0.0
                _add_rows(A, S, w, m, a)
            for i in range(n):
                c0[i] -= alpha * a[i]
        changed = False
        # next breakpoint below alpha: an entry (|c_i| reaches alpha) or a drop (p_i reaches 0)
        # t = min(+-c0_i / (1 -+ a_i), alpha) for every free variable (a loop without
        # branches), then the largest t > 0, the first in the order (i, +, -): the
        # variable the one-by-one scan with a strict ">" would pick
        for i in range(n):
            free = not (inS[i] | skip[i])
            den = 1.0 - a[i]
            ok = free & (den > 1e-12)
            t = min(c0[i] / (den if ok else 1.0), alpha)
            tp[i] = t if ok else -1.0
            den = 1.0 + a[i]
            ok = free & (den > 1e-12)
            t = min(-c0[i] / (den if ok else 1.0), alpha)
            tm[i] = t if ok else -1.0
        if dropped >= 0:
            # a variable just dropped meets |c_i| = alpha with its old sign at
            # the drop point itself (a line has one root): only the other sign
            if dropped_sign > 0:
                tp[dropped] = -1.0
            else:
                tm[dropped] = -1.0
        nxt, who, kind, new_sign = 0.0, -1, 0, 0.0
        h0, h1, h2, h3 = 0.0, 0.0, 0.0, 0.0              # max of the t > 0 (exact: no rounding), 4 chains
        i = 0
        while i + 2 <= n:
            h0 = tp[i] if tp[i] > h0 else h0
            h1 = tm[i] if tm[i] > h1 else h1
            h2 = tp[i + 1] if tp[i + 1] > h2 else h2
            h3 = tm[i + 1] if tm[i + 1] > h3 else h3
            i += 2
        if i < n:
            h0 = tp[i] if tp[i] > h0 else h0
            h1 = tm[i] if tm[i] > h1 else h1
        h0 = h1 if h1 > h0 else h0
        h2 = h3 if h3 > h2 else h2
        h0 = h2 if h2 > h0 else h0
        if h0 > 0.0:                                     # the first to reach it, in the order (i, +, -)
            for i in range(n):
                if tp[i] == h0:
                    nxt, who, kind, new_sign = h0, i, 1, 1.0
                    break
                if tm[i] == h0:
                    nxt, who, kind, new_sign = h0, i, 1, -1.0
                    break
        for q in range(m):                               # drop points u_q / w_q (a loop without branches)
            td[q] = u[q] / w[q]
        for q in range(m):
            if S[q] == entered or w[q] == 0.0:
                continue
            t = td[q]
            if t < alpha and t > nxt:
                nxt, who, kind = t, q, 2
        while kk < K and alphas[kk] >= nxt:
            al = alphas[kk]
            for q in range(m):
                Pk[kk, S[q]] = u[q] - al * w[q]
            kk += 1
        if kk == K:
            return step, True
        alpha = nxt
        entered, dropped = -1, -1
        if kind == 1:
            rw = A[who]
            for q in range(m):
                z[q] = rw[S[q]]                          # A_S,who (A symmetric: row who, contiguous)
            _chol_column(LT, m, z)                       # z = L^-1 A_S,who
            piv = A[who, who]
            for q in range(m):
                piv -= z[q] * z[q]
            if piv <= piv_eps * A[who, who]:
                skip[who] = True
                continue
            for q in range(m):
                L[m, q] = z[q]
                LT[q, m] = z[q]
            L[m, m] = np.sqrt(piv)
            LT[m, m] = L[m, m]
            S[m] = who
            inS[who] = True
            sgn[who] = new_sign
            m += 1
            entered = who
        else:
            i = S[who]
            _chol_delete(L, LT, m, who)
            for q in range(who, m - 1):
                S[q] = S[q + 1]
            m -= 1
            lo = min(lo, who)
            inS[i] = False
            dropped_sign = sgn[i]
            sgn[i] = 0.0
            skip[:] = False
            dropped = i
        changed = True
    # max_steps exhausted: extend the last segment (flagged by the KKT check)
    while kk < K:
        al = alphas[kk]
        for q in range(m):
            Pk[kk, S[q]] = u[q] - al * w[q]
        kk += 1
    return max_steps, False


@njit(cache=True, nogil=True)
def _support(p, idx, val):
    """Indices (increasing) and values of the nonzeros of ``p`` into ``idx``, ``val``; returns their number."""
    m = 0
    for q in range(p.shape[0]):
        if p[q] != 0.0:
            idx[m] = q
            val[m] = p[q]
            m += 1
    return m


@njit(cache=True, nogil=True)
def _gradient(A, b, p, g):
    """``g = A p - b`` over the support of ``p`` (the rows of ``A`` in increasing order)."""
    n = b.shape[0]
    idx = np.empty(n, dtype=np.int64)
    val = np.empty(n)
    m = _support(p, idx, val)
    for i in range(n):
        g[i] = -b[i]
    _add_rows(A, idx, val, m, g)


@njit(cache=True, nogil=True)
def _violation(g, p, alpha):
    """Largest violation of ``0 in g + alpha d|p|_1`` (units of ``g``)."""
    v = 0.0
    for i in range(g.shape[0]):
        if p[i] > 0.0:
            e = abs(g[i] + alpha)
        elif p[i] < 0.0:
            e = abs(g[i] - alpha)
        else:
            e = abs(g[i]) - alpha
        v = max(v, e)
    return v


@njit(cache=True, nogil=True)
def _lasso_value(A, b, y, idx, m, alpha):
    """``1/2 y^T A y - b^T y + alpha |y|_1`` for ``y`` supported on ``idx[:m]``."""
    v = 0.0
    for q in range(m):
        yq = y[q]
        if yq == 0.0:
            continue
        row = A[idx[q]]
        s = 0.0
        for r in range(m):
            s += row[idx[r]] * y[r]
        v += yq * (0.5 * s - b[idx[q]]) + alpha * abs(yq)
    return v


@njit(cache=True, nogil=True)
def _feature_sign_polish(A, b, p, alpha, tol, max_iter, g):
    """Active-set Newton with sign fixing (feature-sign search, Lee et al. 2007) from ``p``, in place.

    Minimises ``1/2 p^T A p - b^T p + alpha |p|_1``. Each iteration, if the
    support already meets its optimality conditions, the zero coefficient
    violating ``|g_i| <= alpha`` most is activated with sign ``-sign(g_i)``;
    then the Newton step ``A_SS x = b_S - alpha theta_S`` (minimum-norm least
    squares: ``A_SS`` may be singular) is taken with a discrete line search
    over the points where a coefficient changes sign, which never increases
    the objective. Stops when the violation (``g = A p - b``, exact) is
    ``<= tol`` or after ``max_iter`` iterations.
    """
    n = b.shape[0]
    theta = np.sign(p)
    idx = np.empty(n, dtype=np.int64)
    _gradient(A, b, p, g)
    for it in range(max_iter):
        if _violation(g, p, alpha) <= tol:
            return
        worst_on = 0.0
        for i in range(n):
            if p[i] != 0.0:
                worst_on = max(worst_on, abs(g[i] + alpha * theta[i]))
        if worst_on <= tol:
            best, who = tol, -1
            for i in range(n):
                if p[i] == 0.0 and abs(g[i]) - alpha > best:
                    best, who = abs(g[i]) - alpha, i
            if who < 0:
                return
            theta[who] = -1.0 if g[who] > 0.0 else 1.0
        m = 0
        for i in range(n):
            if theta[i] != 0.0:
                idx[m] = i
                m += 1
        Ass = np.empty((m, m))
        rhs = np.empty(m)
        y0 = np.empty(m)
        for q in range(m):
            for r in range(m):
                Ass[q, r] = A[idx[q], idx[r]]
            rhs[q] = b[idx[q]] - alpha * theta[idx[q]]
            y0[q] = p[idx[q]]
        x = np.linalg.lstsq(Ass, rhs, 1e-13)[0]
        res = rhs - Ass @ x
        if np.sqrt(np.sum(res * res)) > 1e-10 * np.sqrt(np.sum(rhs * rhs)):
            # singular A_SS and rhs outside its range: the objective falls
            # linearly along res (A_SS res = 0, rhs^T res > 0) until a
            # coefficient reaches zero; step there (the support shrinks)
            t = np.inf
            for q in range(m):
                if y0[q] * res[q] < 0.0:
                    t = min(t, -y0[q] / res[q])
            if not np.isfinite(t):
                return                                   # unbounded direction: cannot happen for A PSD, b in range(A)
            x = y0 + t * res
            for q in range(m):
                if y0[q] * res[q] < 0.0 and -y0[q] / res[q] == t:
                    x[q] = 0.0
        best_y = x.copy()
        best_v = _lasso_value(A, b, x, idx, m, alpha)
        y = np.empty(m)
        for q in range(m):
            if y0[q] != 0.0 and y0[q] * x[q] <= 0.0:  # coefficient q reaches zero at t
                t = y0[q] / (y0[q] - x[q])
                for r in range(m):
                    y[r] = y0[r] + t * (x[r] - y0[r])
                y[q] = 0.0
                v = _lasso_value(A, b, y, idx, m, alpha)
                if v < best_v:
                    best_v = v
                    best_y[:] = y
        if best_v >= _lasso_value(A, b, y0, idx, m, alpha) and worst_on > tol:
            return                                       # no descent: rounding floor reached
        for q in range(m):
            p[idx[q]] = best_y[q]
            theta[idx[q]] = np.sign(best_y[q])
        _gradient(A, b, p, g)


@njit(parallel=True, cache=True, nogil=True)
def _lars_columns(A, BT, XsT, Ks, Kt, dk, lam, alphas, max_steps, piv_eps, tol_kkt, polish_iter,
                  P_out, R_out, obj_out, kkt_out, steps_out, polished_out, complete_out):
    """Run the LARS-lasso path of every column (one per prange iteration).

    For each requested ``alphas[k] = mu_k / 2`` and column ``j``: the
    re-generated target ``R_out[k, :, j] = Kt^T p_j``, the column's share of
    eq. (7) ``obj_out[k, j]``, and its KKT violation of eq. (7) divided by
    ``mu_k`` ``kkt_out[k, j]``. A column whose violation exceeds ``tol_kkt``
    is polished by :func:`_feature_sign_polish` (``polished_out[k, j]``). If
    ``P_out`` has ``d`` columns, ``P_out[:, j] = p_j(alphas[0])``. The
    gradient ``A p - b`` (the exact, independent KKT check), ``x_j - Ks^T p``
    and ``Kt^T p`` are summed over the nonzeros of ``p`` only, in increasing
    order; ``Kt^T p`` goes to a local buffer and is written to ``R_out`` once.
    """
    d, n = BT.shape
    K = alphas.shape[0]
    ns = XsT.shape[1]
    nt = Kt.shape[1]
    store_P = P_out.shape[1] == d
    for j in prange(d):
        b = BT[j]
        Pk = np.empty((K, n))
        steps, complete = _lasso_path(A, b, alphas, max_steps, piv_eps, Pk)
        steps_out[j] = steps
        complete_out[j] = complete
        g = np.empty(n)
        res = np.empty(ns)
        rk = np.empty(nt)
        idx = np.empty(n, dtype=np.int64)
        val = np.empty(n)
        for k in range(K):
            p = Pk[k]
            al = alphas[k]
            _gradient(A, b, p, g)
            viol = _violation(g, p, al)                   # eq. (7) gradient is 2 g, mu = 2 alpha
            if al > 0.0 and viol > tol_kkt * al and polish_iter > 0:
                _feature_sign_polish(A, b, p, al, tol_kkt * al, polish_iter, g)
                viol = _violation(g, p, al)
                polished_out[k, j] = True
            kkt_out[k, j] = viol / al if al > 0.0 else 2.0 * viol
            # eq. (7): ||x_j - Ks^T p||^2 + lam (dk^T p)^2 + mu ||p||_1, over the support of p
            m = _support(p, idx, val)
            l1, dp = 0.0, 0.0
            for q in range(m):
                l1 += abs(val[q])
                dp += dk[idx[q]] * val[q]
            for i in range(ns):
                res[i] = XsT[j, i]
            for i in range(nt):
                rk[i] = 0.0
            _add_rows(Kt, idx, val, m, rk)               # Kt^T p, in a local buffer
            for q in range(m):
                val[q] = -val[q]
            _add_rows(Ks, idx, val, m, res)              # x_j - Ks^T p
            for i in range(nt):
                R_out[k, i, j] = rk[i]
            rr = 0.0
            for i in range(ns):
                rr += res[i] * res[i]
            obj_out[k, j] = rr + lam * dp * dp + 2.0 * al * l1
            if store_P and k == 0:
                for q in range(n):
                    P_out[q, j] = p[q]


class ExactResult:
    """Output of :func:`solve_exact` for the requested mus (sorted decreasingly).

    Attributes: ``mus`` (K,), ``R`` (K, nt, d) re-generated targets
    ``R[k, :, j] = Kt^T p_j(mu_k)`` (so ``transform(Xt) = R[k]``), ``objective`` (K,)
    eq. (7), ``kkt`` (K,) max over columns of the KKT violation / mu,
    ``kkt_columns`` (K, d), ``n_polished`` (K,) columns that needed the
    polish, ``n_failed`` (K,) columns still above
    ``tol_kkt``, ``steps`` (d,) path breakpoints per column, ``P`` (n, d) at
    ``mus[0]`` when requested, else None.
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)


def solve_exact(problem, lam, mus, *, tol_kkt=1e-6, max_steps=2000, piv_eps=1e-12, polish_iter=1000,
                store_P=False):
    """Minimise eq. (7) for every mu in ``mus`` by the LARS-lasso homotopy (one path per column).

    Each column follows its exact regularisation path from ``alpha = max |b_j|``
    down to ``min(mus) / 2``; see :func:`_lasso_path`. Columns whose KKT
    violation at a requested mu exceeds ``tol_kkt * mu`` are polished by up to
    ``polish_iter`` iterations of active-set Newton with sign fixing
    (:func:`_feature_sign_polish`) from the path solution.
    """
    mus = np.unique(np.asarray(mus, dtype=np.float64))[::-1].copy()
    lam = float(lam)
    A = problem.Ks @ problem.Ks.T + lam * np.outer(problem.dk, problem.dk)
    A = np.ascontiguousarray(0.5 * (A + A.T))
    BT = np.ascontiguousarray(problem.B.T)
    XsT = np.ascontiguousarray(problem.Xs.T)
    d, n = BT.shape
    K = mus.shape[0]
    P = np.zeros((n, d)) if store_P else np.zeros((n, 0))
    R = np.zeros((K, problem.nt, d))
    obj = np.empty((K, d))
    kkt = np.empty((K, d))
    steps = np.empty(d, dtype=np.int64)
    polished = np.zeros((K, d), dtype=np.bool_)
    complete = np.zeros(d, dtype=np.bool_)
    _lars_columns(A, BT, XsT, problem.Ks, problem.Kt, problem.dk, lam, 0.5 * mus, max_steps, piv_eps,
                  tol_kkt, polish_iter, P, R, obj, kkt, steps, polished, complete)
    return ExactResult(mus=mus, R=R, objective=obj.sum(axis=1), kkt=kkt.max(axis=1), kkt_columns=kkt,
                       n_polished=polished.sum(axis=1), n_failed=(kkt > tol_kkt).sum(axis=1), steps=steps,
                       complete=complete, P=P if store_P else None)
