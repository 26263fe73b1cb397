"""Time TGSR's grid (issue 10) on real features: the default (group-Gram) solver, the previous one, plain NumPy.

Usage:
    python benchmarks/bench_tgsr.py [--source CASME2] [--target SMIC_VIS] [--lambdas N] [--jobs 2]
                                    [--modes procs,threads] [--old] [--before SRC] [--plain K]

Runs, in one process:

1. the authors' grid (n_selected = 1 .. 85 x the 271 lambdas of
   ``cdmer.adaptation.tgsr.LAMBDAS``) on ``--lambdas N`` lambdas spread
   evenly over the 271 (default: all = the full 23,035-point grid), one
   batched ALM per lambda (``solve_batch``, what ``tgsr_path`` runs), in each
   of ``--modes``: ``procs`` = ``--jobs`` processes with one BLAS thread each,
   ``threads`` = one process with 2 BLAS threads and threaded numba kernels.
   Prints wall time, the workers' CPU time, the ALM iterations and, when
   N < 271, the full grid extrapolated (from wall time, and from CPU time on
   2 idle cores);
2. with ``--old``, the same lambdas with the direct form (``method="direct"``,
   ``procs`` mode), and with ``--before SRC`` (the ``src`` folder of an older
   tree, e.g. ``git archive <commit> | tar -x -C /tmp/before``) the same
   lambdas with that tree's default solver, each followed by its ratios of
   wall and CPU time to this checkout's and the largest relative difference
   of the target decisions;
3. ``--plain K`` single fits (default 0) of :func:`plain_fit`, the released
   algorithm in plain NumPy, next to ``TGSR(lam, k).fit`` on the same points.

Numba kernels are compiled (or loaded from cache) on a tiny problem first.
The machine may be shared: the load average is printed at the start and
after every grid. Record the figures in docs/new-methods.md.
"""

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cdmer.adaptation.tgsr import LAMBDAS, TGSR, tgsr_path
from cdmer.io.featureset import load_features

DATA = Path(os.environ.get("CDMER_REAL_FEATURES",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "real-features"))


def plain_fit(Xs_rows, ys, Xt_rows, lam, k, n_regions=85, tol=1e-8, mu0=1e-3, rho=1.1, mu_max=1e15):
    """TransferISLSR.m / ALM_ISLSR_fixednum.m in plain NumPy (consecutive equal groups); returns (C, iterations)."""
    Xs, Xt = Xs_rows.T, Xt_rows.T
    classes = np.unique(ys)
    Ls = (ys[None, :] == classes[:, None]).astype(float)
    d, c = Xs.shape[0], Ls.shape[0]
    f = d // n_regions
    Y = np.hstack([Xs, np.sqrt(lam) * (Xs.mean(1) - Xt.mean(1))[:, None]])
    YL = Y[:, :-1] @ Ls.T                                  # Y L^T, L = [Ls, 0]
    s, V = np.linalg.eigh(Y.T @ Y)
    s = np.maximum(s, 0)
    B = np.ones((d, c))
    T = np.zeros((d, c))
    mu = mu0
    for it in range(1, 10 ** 6):
        M = B + (2 * YL - T) / mu
        P = M - Y @ (V @ ((V.T @ (Y.T @ M)) / (mu / 2 + s)[:, None]))     # (2 Y Y^T / mu + I)^-1 M
        W = P + T / mu
        norms = np.sqrt((W.reshape(n_regions, f * c) ** 2).sum(axis=1))
        tau = np.sort(norms)[::-1][k] if k < n_regions else 0.0
        scale = np.where(norms > tau, (norms - tau) / np.where(norms > 0, norms, 1.0), 0.0)
        B = (W.reshape(n_regions, f * c) * scale[:, None]).reshape(d, c)
        if np.max(np.abs(P - B)) < tol:
            return B, it
        T = T + mu * (P - B)
        mu = min(mu_max, rho * mu)


def _one_lambda(Xs, ys, Xt, lam, method, threads):
    """One lambda, n_selected = 1..85, by solve_batch's ``method``; returns (points, iterations, CPU s, decisions)."""
    import threadpoolctl

    from cdmer.adaptation import _tgsr_solver
    from cdmer.adaptation.tgsr import _prepare

    solve_batch = _tgsr_solver.solve_batch

    c0 = time.process_time()
    with threadpoolctl.threadpool_limits(limits=2 if threads else 1, user_api="blas"):
        _, Xt_p, _, order, _, problem = _prepare(TGSR(lam=lam), Xs, ys, Xt)
        Xt_p = Xt_p[:, order]
        ks = list(range(1, 86))
        decisions, iters = {}, 0
        if not hasattr(_tgsr_solver, "Solution"):              # an older tree: (index, C, n_iter, converged)
            for idx, C, n_iter, _ in solve_batch(problem, lam, ks, method=method, threads=threads):
                decisions[ks[idx]] = Xt_p @ C
                iters += n_iter
        else:
            for idx, solution in solve_batch(problem, lam, ks, method=method, threads=threads, rows=Xt_p):
                decisions[ks[idx]] = solution.decision()        # what tgsr_path does with each run
                iters += solution.n_iter
    return len(ks), iters, time.process_time() - c0, decisions


def _grid(Xs, ys, Xt, lams, method, mode, jobs):
    """Run the lambdas; ``mode`` "procs": ``jobs`` processes, one BLAS thread each; "threads": one process,
    2 BLAS threads and the numba kernels threaded. Returns (wall s, CPU s of the workers, iterations, decisions)."""
    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    if mode == "procs":
        out = Parallel(n_jobs=jobs)(delayed(_one_lambda)(Xs, ys, Xt, lam, method, False) for lam in lams)
    else:
        out = [_one_lambda(Xs, ys, Xt, lam, method, True) for lam in lams]
    wall = time.perf_counter() - t0
    return wall, sum(o[2] for o in out), sum(o[1] for o in out), [o[3] for o in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default="CASME2")
    ap.add_argument("--target", default="SMIC_VIS")
    ap.add_argument("--lambdas", type=int, default=len(LAMBDAS))
    ap.add_argument("--plain", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--modes", default="procs", help="comma list of procs, threads")
    ap.add_argument("--old", action="store_true", help="also time the direct-form solver on the lambdas")
    ap.add_argument("--before", type=Path, help="src folder of an older tree: also time its default solver")
    ap.add_argument("--emit", type=Path, help=argparse.SUPPRESS)     # internal: the --before run's output file
    args = ap.parse_args()
    src = load_features(DATA / f"{args.source}_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(DATA / f"{args.target}_LBPTOP_R3P8_112x112.mat")
    Xs, ys, Xt = src.X, np.asarray(src.labels), tgt.X
    if not args.emit:
        print(f"{args.source} -> {args.target}: ns={len(Xs)} nt={len(Xt)} d={Xs.shape[1]}; cpus={os.cpu_count()}, "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    rng = np.random.default_rng(0)                                # compile / load the numba kernels
    for threads in (False, True):
        list(tgsr_path(rng.random((9, 12)), np.arange(9) % 3, rng.random((5, 12)), 1.0, [1, 2, 3, 4], n_regions=4))
        _one_lambda(rng.random((9, 85)), np.arange(9) % 3, rng.random((5, 85)), 1.0, "gram", threads)

    idx = np.unique(np.linspace(0, len(LAMBDAS) - 1, args.lambdas).round().astype(int))
    lams = [LAMBDAS[i] for i in idx]
    n_pts = 85 * len(lams)
    results = {}
    if args.emit:                                                 # the --before run, in the older tree
        wall, cpu, iters, dec = _grid(Xs, ys, Xt, lams, "gram", "procs", args.jobs)
        with open(args.emit, "wb") as fh:
            pickle.dump((wall, cpu, iters, dec), fh)
        return
    runs = [("gram", m) for m in args.modes.split(",")] + ([("direct", "procs")] if args.old else [])
    runs += [("before", "procs")] if args.before else []
    for method, mode in runs:
        if method == "before":                                    # same script, the older tree's cdmer
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "before.pkl"
                env = {**os.environ, "PYTHONPATH": str(args.before.resolve())}
                subprocess.run([sys.executable, __file__, "--source", args.source, "--target", args.target,
                                "--lambdas", str(args.lambdas), "--jobs", str(args.jobs), "--emit", str(out)],
                               env=env, check=True, stdout=subprocess.DEVNULL)
                with open(out, "rb") as fh:
                    wall, cpu, iters, dec = pickle.load(fh)
        else:
            wall, cpu, iters, dec = _grid(Xs, ys, Xt, lams, method, mode, args.jobs)
        results[(method, mode)] = (wall, cpu, dec)
        how = f"{args.jobs} processes x 1 BLAS thread" if mode == "procs" else "1 process, 2 BLAS + numba threads"
        print(f"{method:6s} ({how}): {len(lams)} lambdas x 85 = {n_pts} points, {iters} ALM iterations: "
              f"wall {wall:.1f} s, CPU {cpu:.1f} s ({cpu / len(lams):.2f} s CPU per lambda); load average now "
              f"{os.getloadavg()[0]:.1f}")
        if len(lams) < len(LAMBDAS):
            print(f"       full grid (271 lambdas) extrapolated: wall {wall / len(lams) * 271:.0f} s; from CPU time "
                  f"on 2 idle cores {cpu / len(lams) * 271 / 2:.0f} s")
    for other in ("direct", "before"):
        if (other, "procs") not in results:
            continue
        w0, c0, d0 = results[(other, "procs")]
        w1, c1, d1 = results[("gram", "procs")] if ("gram", "procs") in results else next(iter(results.values()))
        diff = max(np.max(np.abs(a[k] - b[k])) / np.max(np.abs(a[k])) for a, b in zip(d0, d1) for k in a)
        same = all(np.array_equal(np.argmax(a[k], 1), np.argmax(b[k], 1)) for a, b in zip(d0, d1) for k in a)
        print(f"{other}/this checkout: wall {w0 / w1:.2f}x, CPU {c0 / c1:.2f}x; max rel diff of the decisions "
              f"{diff:.1e}, same predictions: {same}")

    for lam, k in [(1.0, 1), (0.01, 42), (100.0, 84), (1.0, 85), (1000.0, 20)][:args.plain]:
        t0, c0 = time.perf_counter(), time.process_time()
        C_ref, it_ref = plain_fit(Xs, ys, Xt, lam, k)
        t_plain, c_plain = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        model = TGSR(lam=lam, n_selected=k).fit(Xs, ys, Xt)
        t_fast, c_fast = time.perf_counter() - t0, time.process_time() - c0
        diff = np.max(np.abs(model.coef_ - C_ref)) / np.max(np.abs(C_ref))
        print(f"lam={lam} k={k}: plain NumPy {t_plain:.2f} s wall / {c_plain:.2f} s CPU ({it_ref} it), TGSR.fit "
              f"{t_fast:.2f} s wall / {c_fast:.2f} s CPU ({model.n_iter_} it); max rel diff of C {diff:.1e}")


if __name__ == "__main__":
    main()
