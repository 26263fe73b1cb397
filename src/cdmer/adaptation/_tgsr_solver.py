"""Numerical core of TGSR (Jiang et al., ICPR 2022): the ALM of the released code, batched.

Notation (the paper's and the released code's: samples as COLUMNS). With
``Xs`` (d x ns), one-hot ``Ls`` (c x ns) and ``delta = mean(Xs) - mean(Xt)``::

    Y = [Xs, sqrt(lambda) delta]   (d x m, m = ns + 1)          (stacked data)
    L = [Ls, 0]                    (c x m)
    min_C ||L - C^T Y||_F^2  s.t. C keeps the k largest groups (rows of C by region)

solved, exactly as ``ALM_ISLSR_fixednum.m`` does, by an ALM over ``C`` with
``B = C`` and the multiplier ``T`` (start ``B = ones``, ``T = 0``, ``mu = 1e-3``,
``rho = 1.1``, ``mu_max = 1e15``)::

    P = (2 Y Y^T / mu + I)^-1 (B + (2 Y L^T - T) / mu)                  (P step)
    W = P + T / mu
    B_g = W_g (||W_g|| - tau) / ||W_g||  if ||W_g|| > tau  else 0         (B step)
        tau = the (k+1)-th largest group norm ||W_g||_F (0 when k >= G)
    stop when max|P - B| < tol (C = B); else T += mu (P - B), mu = min(mu_max, rho mu).

Speed. The inverse is applied through the thin eigendecomposition of the
m x m matrix ``Y^T Y = V diag(s) V^T`` (Woodbury, exact, also for s = 0)::

    (I + (2/mu) Y Y^T)^-1 = I - Z diag(1 / (mu/2 + s)) Z^T,   Z = Y V,  Z^T Z = diag(s),

computed once per lambda and shared by every n_selected. Writing ``F = Y L^T
= Z phi`` (``phi = V^T L^T``), ``uB = Z^T B`` and ``uT = Z^T T`` (m x c), one
iteration is exactly::

    w  = 2 phi / mu - diag(1/(mu/2 + s)) (uB + (2 diag(s) phi - uT) / mu)
    W  = B + Z w,      P = W - T / mu                    (so P + T/mu = W)
    uT <- mu (uB + diag(s) w - Z^T B_new),   uB <- Z^T B_new

so each iteration costs two products with the d x m matrix ``Z`` (``Z w`` and
``Z^T B_new``); the group step, the stopping test and the update of ``T`` are
one fused numba pass (:func:`_group_step`). All the n_selected of one lambda
run side by side (they share mu's schedule), so the two products are single
matrix-matrix products with ``c x (number of running n_selected)`` columns.
Features are permuted so that every group is a contiguous block of rows.

That is the "direct" form (``solve_batch(method="direct")``). The default
"gram" form (:func:`_solve_batch_gram`, explained above :func:`_gram_norms_py`)
runs the same iteration on per-group coefficients: every iterate of group g
lies in span{1_g, Z_g}, so one product with the stacked group Gram matrices
``Z_g^T Z_g`` (G m x m, 11135 x 131 for the published features, against two
15045 x 131 products) per iteration gives the group norms and ``Z^T B``,
and the stopping test ``max|P - B| < tol`` stays exact (a Cauchy-Schwarz
bound clears most groups; the rest are expanded). Both forms give the same
iterates to rounding (tested, with the same iteration counts).
"""

import numpy as np
from numba import njit, prange


def _group_step_py(Wt, Bt, Tt, offsets, ks, c, mu, stop):
    """B step, stopping test and multiplier update for every run, in place.

    Arrays are stored TRANSPOSED, ``(c * q, d)``: run ``j`` owns the ``c``
    contiguous rows ``j*c .. j*c+c`` (``C^T`` of that run), so a group is a
    contiguous slice of every row. ``Wt`` holds ``(Z w)^T`` on entry and
    ``W^T = (B + Z w)^T = (P + T/mu)^T`` on return; run ``j`` keeps ``ks[j]`` groups. Writes the new ``B^T``
    into ``Bt``, ``(T + mu (P - B))^T`` into ``Tt`` and ``max|P - B|`` into ``stop[j]``.
    """
    G = offsets.shape[0] - 1
    q = ks.shape[0]
    inv = 1.0 / mu
    for j in prange(q):
        r0 = j * c
        norms = np.zeros(G)
        for r in range(r0, r0 + c):
            row = Wt[r]
            brow = Bt[r]
            for g in range(G):
                acc = 0.0
                for i in range(offsets[g], offsets[g + 1]):
                    v = row[i] + brow[i]                 # W = B + Z w (Wt holds (Z w)^T on entry)
                    row[i] = v
                    acc += v * v
                norms[g] += acc
        for g in range(G):
            norms[g] = np.sqrt(norms[g])               # ||W_g||_F over the group's rows and all classes
        k = ks[j]
        if k < G:
            tau = np.sort(norms)[G - 1 - k]            # the (k+1)-th largest group norm
        else:
            tau = 0.0
        scales = np.empty(G)
        for g in range(G):
            excess = norms[g] - tau
            scales[g] = excess / norms[g] if excess > 0.0 else 0.0
        m = 0.0
        for r in range(r0, r0 + c):
            wrow = Wt[r]
            brow = Bt[r]
            trow = Tt[r]
            for g in range(G):
                scale = scales[g]
                for i in range(offsets[g], offsets[g + 1]):
                    w = wrow[i]
                    b = w * scale
                    t = trow[i]
                    leq = (w - t * inv) - b              # P - B
                    a = abs(leq)
                    m = max(m, a)
                    brow[i] = b
                    trow[i] = t + mu * leq
        stop[j] = m


_group_step = njit(parallel=True, cache=True)(_group_step_py)
#: The same pass without threads (the default: see :func:`solve_batch`).
_group_step_serial = njit(cache=True)(_group_step_py)


class TGSRProblem:
    """The data of TGSR for one (Xs, ys, Xt, groups): everything that does not depend on lambda.

    ``Xs``, ``Xt`` are given with samples as ROWS and features already
    permuted so that group ``g`` is rows ``offsets[g]:offsets[g+1]`` of the
    d-dimensional vectors; ``Ls`` is the one-hot c x ns label matrix.
    """

    def __init__(self, Xs, Ls, Xt, offsets):
        self.XsT = np.ascontiguousarray(np.asarray(Xs, dtype=np.float64).T)      # d x ns
        self.Ls = np.asarray(Ls, dtype=np.float64)
        self.delta = Xs.mean(axis=0) - Xt.mean(axis=0)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.d, self.ns = self.XsT.shape
        self.c = self.Ls.shape[0]
        self._spectra = {}

    def spectrum(self, lam):
        """``(s, Z, phi, uB0)`` for lambda: ``Y^T Y = V diag(s) V^T``, ``Z = Y V``, ``phi = V^T L^T``."""
        lam = float(lam)
        if lam not in self._spectra:
            Y = np.empty((self.d, self.ns + 1))
            Y[:, :self.ns] = self.XsT
            Y[:, self.ns] = np.sqrt(lam) * self.delta                             # stacked data
            s, V = np.linalg.eigh(Y.T @ Y)
            s = np.maximum(s, 0.0)                                                # PSD; clip rounding noise
            Z = np.ascontiguousarray(Y @ V)
            LT = np.zeros((self.ns + 1, self.c))
            LT[:self.ns] = self.Ls.T                                              # L = [Ls, 0]
            phi = V.T @ LT
            uB0 = np.repeat(Z.sum(axis=0)[:, None], self.c, axis=1)              # Z^T ones(d, c)
            self._spectra = {lam: (s, Z, phi, uB0)}                               # keep one lambda only
        return self._spectra[lam]


def solve_batch(problem, lam, ks, *, tol=1e-8, mu0=1e-3, rho=1.1, mu_max=1e15, max_iter=1_000_000, threads=False,
                method="gram", rows=None):
    """Run the ALM for one lambda and every k in ``ks`` side by side.

    Yields ``(index, solution)`` for each run as it stops (``index`` into
    ``ks``; ``solution`` a :class:`Solution`: ``coef()`` is C, d x c in the
    problem's permuted feature order, ``decision()`` is ``rows C`` for
    ``rows`` (n x d, permuted order) if given, computed from the group
    coefficients without forming C). A run that reaches ``max_iter`` is
    yielded with ``converged=False`` and the B of its last iteration.

    ``threads=False`` (default) runs on ONE core: BLAS is limited to one
    thread and the group pass is serial. The products here have few columns
    (3 per run) and OpenBLAS's threaded kernels for such shapes are slow,
    and pathological on a loaded machine (measured: ``(3 x 15045) @ (15045 x
    131)`` 1.15 s with 2 threads vs 7 ms with one); parallelise over lambdas
    (processes) instead. ``threads=True`` keeps the caller's BLAS threads and
    threads the group pass (numba) when 4 or more runs are active.

    ``method="gram"`` (default) runs the same iteration in the group-Gram
    form (see the comment above :func:`_gram_norms_py`): one product with the
    stacked group Gram matrices per iteration instead of two with ``Z``,
    and no d x c pass except where the stopping test needs it;
    ``method="direct"`` is the form of the module docstring (kept as the
    reference the benchmark compares against). Both give the same
    iterates to rounding.
    """
    if method not in ("gram", "direct"):
        raise ValueError(f"solve_batch: method must be 'gram' or 'direct', got {method!r}")
    from threadpoolctl import threadpool_limits

    solver = _solve_batch_gram if method == "gram" else _solve_batch
    args = (problem, lam, ks, tol, mu0, rho, mu_max, max_iter, bool(threads), rows)
    if threads:
        yield from solver(*args)
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield from solver(*args)


def _solve_batch(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, threads, rows):
    s, Z, phi, uB0 = problem.spectrum(lam)
    ZT = np.ascontiguousarray(Z.T)                        # m x d
    d, c = problem.d, problem.c
    ks = np.asarray(ks, dtype=np.int64)
    q = ks.shape[0]
    active = np.arange(q)
    # transposed storage: rows j*c .. j*c+c are B^T, T^T of run j
    Bt = np.ones((c * q, d))
    Tt = np.zeros((c * q, d))
    uBt = np.tile(uB0.T, (q, 1))                          # (Z^T B)^T, (c q) x m
    uTt = np.zeros_like(uBt)
    phit = np.tile(phi.T, (q, 1))
    sphit = phit * s[None, :]
    stop = np.empty(q)
    mu = float(mu0)
    for it in range(1, max_iter + 1):
        g = 1.0 / (0.5 * mu + s)
        wt = (2.0 / mu) * phit - (uBt + (2.0 * sphit - uTt) / mu) * g[None, :]
        Wt = wt @ ZT                                      # (Z w)^T; the group pass adds B: W = P + T/mu
        zw = uBt + wt * s[None, :]                        # (Z^T W)^T
        step = _group_step if threads and active.shape[0] >= 4 else _group_step_serial
        step(Wt, Bt, Tt, problem.offsets, ks[active], c, mu, stop)
        done = stop[:active.shape[0]] < tol
        if it == max_iter:
            done[:] = True
        if done.any():
            for j in np.flatnonzero(done):
                yield int(active[j]), Solution(it, bool(stop[j] < tol), problem.offsets,
                                              coef=Bt[j * c:(j + 1) * c].T.copy(), rows=rows)
            keep = np.flatnonzero(~done)
            if keep.size == 0:
                return
            kept = (keep[:, None] * c + np.arange(c)[None, :]).ravel()
            active = active[keep]
            Bt = np.ascontiguousarray(Bt[kept])
            Tt = np.ascontiguousarray(Tt[kept])
            zw = zw[kept]
            phit = phit[kept]
            sphit = sphit[kept]
        uB_new = Bt @ Z
        uTt = mu * (zw - uB_new)                          # Z^T T_new = mu (Z^T W - Z^T B_new)
        uBt = uB_new
        mu = min(mu_max, rho * mu)


# ---------------------------------------------------------------------------------------------------------------
# Group-Gram form (the default of solve_batch): the same iteration, never forming a d x c matrix per step.
#
# Every iterate of group g lies in span{1_g, Z_g} (Z_g: the rows of Z in group g; B starts at ones, and each
# step adds Z w and rescales the group), so it is carried by coefficients: W_g = 1_g a_g^T + Z_g H_g (a_g: c,
# H_g: m x c), with ||W_g||_F^2 and, while the group is kept, vW_g = Z_g^T W_g (m x c). With B_g = s_g W_g
# (s_g the group's shrink factor) and T_g = mu (W_g - B_g) (the T update of the released code, since
# P = W - T/mu), one iteration is, with G_g = Z_g^T Z_g and the previous factor s_g:
#
#     H_g <- s_g H_g + w,   a_g <- s_g a_g
#     ||W_g||^2 <- s_g^2 ||W_g||^2 + 2 s_g <vW_g, w> + sum_cols w^T G_g w                           (norms)
#     vW_g <- s_g vW_g + G_g w          only where the NEW factor s_g' > 0                          (kept)
#     Z^T B = sum_g s_g' vW_g,   Z^T W = Z^T B_prev + diag(s) w,   Z^T T = mu (Z^T W - Z^T B)
#
# Costs per (run, group): the quadratic forms sum_cols w^T G_g w of ALL groups are one product of the packed
# upper triangles of the G_g with those of w w^T (m (m + 1) / 2 per pair, :func:`_pack_quad_py`), and the
# products G_g w (m^2 c) are needed only for the groups the run keeps: a third of the pairs on the authors'
# grid, iteration-weighted (a group dropped at one step has B_g = 0, so its next W_g is Z_g w and its old vW_g
# is never read). Measured in docs/new-methods.md.
#
# The stopping test max|P - B| < tol is exact. Cheap necessary condition first: Z^T (P - B) = Z^T W - Z^T T/mu
# - Z^T B is known, and |(Z^T x)_i| <= ||Z[:, i]||_1 max|x|, so a run with max_i |(Z^T (P - B))_i| /
# ||Z[:, i]||_1 > 2 tol (after a rounding allowance of 1e-10 of the terms) cannot have converged and skips the
# test (about 85% of the run-iterations). Otherwise P_g - B_g = 1_g alpha_g^T + Z_g beta_g with alpha_g =
# (1 - s_g') a_g - t_g a_g_prev, beta_g = (1 - s_g') H_g - t_g H_g_prev (t_g = T/mu's factor), computed in
# coefficients; a group whose bound |alpha| + min(max_i ||Z_g[i]|| ||beta||, sum_i max_r |Z_g[r, i]| |beta_i|)
# is below tol is cleared, the others are expanded (Z_g beta, largest bound first, stopping at the first
# entry >= tol).
#
# Storage is run-major: column ``col = j c + cc`` is class ``cc`` of run ``j``; per-column arrays are
# (c q, G, m) (``vW``: (G, c q, m), so that a group's block is contiguous), the inner loops run over m
# contiguous values, and a finished run is removed by moving the last run into its slot (no copy of the
# whole state). Sums inside the kernels may be reassociated (``fastmath``: vectorised reductions); every
# other operation is as written.
# ---------------------------------------------------------------------------------------------------------------

_FAST = {"reassoc", "nsz", "contract"}
#: Iterations of w history kept per run before every run's H is materialised (memory: _HISTORY x 3 q x m).
_HISTORY = 160


def _pack_quad_py(w, c, q, out):
    """Row j of ``out``: the upper triangle of ``sum_cc w_col w_col^T`` (cols of run j), off-diagonals doubled."""
    m = w.shape[1]
    for j in prange(q):
        tmp = np.empty(m)
        p = 0
        for a in range(m):
            n = m - a
            for b in range(n):
                tmp[b] = 0.0
            for cc in range(c):
                wr = w[j * c + cc, a:]
                wa = 2.0 * wr[0]
                for b in range(n):
                    tmp[b] += wa * wr[b]
            tmp[0] *= 0.5
            out[j, p:p + n] = tmp[:n]
            p += n


def _pstep_py(phic, sphi, uB, uT, s, mu, w, zs):
    """The P step in Z coordinates, ``w``, and ``zs = Z^T W = Z^T B + diag(s) w`` (see the comment above)."""
    n, m = w.shape
    for col in prange(n):
        for i in range(m):
            gi = 1.0 / (0.5 * mu + s[i])
            v = (2.0 / mu) * phic[col, i] - (uB[col, i] + (2.0 * sphi[col, i] - uT[col, i]) / mu) * gi
            w[col, i] = v
            zs[col, i] = uB[col, i] + v * s[i]


def _residual_py(zs, uT, uB, mu, zl1, c, tol, test):
    """``test[j]``: whether run j may have converged (see the comment above); then ``uT <- Z^T T_new``."""
    q = test.shape[0]
    m = zs.shape[1]
    for j in prange(q):
        lower = 0.0
        for col in range(j * c, j * c + c):
            for i in range(m):
                t = uT[col, i] / mu
                r = abs(zs[col, i] - t - uB[col, i]) - 1e-10 * (abs(zs[col, i]) + abs(t) + abs(uB[col, i]))
                lower = max(lower, r / zl1[i])
                uT[col, i] = mu * (zs[col, i] - uB[col, i])            # Z^T T_new = mu (Z^T W - Z^T B)
        test[j] = not lower > 2.0 * tol


def _gram_norms_py(quad, w, vW, nW2, sp, ks, c, s_new):
    """||W_g||_F^2 of every (run, group) after adding Z w, then tau and the new shrink factors.

    ``quad`` (q, G): ``sum_cols w^T G_g w``; ``vW`` (G, c q, m), read where the previous factor ``sp`` > 0;
    ``nW2`` (in: ||W_prev_g||^2, out: ||W_g||^2), ``s_new`` (out): (q, G). Group g becomes W_g (||W_g|| -
    tau) / ||W_g|| if ||W_g|| > tau, else 0, with tau the (k+1)-th largest norm (0 when k >= G).
    """
    q, Gn = nW2.shape
    m = w.shape[1]
    for g in prange(Gn):                                     # group-major: vW[g] is one contiguous block
        for j in range(q):
            s0 = sp[j, g]
            v = quad[j, g]
            if s0 > 0.0:
                cross = 0.0
                for cc in range(c):
                    col = j * c + cc
                    for i in range(m):
                        cross += vW[g, col, i] * w[col, i]
                v += s0 * s0 * nW2[j, g] + 2.0 * s0 * cross
            nW2[j, g] = max(v, 0.0)
    for j in prange(q):
        norms = np.sqrt(nW2[j])
        k = ks[j]
        tau = np.sort(norms)[Gn - 1 - k] if k < Gn else 0.0      # the (k+1)-th largest group norm
        for g in range(Gn):
            excess = norms[g] - tau
            s_new[j, g] = excess / norms[g] if excess > 0.0 else 0.0


@njit(cache=True)
def _gram_kept(Gstack, w, vW, sp, s_new, c, uB, buf, out):
    """``vW_g <- sp vW_g + G_g w`` for the kept (run, group) pairs, one BLAS product per group; ``uB = Z^T B_new``."""
    q, Gn = s_new.shape
    m = w.shape[1]
    for col in range(q * c):
        for i in range(m):
            uB[col, i] = 0.0
    for g in range(Gn):
        n = 0
        for j in range(q):
            if s_new[j, g] > 0.0:
                for cc in range(c):
                    buf[n] = w[j * c + cc]
                    n += 1
        if n == 0:
            continue
        o = out[:n]
        np.dot(buf[:n], Gstack[g], o)
        r = 0
        for j in range(q):
            sn = s_new[j, g]
            if sn > 0.0:
                s0 = sp[j, g]
                for cc in range(c):
                    col = j * c + cc
                    if s0 > 0.0:
                        for i in range(m):
                            v = o[r, i] + s0 * vW[g, col, i]
                            vW[g, col, i] = v
                            uB[col, i] += sn * v
                    else:
                        for i in range(m):
                            v = o[r, i]
                            vW[g, col, i] = v
                            uB[col, i] += sn * v
                    r += 1


def _gram_update_py(w, H, Hn, aW, sp, s_new, tf, c, test, eager, cmax, zbar, sizes, alpha, bn2, l1b, mean):
    """Advance the coefficients ``H <- sp H + w``, ``aW <- sp aW``; for runs to be tested, the P - B coefficients.

    Runs with ``eager[j]`` False keep no H (their w history stands for it, see :func:`_gram_materialise`);
    other runs with ``test[j]`` False are updated in place. For the others the new H goes to ``Hn`` (the test needs
    both), with ``alpha`` (c q, G), ``bn2`` = ||beta_g||^2, ``l1b`` = sum_i cmax[g, i] |beta_i| and ``mean``,
    the size of the mean of the group's column of P - B (``(n_g alpha + zbar_g . beta) / n_g``, less a
    rounding allowance), per column; ``beta = (1 - s_new) Hn - tf H``.
    """
    cq, Gn, m = H.shape
    for col in prange(cq):
        j = col // c
        if not test[j]:
            for g in range(Gn):
                s0 = sp[j, g]
                aW[col, g] *= s0
                if eager[j]:
                    for i in range(m):
                        H[col, g, i] = s0 * H[col, g, i] + w[col, i]
            continue
        for g in range(Gn):
            s0 = sp[j, g]
            s1 = 1.0 - s_new[j, g]
            t = tf[j, g]
            ap = aW[col, g]
            an = s0 * ap
            aW[col, g] = an
            alpha[col, g] = s1 * an - t * ap
            bn = 0.0
            l1 = 0.0
            zb = 0.0
            za = 0.0
            for i in range(m):
                hp = H[col, g, i]
                hn = s0 * hp + w[col, i]
                Hn[col, g, i] = hn
                b = s1 * hn - t * hp
                bn += b * b
                l1 += cmax[g, i] * abs(b)
                zb += zbar[g, i] * b
                za += abs(zbar[g, i] * b)
            bn2[col, g] = bn
            l1b[col, g] = l1
            a0 = sizes[g] * alpha[col, g]
            mean[col, g] = (abs(a0 + zb) - 1e-10 * (abs(a0) + za)) / sizes[g] if sizes[g] > 0 else 0.0


def _gram_stop_py(Z, offsets, rmax, H, Hn, s_new, tf, alpha, bn2, l1b, mean, c, tol, test, done):
    """Exact test max|P - B| < tol (``done[j]``) for the runs with ``test[j]``; then ``H <- Hn`` for them.

    P_g - B_g = 1 alpha_g^T + Z_g beta_g. A column whose mean over the group is >= tol (``mean``) has an entry
    >= tol. Every entry is at most |alpha| + min(max_i ||Z_g[i]|| ||beta||, sum_i max_r |Z_g[r, i]| |beta_i|)
    in size, so groups below tol by that bound are cleared; the others are expanded, largest bound first,
    until an entry >= tol is found.
    """
    q, Gn = s_new.shape
    m = Z.shape[1]
    for j in prange(q):
        if not test[j]:
            done[j] = False
            continue
        ub = np.zeros(Gn)
        ok = True
        for g in range(Gn):
            for col in range(j * c, j * c + c):
                u = abs(alpha[col, g]) + min(rmax[g] * np.sqrt(bn2[col, g]), l1b[col, g])
                ub[g] = max(ub[g], u)
                if mean[col, g] >= tol:
                    ok = False                                  # an entry of this column is >= tol
        order = np.argsort(-ub)
        beta = np.empty((c, m))
        for oi in range(Gn if ok else 0):
            g = order[oi]
            if ub[g] * (1.0 + 1e-12) < tol:
                break                                           # this and all later groups are cleared
            s1 = 1.0 - s_new[j, g]
            t = tf[j, g]
            for cc in range(c):
                col = j * c + cc
                for i in range(m):
                    beta[cc, i] = s1 * Hn[col, g, i] - t * H[col, g, i]
            for r in range(offsets[g], offsets[g + 1]):
                for cc in range(c):
                    x = alpha[j * c + cc, g]
                    for i in range(m):
                        x += Z[r, i] * beta[cc, i]
                    if abs(x) >= tol:
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        done[j] = ok
        for col in range(j * c, j * c + c):
            for g in range(Gn):
                for i in range(m):
                    H[col, g, i] = Hn[col, g, i]


@njit(cache=True)
def _gram_record(hw, hs, ids, w, s_new, c):
    """History of one iteration: ``hw`` rows ``rid c .. rid c + c`` <- w of run ``rid``, ``hs[rid]`` <- its factors."""
    for j in range(ids.shape[0]):
        rid = ids[j]
        for cc in range(c):
            hw[rid * c + cc] = w[j * c + cc]
        hs[rid] = s_new[j]


@njit(cache=True, fastmath=_FAST)                           # the update kernel's flags: the same arithmetic
def _gram_materialise(hist_w, hist_s, t, rid, c, Hj):
    """``Hj`` (c, G, m) <- H after ``t`` iterations of run ``rid``, replayed from its history.

    ``hist_w[tau - 1]`` holds w of iteration tau (rows ``rid c .. rid c + c``), ``hist_s[tau - 1]`` the
    factors s' of iteration tau; the recursion ``H <- s H + w`` (H = 0 at the start) is replayed in the
    same order and arithmetic as the eager update, so the result is the same to the bit.
    """
    Gn, m = Hj.shape[1], Hj.shape[2]
    for cc in range(c):
        col = rid * c + cc
        for g in range(Gn):
            for i in range(m):
                Hj[cc, g, i] = 0.0
            for tau in range(1, t + 1):
                s0 = hist_s[tau - 2, rid, g] if tau >= 2 else 1.0
                for i in range(m):
                    Hj[cc, g, i] = s0 * Hj[cc, g, i] + hist_w[tau - 1, col, i]


@njit(cache=True, fastmath=_FAST)
def _gram_coef(Z, offsets, H, aW, sp, C):
    """``C`` (d x c) of one run from its coefficients: group g is ``sp_g (1 aW_g^T + Z_g H_g)``."""
    c, Gn, m = H.shape
    for g in range(Gn):
        for r in range(offsets[g], offsets[g + 1]):
            for cc in range(c):
                acc = 0.0
                for i in range(m):
                    acc += Z[r, i] * H[cc, g, i]
                C[r, cc] = sp[g] * (aW[cc, g] + acc)


_gram_kernels = {
    threads: (njit(parallel=threads, cache=True, fastmath=_FAST)(_pack_quad_py),
              njit(parallel=threads, cache=True)(_pstep_py),
              njit(parallel=threads, cache=True)(_residual_py),
              njit(parallel=threads, cache=True, fastmath=_FAST)(_gram_norms_py),
              njit(parallel=threads, cache=True, fastmath=_FAST)(_gram_update_py),
              njit(parallel=threads, cache=True, fastmath=_FAST)(_gram_stop_py))
    for threads in (False, True)}


class Solution:
    """One run of :func:`solve_batch`: ``n_iter``, ``converged``, ``coef()`` (d x c, C in the problem's
    permuted feature order), ``decision()`` (``rows C`` for the ``rows`` given to solve_batch) and
    ``selected()`` (the groups whose rows of C are not all zero)."""

    def __init__(self, n_iter, converged, offsets, coef=None, parts=None, rows=None):
        self.n_iter, self.converged, self._offsets = n_iter, converged, offsets
        self._coef, self._parts, self._rows = coef, parts, rows

    def coef(self):
        if self._coef is None:
            Z, offsets, H, aW, sp = self._parts
            self._coef = np.empty((Z.shape[0], H.shape[0]))
            _gram_coef(Z, offsets, H, aW, sp, self._coef)
        return self._coef

    def decision(self):
        if self._rows is None:
            raise ValueError("Solution.decision: solve_batch was called without rows")
        if self._parts is None:
            return self._rows @ self._coef
        _, _, H, aW, sp = self._parts
        XZ, X1 = self._rows                                   # (G, n, m) blocks X_g Z_g; (n, G) X_g 1
        out = X1 @ (aW * sp[None, :]).T                       # sum_g sp_g (X_g 1 a_g^T + X_g Z_g H_g),
        for g in np.flatnonzero(sp > 0.0):                    # over the kept groups only
            out += XZ[g] @ (sp[g] * H[:, g]).T
        return out

    def selected(self):
        if self._parts is None:
            C = self._coef
            return np.flatnonzero([np.any(C[a:b]) for a, b in zip(self._offsets[:-1], self._offsets[1:])])
        _, _, H, aW, sp = self._parts
        nonzero = (np.abs(H).max(axis=(0, 2)) > 0) | (np.abs(aW).max(axis=0) > 0)
        return np.flatnonzero((sp > 0) & nonzero)


class _GramData:
    """Per-lambda group data: the Gram matrices ``Gstack`` (G, m, m), their packed upper triangles ``GpackT``
    (m (m + 1) / 2, G), ``Z_g^T 1``, sizes, the largest row norm and column maxima of every Z_g, and the
    column L1 norms of Z."""

    def __init__(self, Z, offsets):
        Gn = offsets.shape[0] - 1
        m = Z.shape[1]
        self.Gstack = np.empty((Gn, m, m))
        self.zbar = np.empty((Gn, m))
        self.rmax = np.zeros(Gn)
        self.cmax = np.zeros((Gn, m))
        for g in range(Gn):
            Zg = Z[offsets[g]:offsets[g + 1]]
            self.Gstack[g] = Zg.T @ Zg
            self.zbar[g] = Zg.sum(axis=0)
            if Zg.shape[0]:
                self.rmax[g] = np.sqrt((Zg * Zg).sum(axis=1).max())
                self.cmax[g] = np.abs(Zg).max(axis=0)
        iu, ju = np.triu_indices(m)
        self.GpackT = np.ascontiguousarray(self.Gstack[:, iu, ju].T)
        self.sizes = np.diff(offsets).astype(np.float64)
        self.zl1 = np.abs(Z).sum(axis=0)


def _solve_batch_gram(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, threads, rows):
    s, Z, phi, _ = problem.spectrum(lam)
    key = float(lam)
    if getattr(problem, "_gram_key", None) != key:
        problem._gram, problem._gram_key = _GramData(Z, problem.offsets), key
    gd = problem._gram
    pack_k, pstep_k, residual_k, norms_k, update_k, stop_k = _gram_kernels[bool(threads)]
    offsets = problem.offsets
    c = problem.c
    Gn, m = gd.zbar.shape
    ks_all = np.asarray(ks, dtype=np.int64)
    q = ks_all.shape[0]
    active = np.arange(q)
    ks_act = ks_all.copy()
    cq = c * q
    # start: B = ones (a = 1, H = 0, previous factor 1), T = 0 (T/mu factor 0)
    aW = np.ones((cq, Gn))
    H = np.zeros((cq, Gn, m))
    Hn = np.empty_like(H)
    vW = np.empty((Gn, cq, m))                                                # group-major
    vW[:] = gd.zbar[:, None]                                                  # Z_g^T ones
    nW2 = np.repeat((gd.sizes * c)[None, :], q, axis=0)                       # ||ones_g||^2 over c columns
    sp = np.ones((q, Gn))
    tf = np.zeros((q, Gn))
    s_new = np.empty((q, Gn))
    uB = np.repeat(gd.zbar.sum(axis=0)[None, :], cq, axis=0)                 # Z^T B, (c q, m)
    uT = np.zeros((cq, m))
    phic = np.ascontiguousarray(np.tile(phi.T, (q, 1)))                       # (c q, m)
    sphi = phic * s[None, :]
    alpha = np.empty((cq, Gn))
    bn2 = np.empty((cq, Gn))
    l1b = np.empty((cq, Gn))
    mean = np.empty((cq, Gn))
    w = np.empty((cq, m))
    zs = np.empty((cq, m))
    test = np.empty(q, dtype=np.bool_)
    packed = np.empty((q, gd.GpackT.shape[0]))
    buf = np.empty((cq, m))
    out = np.empty((cq, m))
    done = np.zeros(q, dtype=np.bool_)
    # H is kept only for runs that reach the stopping test (eager); until then a run's w and factors are
    # recorded and its H is replayed from them when first needed (all runs at iteration hist_cap)
    eager = np.zeros(q, dtype=np.bool_)
    hist_cap = int(min(max_iter, _HISTORY))
    hist_w = np.empty((hist_cap, cq, m))
    hist_s = np.empty((hist_cap, q, Gn))
    if rows is not None:
        rows = np.asarray(rows, dtype=np.float64)
        XZ = np.empty((Gn, rows.shape[0], m))
        X1 = np.empty((rows.shape[0], Gn))
        for g in range(Gn):
            Xg = rows[:, offsets[g]:offsets[g + 1]]
            XZ[g] = Xg @ Z[offsets[g]:offsets[g + 1]]
            X1[:, g] = Xg.sum(axis=1)
        rows = (XZ, X1)
    mu = float(mu0)
    for it in range(1, max_iter + 1):
        n = c * q
        pstep_k(phic[:n], sphi[:n], uB[:n], uT[:n], s, mu, w[:n], zs[:n])          # P step (Z coordinates)
        pack_k(w[:n], c, q, packed)
        quad = np.dot(packed[:q], gd.GpackT)                                        # sum_cols w^T G_g w, (q, G)
        norms_k(quad, w[:n], vW[:, :n], nW2[:q], sp[:q], ks_act[:q], c, s_new[:q])
        _gram_kept(gd.Gstack, w[:n], vW[:, :n], sp[:q], s_new[:q], c, uB[:n], buf, out)
        residual_k(zs[:n], uT[:n], uB[:n], mu, gd.zl1, c, tol, test[:q])      # also uT <- Z^T T_new
        if it == max_iter:
            test[:] = True
        if it <= hist_cap:
            _gram_record(hist_w[it - 1], hist_s[it - 1], active[:q], w[:n], s_new[:q], c)
        for j in np.flatnonzero(~eager[:q] & (test[:q] | (it >= hist_cap))):
            _gram_materialise(hist_w, hist_s, it - 1, active[j], c, H[j * c:(j + 1) * c])
            eager[j] = True
        update_k(w[:n], H[:n], Hn[:n], aW[:n], sp[:q], s_new[:q], tf[:q], c, test[:q], eager[:q], gd.cmax, gd.zbar,
                 gd.sizes, alpha[:n], bn2[:n], l1b[:n], mean[:n])
        stop_k(Z, offsets, gd.rmax, H[:n], Hn[:n], s_new[:q], tf[:q], alpha[:n], bn2[:n], l1b[:n], mean[:n], c, tol,
               test[:q], done[:q])
        mu_next = min(mu_max, rho * mu)
        sp[:q] = s_new[:q]
        tf[:q] = (mu / mu_next) * (1.0 - s_new[:q])
        fin = done[:q].copy()
        if it == max_iter:
            fin[:] = True
        for j in np.flatnonzero(fin)[::-1]:                                    # descending: swaps stay valid
            parts = (Z, offsets, H[j * c:(j + 1) * c].copy(), aW[j * c:(j + 1) * c].copy(), sp[j].copy())
            yield int(active[j]), Solution(it, bool(done[j]), offsets, parts=parts, rows=rows)
            last = q - 1
            if j != last:                                                     # move the last run into slot j
                dst, src = slice(j * c, (j + 1) * c), slice(last * c, (last + 1) * c)
                for arr in (aW, H, uB, uT, phic, sphi):
                    arr[dst] = arr[src]
                vW[:, dst] = vW[:, src]
                for arr in (nW2, sp, tf, ks_act, active, eager):
                    arr[j] = arr[last]
            q -= 1
        if q == 0:
            return
        mu = mu_next
