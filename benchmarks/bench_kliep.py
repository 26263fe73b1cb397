"""Time ``KLIEP().fit`` on real features against an older ``kliep.py``, and check the results are identical.

Usage::

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/bench_kliep.py --before /tmp/kliep_before/kliep.py [--experiments 3,4] [--repeats 1]

``--before`` is a copy of ``src/cdmer/adaptation/kliep.py`` from an older
tree; it is imported as a module of its own (it shares the rest of
``cdmer`` with this checkout). For each repeat and each experiment (the
paper's numbering, :data:`cdmer.evaluation.paper.EXPERIMENTS`; SMIC_HS has no
real-feature file here, so 3-6 are available), the old and the new
``KLIEP().fit(Xs, ys, Xt)`` run one after the other, alternating which goes
first, and their wall and CPU times are printed with the ratio old / new.
Every pair of fits is compared to the bit: ``sigma_``, ``cv_scores_``,
``alpha_``, ``weights_``, ``objective_``, and ``predict`` and
``decision_function`` on the target. The numba kernels are compiled (or
loaded from the cache) on a tiny problem first; that time is printed apart.
"""

import argparse
import importlib.util
import os
import time
import warnings
from pathlib import Path

import numpy as np

from cdmer.adaptation.kliep import KLIEP, kliep_ascent
from cdmer.evaluation.paper import EXPERIMENTS
from cdmer.io.featureset import load_features

DATA = Path(os.environ.get("CDMER_REAL_FEATURES",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "real-features"))


def load_module(path):
    spec = importlib.util.spec_from_file_location("kliep_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed_fit(cls, Xs, ys, Xt):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class losing all its weight is expected on some pairs
        model = cls().fit(Xs, ys, Xt)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def differences(old, new, Xt):
    """Names of the results that are not equal to the bit (empty when all are)."""
    checks = {
        "sigma_": old.sigma_ == new.sigma_,
        "cv_scores_": list(old.cv_scores_.items()) == list(new.cv_scores_.items()),
        "alpha_": np.array_equal(old.alpha_, new.alpha_),
        "weights_": np.array_equal(old.weights_, new.weights_),
        "objective_": old.objective_ == new.objective_,
        "predict": np.array_equal(old.predict(Xt), new.predict(Xt)),
        "decision_function": np.array_equal(old.decision_function(Xt), new.decision_function(Xt)),
    }
    return [name for name, equal in checks.items() if not equal]


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, required=True, help="an older kliep.py")
    ap.add_argument("--experiments", default="3,4", help="comma list of experiment numbers (3-6)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    old_module = load_module(args.before)
    print(f"load average {os.getloadavg()[0]:.2f}; threads: NUMBA {os.environ.get('NUMBA_NUM_THREADS')}, "
          f"OMP {os.environ.get('OMP_NUM_THREADS')}, OPENBLAS {os.environ.get('OPENBLAS_NUM_THREADS')}")

    start = time.perf_counter()
    kliep_ascent(np.array([0.5, 0.5]), np.array([[1.0, 0.5], [0.2, 0.0]]))
    print(f"numba kernels compiled or loaded from cache: {time.perf_counter() - start:.2f} s")

    features = {}
    for number in (int(e) for e in args.experiments.split(",")):
        for name in EXPERIMENTS[number]:
            if name not in features:
                features[name] = load_features(args.data / f"{name}_LBPTOP_R3P8_112x112.mat")

    totals = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    all_identical = True
    for repeat in range(args.repeats):
        for index, number in enumerate(int(e) for e in args.experiments.split(",")):
            source, target = EXPERIMENTS[number]
            Xs, ys, Xt = features[source].X, features[source].labels, features[target].X
            order = ["old", "new"] if (repeat + index) % 2 == 0 else ["new", "old"]
            fits = {}
            for which in order:
                cls = old_module.KLIEP if which == "old" else KLIEP
                fits[which] = timed_fit(cls, Xs, ys, Xt)
                totals[which][0] += fits[which][1]
                totals[which][1] += fits[which][2]
            (old, old_wall, old_cpu), (new, new_wall, new_cpu) = fits["old"], fits["new"]
            diff = differences(old, new, Xt)
            all_identical &= not diff
            print(f"repeat {repeat} Exp. {number} {source} -> {target} ({len(Xs)} -> {len(Xt)}), "
                  f"sigma_ {new.sigma_:.6g}, {len(new.cv_scores_)} widths: "
                  f"old {old_wall:7.2f} s (CPU {old_cpu:7.2f}), new {new_wall:6.2f} s (CPU {new_cpu:6.2f}), "
                  f"ratio {old_wall / new_wall:5.2f} (CPU {old_cpu / new_cpu:5.2f}); "
                  + ("identical (sigma_, cv_scores_, alpha_, weights_, objective_, predict, decision_function)"
                     if not diff else "DIFFERENT: " + ", ".join(diff)))
    (ow, oc), (nw, nc) = totals["old"], totals["new"]
    print(f"total: old {ow:.2f} s (CPU {oc:.2f}), new {nw:.2f} s (CPU {nc:.2f}), "
          f"ratio {ow / nw:.2f} (CPU {oc / nc:.2f}); all identical: {all_identical}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0 if all_identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
