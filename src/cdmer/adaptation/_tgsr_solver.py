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
    ``W^T = (B + Z w)^T = (P + T/mu)^T`` on return; run ``j`` keeps ``ks[j]`` groups. Writes the new ``B^T`` into ``Bt``, ``(T + mu (P -
    B))^T`` into ``Tt`` and ``max|P - B|`` into ``stop[j]``.
    """
    G = offsets.shape[0] - 1
    q = ks.shape[0]
    inv = 1.0 / mu
    for j in prange(q):
        r0 = j * c
        norms = np.zeros(G)
        for l in range(r0, r0 + c):
            row = Wt[l]
            brow = Bt[l]
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
        for l in range(r0, r0 + c):
            wrow = Wt[l]
            brow = Bt[l]
            trow = Tt[l]
            for g in range(G):
                scale = scales[g]
                for i in range(offsets[g], offsets[g + 1]):
                    w = wrow[i]
                    b = w * scale
                    t = trow[i]
                    leq = (w - t * inv) - b              # P - B
                    a = abs(leq)
                    if a > m:
                        m = a
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
                method="gram"):
    """Run the ALM for one lambda and every k in ``ks`` side by side.

    Yields ``(index, C, n_iter, converged)`` for each run as it stops
    (``index`` into ``ks``; ``C`` is d x c in the problem's permuted feature
    order). A run that reaches ``max_iter`` is yielded with ``converged=False``
    and the B of its last iteration.

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
    if method == "gram":
        from threadpoolctl import threadpool_limits

        if threads:
            yield from _solve_batch_gram(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, True)
            return
        with threadpool_limits(limits=1, user_api="blas"):
            yield from _solve_batch_gram(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, False)
        return
    if threads:
        yield from _solve_batch(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, True)
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield from _solve_batch(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, False)


def _solve_batch(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, threads):
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
                yield int(active[j]), Bt[j * c:(j + 1) * c].T.copy(), it, bool(stop[j] < tol)
            keep = np.flatnonzero(~done)
            if keep.size == 0:
                return
            rows = (keep[:, None] * c + np.arange(c)[None, :]).ravel()
            active = active[keep]
            Bt = np.ascontiguousarray(Bt[rows])
            Tt = np.ascontiguousarray(Tt[rows])
            zw = zw[rows]
            phit = phit[rows]
            sphit = sphit[rows]
        uB_new = Bt @ Z
        uTt = mu * (zw - uB_new)                          # Z^T T_new = mu (Z^T W - Z^T B_new)
        uBt = uB_new
        mu = min(mu_max, rho * mu)


# ---------------------------------------------------------------------------------------------------------------
# Group-Gram form (the default of solve_batch): the same iteration, never forming a d x c matrix per step.
#
# Every iterate of group g lies in span{1_g, Z_g} (Z_g: the rows of Z in group g; B starts at ones, and each
# step adds Z w and rescales the group), so it is carried by coefficients: W_g = 1_g a_g^T + Z_g H_g (a_g: c,
# H_g: m x c), together with vW_g = Z_g^T W_g (m x c) and ||W_g||_F^2. With B_g = s_g W_g (s_g the group's
# shrink factor) and T_g = mu (W_g - B_g) = mu (1 - s_g) W_g (the T update of the released code, since
# P = W - T/mu), one iteration needs only Gw_g = G_g w with the group Gram matrices G_g = Z_g^T Z_g:
#
#     H_g <- s_g H_g + w,   a_g <- s_g a_g,   vW_g <- s_g vW_g + Gw_g
#     ||W_g||^2 <- s_g^2 ||W_g||^2 + 2 <s_g vW_g, w> + <w, Gw_g>
#     Z^T B = sum_g s_g' vW_g,   Z^T T = mu sum_g (1 - s_g') vW_g     (s_g' the new factors)
#
# i.e. ONE product (sum_g m x m) x (c q) per iteration instead of two d x m x (c q) ones (d = 15045 ->
# 85 x 131 = 11135 rows for one of two products). The stopping test max|P - B| < tol is exact: P - B =
# 1_g alpha_g^T + Z_g beta_g with alpha_g = (1 - s_g') a_g - t_g a_g_prev, beta_g = (1 - s_g') H_g -
# t_g H_g_prev (t_g = T/mu's factor), computed in coefficients; a group whose bound |alpha| + max_i ||Z_g[i]||
# ||beta_g[:, col]|| is below tol needs nothing more, the others are expanded row by row (largest bound first,
# stopping at the first entry >= tol).
#
# Storage is run-major: column ``col = j c + cc`` is class ``cc`` of run ``j``; per-column arrays are
# (c q, G, m) so the inner loops run over m contiguous values, and a finished run is removed by moving the
# last run into its slot (no copy of the whole state).
# ---------------------------------------------------------------------------------------------------------------


def _gram_norms_py(Gw, w, vW, nW2, sp, ks, c, s_new):
    """||W_g||_F^2 of every (run, group) after adding Z w, then tau and the new shrink factors.

    ``Gw``, ``vW``: (c q, G, m); ``w``: (c q, m); ``nW2`` (in: ||W_prev_g||^2, out: ||W_g||^2), ``sp`` (the
    previous factors), ``s_new`` (out): (q, G). Group g becomes W_g (||W_g|| - tau) / ||W_g|| if ||W_g|| > tau,
    else 0, with tau the (k+1)-th largest norm (0 when k >= G).
    """
    q, Gn = nW2.shape
    m = w.shape[1]
    for j in prange(q):
        acc = np.zeros(Gn)
        for cc in range(c):
            col = j * c + cc
            for g in range(Gn):
                s0 = 2.0 * sp[j, g]
                a = 0.0
                for i in range(m):
                    a += w[col, i] * (s0 * vW[col, g, i] + Gw[col, g, i])
                acc[g] += a
        norms = np.empty(Gn)
        for g in range(Gn):
            nW2[j, g] = max(sp[j, g] * sp[j, g] * nW2[j, g] + acc[g], 0.0)
            norms[g] = np.sqrt(nW2[j, g])
        k = ks[j]
        tau = np.sort(norms)[Gn - 1 - k] if k < Gn else 0.0      # the (k+1)-th largest group norm
        for g in range(Gn):
            excess = norms[g] - tau
            s_new[j, g] = excess / norms[g] if excess > 0.0 else 0.0


def _gram_update_py(Gw, w, vW, H, Hn, aW, sp, s_new, tf, c, uB, zs, alpha, bn2):
    """Advance the coefficients one step; accumulate Z^T B, Z^T W and the P - B coefficients.

    ``Hn = sp H + w``, ``vW <- sp vW + Gw``, ``aW <- sp aW``; ``uB = sum_g s_new vW`` and ``zs = sum_g vW``
    (c q, m); ``alpha`` (c q, G) and ``bn2`` = ||beta_g||^2 per column, ``beta = (1 - s_new) Hn - tf H``.
    """
    cq, Gn, m = Gw.shape
    for col in prange(cq):
        j = col // c
        for i in range(m):
            uB[col, i] = 0.0
            zs[col, i] = 0.0
        for g in range(Gn):
            s0 = sp[j, g]
            s1 = 1.0 - s_new[j, g]
            t = tf[j, g]
            sn = s_new[j, g]
            ap = aW[col, g]
            an = s0 * ap
            aW[col, g] = an
            alpha[col, g] = s1 * an - t * ap
            bn = 0.0
            for i in range(m):
                hp = H[col, g, i]
                hn = s0 * hp + w[col, i]
                Hn[col, g, i] = hn
                b = s1 * hn - t * hp
                bn += b * b
                v = s0 * vW[col, g, i] + Gw[col, g, i]
                vW[col, g, i] = v
                uB[col, i] += sn * v
                zs[col, i] += v
            bn2[col, g] = bn


def _gram_stop_py(Z, offsets, rmax, H, Hn, s_new, tf, alpha, bn2, c, tol, done):
    """Exact test max|P - B| < tol for every run (``done[j]``), expanding only the groups the bound cannot clear.

    P_g - B_g = 1 alpha_g^T + Z_g beta_g; every entry is at most |alpha| + max_i ||Z_g[i]|| ||beta_g|| in size
    (Cauchy-Schwarz), so groups below tol by that bound are cleared; the others are expanded, largest bound
    first, until an entry >= tol is found.
    """
    q, Gn = s_new.shape
    m = Z.shape[1]
    for j in prange(q):
        beta = np.empty(m)
        ub = np.zeros(Gn)
        for g in range(Gn):
            for col in range(j * c, j * c + c):
                u = abs(alpha[col, g]) + rmax[g] * np.sqrt(bn2[col, g])
                if u > ub[g]:
                    ub[g] = u
        order = np.argsort(-ub)
        ok = True
        for oi in range(Gn):
            g = order[oi]
            if ub[g] * (1.0 + 1e-12) < tol:
                break                                           # this and all later groups are cleared
            s1 = 1.0 - s_new[j, g]
            t = tf[j, g]
            for col in range(j * c, j * c + c):
                for i in range(m):
                    beta[i] = s1 * Hn[col, g, i] - t * H[col, g, i]
                for r in range(offsets[g], offsets[g + 1]):
                    x = alpha[col, g]
                    for i in range(m):
                        x += Z[r, i] * beta[i]
                    if abs(x) >= tol:
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        done[j] = ok


_gram_kernels = {False: tuple(njit(cache=True)(f) for f in (_gram_norms_py, _gram_update_py, _gram_stop_py)),
                 True: tuple(njit(parallel=True, cache=True)(f) for f in (_gram_norms_py, _gram_update_py,
                                                                          _gram_stop_py))}


class _GramData:
    """Per-lambda group data: stacked Gram matrices ``GT`` (m x G m, block g = Z_g^T Z_g), ``Z_g^T 1``, sizes,
    and the largest row norm of every Z_g."""

    def __init__(self, Z, offsets):
        Gn = offsets.shape[0] - 1
        m = Z.shape[1]
        self.GT = np.empty((m, Gn * m))
        self.zbar = np.empty((Gn, m))
        self.rmax = np.empty(Gn)
        for g in range(Gn):
            Zg = Z[offsets[g]:offsets[g + 1]]
            self.GT[:, g * m:(g + 1) * m] = Zg.T @ Zg
            self.zbar[g] = Zg.sum(axis=0)
            self.rmax[g] = np.sqrt((Zg * Zg).sum(axis=1).max()) if Zg.shape[0] else 0.0
        self.sizes = np.diff(offsets).astype(np.float64)


def _solve_batch_gram(problem, lam, ks, tol, mu0, rho, mu_max, max_iter, threads):
    s, Z, phi, _ = problem.spectrum(lam)
    key = float(lam)
    if getattr(problem, "_gram_key", None) != key:
        problem._gram, problem._gram_key = _GramData(Z, problem.offsets), key
    gd = problem._gram
    norms_k, update_k, stop_k = _gram_kernels[bool(threads)]
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
    vW = np.empty((cq, Gn, m))
    vW[:] = gd.zbar[None]                                                     # Z_g^T ones
    nW2 = np.repeat((gd.sizes * c)[None, :], q, axis=0)                       # ||ones_g||^2 over c columns
    sp = np.ones((q, Gn))
    tf = np.zeros((q, Gn))
    s_new = np.empty((q, Gn))
    uB = np.repeat(gd.zbar.sum(axis=0)[None, :], cq, axis=0)                 # Z^T B, (c q, m)
    uT = np.zeros((cq, m))
    phic = np.ascontiguousarray(np.tile(phi.T, (q, 1)))                       # (c q, m)
    sphi = phic * s[None, :]
    zs = np.empty((cq, m))
    alpha = np.empty((cq, Gn))
    bn2 = np.empty((cq, Gn))
    done = np.zeros(q, dtype=np.bool_)
    mu = float(mu0)
    for it in range(1, max_iter + 1):
        n = c * q
        gi = 1.0 / (0.5 * mu + s)
        w = (2.0 / mu) * phic[:n] - (uB[:n] + (2.0 * sphi[:n] - uT[:n]) / mu) * gi[None, :]   # P step (Z coords)
        Gw = (w @ gd.GT).reshape(n, Gn, m)
        norms_k(Gw, w, vW[:n], nW2[:q], sp[:q], ks_act[:q], c, s_new[:q])
        update_k(Gw, w, vW[:n], H[:n], Hn[:n], aW[:n], sp[:q], s_new[:q], tf[:q], c, uB[:n], zs[:n], alpha[:n],
                 bn2[:n])
        stop_k(Z, offsets, gd.rmax, H[:n], Hn[:n], s_new[:q], tf[:q], alpha[:n], bn2[:n], c, tol, done[:q])
        mu_next = min(mu_max, rho * mu)
        uT[:n] = mu * (zs[:n] - uB[:n])                                       # Z^T T_new = mu sum (1 - s') vW
        H, Hn = Hn, H
        sp[:q] = s_new[:q]
        tf[:q] = (mu / mu_next) * (1.0 - s_new[:q])
        fin = done[:q].copy()
        if it == max_iter:
            fin[:] = True
        for j in np.flatnonzero(fin)[::-1]:                                    # descending: swaps stay valid
            C = np.empty((problem.d, c))
            for g in range(Gn):
                rows = slice(offsets[g], offsets[g + 1])
                C[rows] = sp[j, g] * (aW[j * c:(j + 1) * c, g][None, :] + Z[rows] @ H[j * c:(j + 1) * c, g].T)
            yield int(active[j]), C, it, bool(done[j])
            last = q - 1
            if j != last:                                                     # move the last run into slot j
                dst, src = slice(j * c, (j + 1) * c), slice(last * c, (last + 1) * c)
                for arr in (aW, H, vW, uB, uT, phic, sphi):
                    arr[dst] = arr[src]
                for arr in (nW2, sp, tf, ks_act, active):
                    arr[j] = arr[last]
            q -= 1
        if q == 0:
            return
        mu = mu_next
