"""Time TSRG on real features against NumPy transcriptions of section 3.3.

Usage:
    python benchmarks/bench_tsrg.py --alm [--repeat 3]       # one ALM fit vs the eigendecomposition transcription
    python benchmarks/bench_tsrg.py [--grid ialm|exact] [--skip-literal]

``--alm`` (issue 11): one inexact-ALM fit ``TSRG(lam, mu).fit(Xs, Xt)``
(the default solver) and :func:`eig_ialm` (eigendecompose A once, apply
``(A + kappa/2 I)^-1`` through it, plain NumPy) side by side in one process,
alternating, ``--repeat`` times each; prints the best time of each, their
ratio, the iterations and the max relative difference of P. Default pair
SMIC_VIS -> SMIC_NIR, lambda = 1, mu = 0.01.

Without ``--alm`` (CASME2 -> SMIC_VIS): one ALM fit (fast vs the transcription of section 3.3 with
np.linalg.solve every iteration, run in the same process) with the max
relative difference of P; one exact fit (LARS-lasso homotopy) with its KKT
violation; optionally the 259-point grid (for ``exact``: one path per
lambda, n_jobs=1, numba's threads), its time and largest KKT violation.
Numba kernels are compiled (or loaded from cache) on a tiny problem first.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from cdmer.adaptation.tsrg import PARAM_GRID, TSRG, TSRGClassifier
from cdmer.da.registry import evaluate_points, get_method
from cdmer.evaluation.metrics import uar, war
from cdmer.io.featureset import load_features

DATA = Path(os.environ.get("CDMER_REAL_FEATURES",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "real-features"))


def eig_ialm(Xs_rows, Xt_rows, lam, mu, kappa0=1e-3, rho=1.1, kappa_max=1e15, tol=1e-8, max_iter=1000):
    """Section 3.3 in plain NumPy: A = V diag(e) V^T once, Q = V diag(1/(e + kappa/2)) V^T M every iteration."""
    Xall = np.vstack([Xs_rows, Xt_rows])
    Ks, Kt = Xall @ Xs_rows.T, Xall @ Xt_rows.T
    dk = Ks.mean(axis=1) - Kt.mean(axis=1)
    e, V = np.linalg.eigh(Ks @ Ks.T + lam * np.outer(dk, dk))
    VT = np.ascontiguousarray(V.T)
    B = Ks @ Xs_rows
    P = np.ones((Xall.shape[0], Xs_rows.shape[1]))
    T = np.ones_like(P)
    kappa = kappa0
    for it in range(1, max_iter + 1):
        Q = V @ ((VT @ (B + (kappa * P + T) / 2)) / (e + kappa / 2)[:, None])      # step (1)
        W = Q - T / kappa
        P = np.maximum(W - mu / kappa, 0) + np.minimum(W + mu / kappa, 0)          # step (2)
        if np.abs(P - Q).max() < tol:                                               # step (4)
            return P, it
        T = T + kappa * (P - Q)                                                     # step (3)
        kappa = min(rho * kappa, kappa_max)
    return P, max_iter


def bench_alm(args):
    """Issue 11: one default ALM fit against :func:`eig_ialm`, side by side, best of ``--repeat``."""
    src, tgt = load_features(DATA / args.source), load_features(DATA / args.target)
    lam, mu = args.lam, args.mu
    import numba
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        TSRG(lam=lam, mu=mu, max_iter=2).fit(rng.normal(size=(6, 70)), rng.normal(size=(5, 70)))   # compile
    print(f"{args.source} -> {args.target}: ns={src.X.shape[0]} nt={tgt.X.shape[0]} d={src.X.shape[1]}, "
          f"lambda={lam:g} mu={mu:g}; numba threads {numba.get_num_threads()}, os.cpu_count {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    t_fast, t_eig = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        est = TSRG(lam=lam, mu=mu).fit(src.X, tgt.X)
        t_fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        P_eig, it_eig = eig_ialm(src.X, tgt.X, lam, mu)
        t_eig.append(time.perf_counter() - t)
        print(f"  TSRG fit {t_fast[-1]:.2f} s ({est.n_iter_} it), eig transcription {t_eig[-1]:.2f} s "
              f"({it_eig} it)", flush=True)
    rel = np.abs(est.P_ - P_eig).max() / np.abs(P_eig).max()
    print(f"best: TSRG {min(t_fast):.2f} s, eig transcription {min(t_eig):.2f} s, ratio "
          f"{min(t_eig) / min(t_fast):.2f}x; iterations {est.n_iter_} / {it_eig}; max|dP|/max|P| = {rel:.2e}; "
          f"load average {os.getloadavg()[0]:.1f}")


def literal_ialm(Xs_rows, Xt_rows, lam, mu):
    """Section 3.3 as printed (lambda restored), paper notation, solve every iteration."""
    Xs = Xs_rows.T
    Xall = np.vstack([Xs_rows, Xt_rows])
    Ks, Kt = Xall @ Xs_rows.T, Xall @ Xt_rows.T
    ns, nt = Xs_rows.shape[0], Xt_rows.shape[0]
    n, d = ns + nt, Xs.shape[0]
    dk = Ks @ np.ones(ns) / ns - Kt @ np.ones(nt) / nt
    P, T, kappa = np.ones((n, d)), np.ones((n, d)), 1e-3
    for it in range(1, 10 ** 6):
        Q = np.linalg.solve(Ks @ Ks.T + lam * np.outer(dk, dk) + kappa / 2 * np.eye(n),
                            Ks @ Xs.T + (kappa * P + T) / 2)
        W = Q - T / kappa
        P = np.maximum(W - mu / kappa, 0) + np.minimum(W + mu / kappa, 0)
        if np.abs(P - Q).max() < 1e-8:
            break
        T = T + kappa * (P - Q)
        kappa = min(1.1 * kappa, 1e15)
    return P, it


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-literal", action="store_true", help="skip the ALM-vs-transcription comparison")
    ap.add_argument("--grid", choices=["ialm", "exact"], default=None, help="also time the 259-point grid")
    ap.add_argument("--alm", action="store_true", help="only: one ALM fit vs the eigendecomposition transcription")
    ap.add_argument("--source", default="SMIC_VIS_LBPTOP_R3P8_112x112.mat", help="--alm: source file in the data folder")
    ap.add_argument("--target", default="SMIC_NIR_LBPTOP_R3P8_112x112.mat", help="--alm: target file")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--mu", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3, help="--alm: fits of each, alternating (best is reported)")
    args = ap.parse_args()
    if args.alm:
        bench_alm(args)
        return
    src = load_features(DATA / "CASME2_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(DATA / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    lam, mu = 1.0, 0.07

    import numba
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for solver in ("ialm", "exact"):                               # compile numba kernels
            TSRG(lam=lam, mu=mu, max_iter=1, solver=solver).fit(rng.normal(size=(6, 4)), rng.normal(size=(5, 4)))
    print(f"numba threads: {numba.get_num_threads()}")

    if not args.skip_literal:
        t = time.perf_counter()
        clf = TSRGClassifier(lam=lam, mu=mu).fit(src.X, src.labels, tgt.X)
        t_fast = time.perf_counter() - t
        t = time.perf_counter()
        P_lit, it_lit = literal_ialm(src.X, tgt.X, lam, mu)
        t_lit = time.perf_counter() - t
        rel = np.abs(clf.tsrg_.P_ - P_lit).max() / np.abs(P_lit).max()
        y = clf.predict(tgt.X)
        print(f"ialm fast: {t_fast:.1f} s, {clf.tsrg_.n_iter_} it; literal: {t_lit:.1f} s, {it_lit} it; "
              f"ratio {t_lit / t_fast:.1f}x; max|dP|/max|P| = {rel:.2e}")
        print(f"ialm (1, 0.07): WAR {100 * war(tgt.labels, y):.2f} UAR {100 * uar(tgt.labels, y):.2f} "
              f"objective {clf.tsrg_.objective_:.6g}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = time.perf_counter()
        ex = TSRGClassifier(lam=lam, mu=mu, solver="exact").fit(src.X, src.labels, tgt.X)
        t_ex = time.perf_counter() - t
    ye = ex.predict(tgt.X)
    e = ex.tsrg_
    print(f"exact (1, 0.07): {t_ex:.1f} s (TSRG + SVM), max {e.n_iter_} path breakpoints per column, "
          f"converged {e.converged_}, kkt/mu {e.kkt_violation_:.3g}, polished columns {e.n_polished_}, "
          f"objective {e.objective_:.6g}; WAR {100 * war(tgt.labels, ye):.2f} UAR {100 * uar(tgt.labels, ye):.2f}; "
          f"{len(caught)} warnings")

    if args.grid:
        t = time.perf_counter()
        kkt, n, n_bad, times = 0.0, 0, 0, {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for out in evaluate_points(get_method("TSRG"), src.X, src.labels, tgt.X, PARAM_GRID, solver=args.grid):
                params, info = out.params, out.info
                n += 1
                n_bad += not info["converged"]
                kkt = max(kkt, info.get("kkt_violation", 0.0))
                times[params["lam"]] = times.get(params["lam"], 0.0) + info["time_s"]
        per_lam = ", ".join(f"{lam:g}: {s:.0f} s" for lam, s in times.items())
        print(f"grid ({args.grid}): {n} points in {time.perf_counter() - t:.0f} s (SVM predictions included); "
              f"solve time per lambda {per_lam}; not converged {n_bad}; "
              + (f"max kkt/mu {kkt:.3g}; " if args.grid == "exact" else "") + f"{len(caught)} warnings")


if __name__ == "__main__":
    main()
