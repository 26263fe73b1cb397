"""Points per second on a Dask LocalCluster with 1 and 2 worker processes, and the per-task overhead.

Usage:
    python benchmarks/bench_scale.py [--points-per-task 4] [--max-iter 10] [--real]

The work is TSRG's grid (the authors' 7 x 37 = 259 (lambda, mu) points), each
point a real inexact-ALM fit (``--max-iter`` iterations, the ConvergenceWarning
silenced) followed by the paper's SVM on the re-generated target. Data:
synthetic (ns = 60, nt = 40, d = 3000, three classes) or, with ``--real``,
SMIC_VIS -> SMIC_NIR (real-features folder, ``CDMER_REAL_FEATURES``).
Points are batched into tasks of ``--points-per-task`` (the caller's
granularity, as the evaluation protocol does). The data are scattered once;
tasks carry their (lambda, mu) only. Every run goes through
``cdmer.parallel.get_executor``, after a warm-up task on every worker
(imports, numba's cache), and every task runs with one numba / BLAS thread.

Prints, for 1 and 2 workers: wall time, points per second, the CPU time
the tasks got (their process CPU time, summed, over the wall time: how many
cores the workers actually had; on a shared machine, less than the number of
workers), the speed-up; then
the per-task scheduling overhead measured with empty tasks (same count, on
the 2-worker cluster) and its share of the 2-worker run.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from cdmer.parallel import get_executor


def tsrg_points(data, points, max_iter):
    """The task: fit TSRG + SVM at each (lam, mu); returns the target predictions."""
    from cdmer.adaptation.tsrg import TSRGClassifier

    cpu = time.process_time()
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lam, mu in points:
            clf = TSRGClassifier(lam=lam, mu=mu, max_iter=max_iter).fit(data["Xs"], data["ys"], data["Xt"])
            out.append(clf.predict(data["Xt"]))
    return out, time.process_time() - cpu


def empty(*args):
    return None


def _data(real):
    if real:
        from cdmer.io.featureset import load_features

        folder = Path(os.environ.get("CDMER_REAL_FEATURES",
                                     Path(__file__).resolve().parents[2] / "shared" / "data" / "real-features"))
        src = load_features(folder / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
        tgt = load_features(folder / "SMIC_NIR_LBPTOP_R3P8_112x112.mat")
        return {"Xs": src.X, "ys": src.labels, "Xt": tgt.X}
    rng = np.random.default_rng(0)
    ys = np.repeat([1, 2, 3], 20)
    Xs = np.abs(rng.normal(size=(60, 3000)))
    Xs[np.arange(60), ys * 7] += 2.0
    Xt = np.abs(rng.normal(size=(40, 3000))) * 1.2
    return {"Xs": Xs, "ys": ys, "Xt": Xt}


def run(ex, data, tasks, max_iter):
    h = ex.scatter(data)
    warm = [(h, [(1.0, 0.01)], 2)] * (2 * ex.n_workers)           # imports and numba kernels on every worker
    list(ex.imap_unordered(tsrg_points, warm))
    t = time.perf_counter()
    n_err, cpu = 0, 0.0
    for _, r in ex.imap_unordered(tsrg_points, [(h, p, max_iter) for p in tasks]):
        if isinstance(r, BaseException):
            n_err += 1
        else:
            cpu += r[1]
    return time.perf_counter() - t, n_err, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points-per-task", type=int, default=4)
    ap.add_argument("--max-iter", type=int, default=10)
    ap.add_argument("--real", action="store_true", help="SMIC_VIS -> SMIC_NIR real features instead of synthetic")
    args = ap.parse_args()
    from distributed import LocalCluster

    from cdmer.adaptation.tsrg import PARAM_GRID

    data = _data(args.real)
    grid = [(p["lam"], p["mu"]) for p in PARAM_GRID]
    k = args.points_per_task
    tasks = [grid[i:i + k] for i in range(0, len(grid), k)]
    print(f"{len(grid)} points in {len(tasks)} tasks of {k}; data ns={data['Xs'].shape[0]} "
          f"nt={data['Xt'].shape[0]} d={data['Xs'].shape[1]} ({'real' if args.real else 'synthetic'}); "
          f"max_iter={args.max_iter}; cpu_count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    walls = {}
    for n_workers in (1, 2):
        with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1, dashboard_address=":0",
                          silence_logs=50) as cluster, get_executor(scheduler=cluster.scheduler_address) as ex:
            wall, n_err, cpu = run(ex, data, tasks, args.max_iter)
            walls[n_workers] = wall
            print(f"{n_workers} worker(s): {wall:.2f} s, {len(grid) / wall:.1f} points/s, {n_err} failed tasks; "
                  f"CPU time of the tasks {cpu:.1f} s = {cpu / wall:.2f} cores busy on average; "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
            if n_workers == 2:
                h = ex.scatter(data)
                list(ex.imap_unordered(empty, [(h,)] * 20))        # warm
                n_empty = max(len(tasks), 200)
                t = time.perf_counter()
                list(ex.imap_unordered(empty, [(h,)] * n_empty))
                per_task = (time.perf_counter() - t) / n_empty
    print(f"speed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x")
    overhead = per_task * len(tasks)
    print(f"per-task overhead (empty tasks with the scattered data as argument, 2 workers): "
          f"{1e3 * per_task:.2f} ms; {len(tasks)} tasks -> {overhead:.2f} s = {100 * overhead / walls[2]:.1f} % "
          f"of the 2-worker run")


if __name__ == "__main__":
    main()
