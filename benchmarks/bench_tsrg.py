"""Time TSRG on real features against NumPy transcriptions of section 3.3.

Usage:
    python benchmarks/bench_tsrg.py --alm [--repeat 3]       # one ALM fit vs the eigendecomposition transcription
    python benchmarks/bench_tsrg.py [--grid ialm|exact] [--skip-literal]
    python benchmarks/bench_tsrg.py --before OLD_SRC [--lams 0.01,1,100] [--repeat 2] [--columns N]

``--alm`` (issue 11): one inexact-ALM fit ``TSRG(lam, mu).fit(Xs, Xt)``
(the default solver) and :func:`eig_ialm` (eigendecompose A once, apply
``(A + kappa/2 I)^-1`` through it, plain NumPy) side by side in one process,
alternating, ``--repeat`` times each; prints the best time of each, their
ratio, the iterations and the max relative difference of P. Default pair
SMIC_VIS -> SMIC_NIR, lambda = 1, mu = 0.01.

``--before OLD_SRC``: the exact solver (``_tsrg_solvers.solve_exact``, all
37 mus of the grid per lambda, as in ``tsrg_path``) of this tree against
the one in ``OLD_SRC/cdmer/adaptation/_tsrg_solvers.py`` (an older source
tree, e.g. a copy of ``src`` taken before a change), CASME2 -> SMIC_VIS, in
one process, alternating, ``--repeat`` times each per lambda; prints the
best time of each, their ratio, and how far the results are apart: max
relative difference of R (the re-generated targets) and of the per-column
KKT violation, whether the path breakpoints (``steps``) and the polish
decisions are equal, and whether a linear SVM trained on the source gives
the same predictions on R at every mu. ``--columns N``: only the first N
columns of P (a quicker run).

Without ``--alm`` / ``--before`` (CASME2 -> SMIC_VIS): one ALM fit (fast vs the transcription of section 3.3 with
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


def _load_solvers(src_dir):
    """``_tsrg_solvers`` of another source tree, as module ``_tsrg_solvers_before``.

    The file is imported from a copy in a temporary folder named after its
    content, so numba's cache of that module (pickled under the new name)
    lives there and never mixes with the cache in the other tree.
    """
    import hashlib
    import importlib.util
    import shutil
    import sys
    import tempfile

    path = Path(src_dir) / "cdmer" / "adaptation" / "_tsrg_solvers.py"
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"cdmer-bench-before-{digest}"
    folder.mkdir(exist_ok=True)
    copy = folder / "_tsrg_solvers_before.py"
    if not copy.exists():
        shutil.copy2(path, copy)
    spec = importlib.util.spec_from_file_location("_tsrg_solvers_before", copy)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                      # numba's cache resolves the module by name
    spec.loader.exec_module(module)
    module.source = str(path)
    return module


def bench_exact_before(args):
    """``solve_exact`` of this tree against ``args.before``'s, side by side, best of ``--repeat`` per lambda."""
    import numba

    from cdmer.adaptation import _tsrg_solvers as new
    from cdmer.adaptation.base import make_svm
    from cdmer.adaptation.tsrg import _MUS

    old = _load_solvers(args.before)
    src = load_features(DATA / "CASME2_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(DATA / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    problem = new.Problem(src.X, tgt.X)
    d = src.X.shape[1] if args.columns is None else int(args.columns)
    problem.B, problem.Xs = problem.B[:, :d], problem.Xs[:, :d]   # the first d columns of P only
    svm = make_svm().fit(src.X[:, :d], src.labels)
    rng = np.random.default_rng(0)
    for module in (old, new):                                      # compile (or load from numba's cache)
        module.solve_exact(module.Problem(rng.normal(size=(6, 5)), rng.normal(size=(5, 5))), 1.0, [0.1, 0.01])
    print(f"solve_exact, CASME2 -> SMIC_VIS: ns={problem.ns} nt={problem.nt}, {d} columns, {len(_MUS)} mus; "
          f"before: {old.source}; numba threads {numba.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    lams = [float(x) for x in args.lams.split(",")]
    best_old, best_new = 0.0, 0.0
    for lam in lams:
        t_old, t_new = [], []
        for r in range(args.repeat):
            for module, times in ((old, t_old), (new, t_new))[::1 if r % 2 == 0 else -1]:
                t = time.perf_counter()
                res = module.solve_exact(problem, lam, _MUS)
                times.append(time.perf_counter() - t)
                if module is old:
                    r_old = res
                else:
                    r_new = res
                del res
        rel_R = np.abs(r_new.R - r_old.R).max() / np.abs(r_old.R).max()
        scale = np.maximum(np.abs(r_old.kkt_columns), 1e-300)
        rel_kkt = float(np.max(np.abs(r_new.kkt_columns - r_old.kkt_columns) / scale))
        rel_obj = float(np.max(np.abs(r_new.objective - r_old.objective) / np.abs(r_old.objective)))
        same_pred = sum(np.array_equal(svm.predict(r_new.R[k]), svm.predict(r_old.R[k])) for k in range(len(_MUS)))
        best_old, best_new = best_old + min(t_old), best_new + min(t_new)
        print(f"  lambda {lam:g}: before {', '.join(f'{t:.2f}' for t in t_old)} s, after "
              f"{', '.join(f'{t:.2f}' for t in t_new)} s, ratio (best) {min(t_old) / min(t_new):.2f}x; "
              f"max|dR|/max|R| {rel_R:.1e} (R identical: {np.array_equal(r_new.R, r_old.R)}), "
              f"steps equal {np.array_equal(r_new.steps, r_old.steps)} (max {r_old.steps.max()}), "
              f"polished equal {np.array_equal(r_new.n_polished, r_old.n_polished)} ({r_old.n_polished.sum()}), "
              f"max rel diff kkt {rel_kkt:.1e}, objective {rel_obj:.1e}, "
              f"same predictions at {same_pred}/{len(_MUS)} mus", flush=True)
        del r_old, r_new
    print(f"total (best of each): before {best_old:.2f} s, after {best_new:.2f} s, ratio {best_old / best_new:.2f}x; "
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
    ap.add_argument("--source", default="SMIC_VIS_LBPTOP_R3P8_112x112.mat",
                    help="--alm: source file in the data folder")
    ap.add_argument("--target", default="SMIC_NIR_LBPTOP_R3P8_112x112.mat", help="--alm: target file")
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--mu", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3,
                    help="--alm, --before: runs of each, alternating (best is reported)")
    ap.add_argument("--before", metavar="OLD_SRC", default=None,
                    help="only: solve_exact of this tree vs the one in OLD_SRC (an older copy of src)")
    ap.add_argument("--lams", default="0.01,1,100", help="--before: the lambdas (comma-separated)")
    ap.add_argument("--columns", type=int, default=None, help="--before: only the first N columns of P")
    args = ap.parse_args()
    if args.alm:
        bench_alm(args)
        return
    if args.before:
        bench_exact_before(args)
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
