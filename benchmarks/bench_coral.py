"""Time skada's CORALAdapter against the low-rank :class:`cdmer.adaptation.coral.CORAL`.

Usage:
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_coral.py [--reg 0.1] [--skada-budget 120]

Runs, in one process:

1. random data, ns = nt = 130, d in (500, 2000, 4000): skada's
   ``CORALAdapter(reg).fit_transform`` (d x d covariances, two dense
   eigendecompositions) and ``CORAL(reg).fit`` + ``transform`` /
   ``transform_target`` side by side, with the largest absolute difference
   of the outputs. skada is skipped at a d where its time, extrapolated as
   d^3 from the previous d, would exceed ``--skada-budget`` seconds;
2. ``CORAL`` alone at d = 15045 on random data, and on the real LBP-TOP
   features (``--source`` -> ``--target``) when they load; skada's time there
   is extrapolated as d^3 from its largest measured d (an estimate, marked so).

The machine may be shared: the load average is printed.
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

from cdmer.adaptation.coral import CORAL
from cdmer.errors import InputError

DATA = Path(os.environ.get("CDMER_REAL_FEATURES",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "real-features"))


def _data(d, ns, nt, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((ns, d)), 2.0 * rng.random((nt, d)) + 0.5 * rng.random(d)


def _ours(Xs, Xt, reg):
    t0 = time.perf_counter()
    model = CORAL(reg=reg).fit(Xs, Xt)
    Z = np.vstack([model.transform(Xs), model.transform_target(Xt)])
    return time.perf_counter() - t0, Z, model


def _skada(Xs, Xt, reg):
    from skada import CORALAdapter

    X = np.vstack([Xs, Xt])
    sample_domain = np.r_[np.ones(len(Xs), dtype=int), -np.ones(len(Xt), dtype=int)]
    t0 = time.perf_counter()
    Z = CORALAdapter(reg=reg).fit_transform(X, sample_domain=sample_domain)
    return time.perf_counter() - t0, Z


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--dims", default="500,2000,4000")
    ap.add_argument("--n", type=int, default=130)
    ap.add_argument("--skada-budget", type=float, default=120.0)
    ap.add_argument("--source", default="CASME2")
    ap.add_argument("--target", default="SMIC_VIS")
    args = ap.parse_args()
    print(f"reg={args.reg} ns=nt={args.n}; cpus={os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'d':>6} {'skada (s)':>10} {'CORAL (s)':>10} {'ratio':>8} {'max |diff|':>11} {'max |Z|':>9}")
    last = None                                                      # (d, skada seconds)
    for d in (int(x) for x in args.dims.split(",")):
        Xs, Xt = _data(d, args.n, args.n, seed=d)
        t_ours, Z, _ = _ours(Xs, Xt, args.reg)
        predicted = None if last is None else last[1] * (d / last[0]) ** 3
        if predicted is not None and predicted > args.skada_budget:
            print(f"{d:>6} {'skipped':>10} {t_ours:>10.3f}   (skada predicted {predicted:.0f} s > budget)")
            continue
        t_sk, Z_sk = _skada(Xs, Xt, args.reg)
        last = (d, t_sk)
        print(f"{d:>6} {t_sk:>10.3f} {t_ours:>10.3f} {t_sk / t_ours:>8.0f} {np.max(np.abs(Z - Z_sk)):>11.2e} "
              f"{np.max(np.abs(Z_sk)):>9.2f}")

    d = 15045
    extrapolated = ("" if last is None
                    else f"; skada extrapolated (d^3 from d={last[0]}): {last[1] * (d / last[0]) ** 3:.0f} s")
    Xs, Xt = _data(d, args.n, args.n, seed=d)
    t_ours, Z, model = _ours(Xs, Xt, args.reg)
    print(f"{d:>6} {'-':>10} {t_ours:>10.3f}   random data, ranks {model.source_basis_.shape[1]}/"
          f"{model.target_basis_.shape[1]}{extrapolated}")
    try:
        from cdmer.io.featureset import load_features

        src = load_features(DATA / f"{args.source}_LBPTOP_R3P8_112x112.mat")
        tgt = load_features(DATA / f"{args.target}_LBPTOP_R3P8_112x112.mat")
    except (InputError, OSError) as exc:                                        # the real features are optional
        print(f"real features not loaded ({exc})")
        return
    t_ours, Z, model = _ours(src.X, tgt.X, args.reg)
    print(f"{src.X.shape[1]:>6} {'-':>10} {t_ours:>10.3f}   real {args.source} (ns={len(src.X)}) -> {args.target} "
          f"(nt={len(tgt.X)}), ranks {model.source_basis_.shape[1]}/{model.target_basis_.shape[1]}, "
          f"finite: {bool(np.isfinite(Z).all())}")
    print(f"a d x d float64 matrix at d={d}: {d * d * 8 / 1e9:.2f} GB; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
