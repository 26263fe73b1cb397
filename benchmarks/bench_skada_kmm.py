"""Benchmark: cdmer's KMM (array API and make_method) against skada's KMMReweightAdapter + linear SVC.

CASME2 -> SMIC_VIS, the paper's setting: linear kernel, B = 1000, eps =
(sqrt(ns) - 1)/sqrt(ns), C = 1. Prints timings (median of 3 runs for cdmer,
1 for skada) and the agreement of the predicted labels. Run from the
checkout (docs/ecosystem.md)::

    python benchmarks/bench_skada_kmm.py [FOLDER_OF_REAL_FEATURES]

The folder defaults to ``$CDMER_SHARED/data/real-features`` or
``../shared/data/real-features``. Not imported by cdmer.
"""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def main():
    default = Path(os.environ.get("CDMER_SHARED", "../shared")) / "data" / "real-features"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    from cdmer.io.featureset import load_features

    src = load_features(folder / "CASME2_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(folder / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    names, ys = np.unique(src.labels, return_inverse=True)
    X = np.vstack([src.X, tgt.X])
    y = np.concatenate([ys, -np.ones(tgt.n_samples, dtype=int)])
    domain = np.concatenate([np.ones(src.n_samples, dtype=int), -np.ones(tgt.n_samples, dtype=int)])
    target = -np.ones(tgt.n_samples, dtype=int)

    import skada
    from sklearn.svm import SVC

    from cdmer.adaptation import KMM
    from cdmer.da import make_method


    def timed(fn, repeats=3):
        """Result and median wall time of ``repeats`` runs (the first run also warms caches up)."""
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return out, float(np.median(times))


    def peer(break_ties):
        svc = SVC(kernel="linear", break_ties=break_ties).set_fit_request(sample_weight=True)
        pipe = skada.make_da_pipeline(skada.KMMReweightAdapter(kernel="linear"), svc)
        return names[pipe.fit(X, y, sample_domain=domain).predict(tgt.X, sample_domain=target)]


    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, t_ours = timed(lambda: KMM().fit(src.X, src.labels, tgt.X).predict(tgt.X))
        da_pred, t_da = timed(lambda: names[make_method("KMM").fit(X, y, sample_domain=domain).predict(
            tgt.X, sample_domain=target)])
        peer_pred, t_peer = timed(lambda: peer(False), repeats=1)
        peer_ties, _ = timed(lambda: peer(True), repeats=1)

    print(f"CASME2 -> SMIC_VIS: {src.n_samples} + {tgt.n_samples} x {src.n_features}")
    print(f"cdmer KMM (array API)          {t_ours:8.2f} s")
    print(f"cdmer make_method('KMM')       {t_da:8.2f} s   agreement with the array API {np.mean(da_pred == ours):.1%}")
    print(f"skada KMMReweightAdapter + SVC {t_peer:8.2f} s   agreement with cdmer {np.mean(peer_pred == ours):.1%} "
          f"(SVC(break_ties=True), cdmer's tie rule: {np.mean(peer_ties == ours):.1%})")
    print(f"speed ratio skada / cdmer array API: {t_peer / t_ours:.1f}")


if __name__ == "__main__":
    main()
