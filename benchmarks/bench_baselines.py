"""Time KMM, KLIEP, uLSIF and STM side by side with maintained peers.

Run::

    /work/venv/bin/python benchmarks/bench_baselines.py [--shared PATH] [--repeats 3] [--large 1000]

Two problems: CASME2 -> SMIC_VIS (130 + 71 samples, 15045 dimensions) and a
larger one of ``--large`` source and target samples of the same dimension,
made of convex mixtures of pairs of real histograms of each database (still
LBP-TOP histograms). For each method the weight estimation is timed (the
median of ``--repeats`` runs) next to the same estimator from skada (KMM,
KLIEP) and densratio (KLIEP, uLSIF) on identical inputs, when installed
(``pip install skada densratio`` into the venv; they are not dependencies of
cdmer, and a missing peer is skipped and said so). Printed for each: time,
time ratio to ours, the correlation of the weights on the source, and each
solution's own objective: the KMM QP objective ``1/2 b'Kb - kappa'b`` (lower
is better), the KLIEP mean log-weight on the target with the weights scaled
to mean 1 on the source (higher is better), the uLSIF criterion ``1/2
mean_s w^2 - mean_t w`` (lower is better). KLIEP and uLSIF run at one fixed
width (and lambda) so that all implementations solve the same problem; the
peers draw their own centres. Finally the full ``fit`` (weights + SVM) of the
four methods and the timing of the protocol's grids on the real pair.
"""

import argparse
import contextlib
import io
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from cdmer.adaptation._weighted import gaussian_design, squared_distances
from cdmer.adaptation.kliep import KLIEP
from cdmer.adaptation.kmm import KMM
from cdmer.adaptation.stm import PARAM_GRID as STM_GRID
from cdmer.adaptation.stm import STM
from cdmer.adaptation.ulsif import PARAM_GRID as ULSIF_GRID
from cdmer.adaptation.ulsif import ULSIF
from cdmer.evaluation.metrics import uar, war
from cdmer.io.featureset import load_features


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def mixtures(X, n, rng):
    i, j = rng.integers(0, len(X), n), rng.integers(0, len(X), n)
    a = rng.uniform(0, 1, (n, 1))
    return a * X[i] + (1 - a) * X[j]


def kmm_objective(Xs, Xt, b):
    kappa = len(Xs) * (Xs @ Xt.mean(0))
    z = Xs.T @ b
    return 0.5 * z @ z - kappa @ b


def kliep_objective(w_s, w_t):
    return float(np.mean(np.log(np.maximum(w_t / w_s.mean(), 1e-300))))


def ulsif_objective(w_s, w_t):
    return float(0.5 * np.mean(w_s**2) - np.mean(w_t))


def row(method, impl, seconds, ours_seconds, corr, objective, note=""):
    ratio = seconds / ours_seconds if ours_seconds else float("nan")
    print(f"  {method:6s} {impl:24s} {seconds:9.3f} s  x{ratio:7.2f}  corr {corr:6.3f}  "
          f"objective {objective:.6g} {note}")


def skada_weights(adapter, Xs, Xt):
    X = np.concatenate([Xs, Xt])
    domain = np.r_[np.ones(len(Xs)), -np.ones(len(Xt))].astype(int)
    adapter.fit(X, sample_domain=domain)
    return adapter


def bench_problem(name, Xs, Xt, repeats, skip=()):
    print(f"\n== {name}: {len(Xs)} source + {len(Xt)} target samples, {Xs.shape[1]} dimensions")
    try:
        import skada
    except ImportError:
        skada = None
        print("  skada not installed: its KMM and KLIEP are skipped")
    try:
        import densratio
    except ImportError:
        densratio = None
        print("  densratio not installed: its KLIEP and uLSIF are skipped")
    if "densratio" in skip and densratio is not None:
        densratio = None
        print("  densratio skipped on request (--skip-large densratio)")

    # KMM: the paper's settings (linear kernel, B = 1000, eps = (sqrt(ns) - 1)/sqrt(ns)).
    t_ours, ours = timed(lambda: KMM().fit_weights(Xs, Xt), repeats)
    b = ours.weights_
    row("KMM", "cdmer (Clarabel)", t_ours, t_ours, 1.0, kmm_objective(Xs, Xt, b))
    if skada is not None:
        from skada import KMMReweightAdapter

        for solver in [s for s in ("frank-wolfe", "scipy") if f"skada-{s}" not in skip]:
            reps = repeats if solver == "frank-wolfe" else 1
            t, adapter = timed(lambda s=solver: skada_weights(
                KMMReweightAdapter(kernel="linear", B=1000.0, solver=s), Xs, Xt), reps)
            w = adapter.weights_ if hasattr(adapter, "weights_") else adapter.compute_weights(
                np.concatenate([Xs, Xt]), sample_domain=np.r_[np.ones(len(Xs)), -np.ones(len(Xt))].astype(int)
            )[: len(Xs)]
            row("KMM", f"skada {solver}", t, t_ours, np.corrcoef(w, b)[0, 1], kmm_objective(Xs, Xt, w))

    # KLIEP and uLSIF at one width: the median distance from the samples to the target.
    rng = np.random.default_rng(0)
    probe = Xt[rng.permutation(len(Xt))[: min(100, len(Xt))]]
    sigma = float(np.median(np.sqrt(np.concatenate([squared_distances(Xs, probe).ravel(),
                                                    squared_distances(Xt, probe).ravel()]))))
    t_ours, ours = timed(lambda: KLIEP(sigma=sigma).fit_weights(Xs, Xt), repeats)
    w_t = ours.importance(Xt)
    row("KLIEP", "cdmer", t_ours, t_ours, 1.0, kliep_objective(ours.weights_, w_t), f"(sigma {sigma:.3g})")
    if skada is not None:
        from skada import KLIEPReweightAdapter

        t, adapter = timed(lambda: skada_weights(
            KLIEPReweightAdapter(gamma=1.0 / (2 * sigma**2), random_state=0), Xs, Xt), repeats)
        A_s = gaussian_design(squared_distances(Xs, adapter.centers_), sigma)
        A_t = gaussian_design(squared_distances(Xt, adapter.centers_), sigma)
        w_s, wt = A_s @ adapter.alpha_, A_t @ adapter.alpha_
        row("KLIEP", "skada", t, t_ours, np.corrcoef(w_s, ours.weights_)[0, 1], kliep_objective(w_s, wt))
    if densratio is not None:
        from densratio.KLIEP import KLIEP as dr_kliep

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                return dr_kliep(Xt, Xs, sigma=sigma, verbose=False)

        t, result = timed(run, 1)
        w_s, wt = result.compute_density_ratio(Xs), result.compute_density_ratio(Xt)
        row("KLIEP", "densratio", t, t_ours, np.corrcoef(w_s, ours.weights_)[0, 1], kliep_objective(w_s, wt))

    lam = 1.0
    t_ours, ours = timed(lambda: ULSIF(lam=lam, sigma=sigma).fit_weights(Xs, Xt), repeats)
    row("uLSIF", "cdmer", t_ours, t_ours, 1.0, ulsif_objective(ours.weights_, ours.importance(Xt)),
        f"(sigma {sigma:.3g}, lambda {lam:g})")
    if densratio is not None:
        from densratio import densratio as dr

        def run():
            with contextlib.redirect_stdout(io.StringIO()):
                return dr(Xt, Xs, method="uLSIF", sigma_range=[sigma], lambda_range=[lam], verbose=False)

        t, result = timed(run, 1)
        w_s, wt = result.compute_density_ratio(Xs), result.compute_density_ratio(Xt)
        row("uLSIF", "densratio", t, t_ours, np.corrcoef(w_s, ours.weights_)[0, 1], ulsif_objective(w_s, wt))

    t_stm, stm = timed(lambda: STM(lam=1.0).fit(Xs, ys_for(Xs), Xt), 1)
    print(f"  STM    cdmer fit (lam 1)          {t_stm:9.3f} s  ({stm.n_iter_} alternations; no peer)")


_LABELS = {}


def ys_for(Xs):
    return _LABELS[id(Xs)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--skip-large", default="",
                        help="peers to skip on the large problem, comma-separated: densratio, skada-scipy")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    folder = Path(args.shared) / "data" / "real-features"
    source = load_features(folder / "CASME2_LBPTOP_R3P8_112x112.mat")
    target = load_features(folder / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")

    _LABELS[id(source.X)] = source.labels
    bench_problem("CASME2 -> SMIC_VIS", source.X, target.X, args.repeats)

    rng = np.random.default_rng(0)
    n = args.large
    Xs_big, Xt_big = mixtures(source.X, n, rng), mixtures(target.X, n, rng)
    _LABELS[id(Xs_big)] = rng.choice(source.labels, n)
    bench_problem(f"mixtures {n} + {n}", Xs_big, Xt_big, args.repeats, skip=args.skip_large.split(","))

    print("\n== full fit (weights + SVM) on CASME2 -> SMIC_VIS, WAR / UAR on SMIC_VIS")
    for model in (KMM(), KLIEP(), ULSIF(), STM()):
        t, fitted = timed(lambda m=model: m.fit(source.X, source.labels, target.X), 1)
        predicted = fitted.predict(target.X)
        print(f"  {type(model).__name__:6s} {t:8.3f} s  WAR {100 * war(target.labels, predicted):6.2f}  "
              f"UAR {100 * uar(target.labels, predicted):6.2f}")

    print("\n== protocol grids on CASME2 -> SMIC_VIS (one experiment)")
    for cls, grid in ((ULSIF, ULSIF_GRID), (STM, STM_GRID)):
        start = time.perf_counter()
        for params in grid:
            cls(**params).fit(source.X, source.labels, target.X)
        print(f"  {cls.__name__:6s} {len(grid)} settings: {time.perf_counter() - start:8.2f} s")


if __name__ == "__main__":
    main()
