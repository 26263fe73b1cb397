"""Time ``cdmer evaluate`` of two source trees side by side (no-regression check).

Usage::

    git archive <old-commit> | tar -x -C /tmp/before
    python benchmarks/bench_protocol.py --before /tmp/before/src [--experiment CASME2:SMIC_VIS] [--repeat 1]

Runs, for the source tree given by ``--before`` and for this checkout's
``src``, alternately in fresh processes on the same machine:

1. the six-method table (SVM, KMM, KLIEP, uLSIF, STM, TSRG with the exact
   solver, every grid) on one experiment of the real features;
2. TSRG's 259-point exact grid alone on that experiment.

Each run writes to a fresh temporary folder (nothing is resumed) and is
timed by wall clock, including the process start and numba's cache load.
Prints one line per run and the after/before ratios.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real-features"
FILES = {"CASME2": "CASME2_LBPTOP_R3P8_112x112.mat", "SMIC_VIS": "SMIC_VIS_LBPTOP_R3P8_112x112.mat",
         "SMIC_NIR": "SMIC_NIR_LBPTOP_R3P8_112x112.mat"}
JOBS = {"six methods": "SVM,KMM,KLIEP,uLSIF,STM,TSRG", "TSRG exact grid": "TSRG"}


def run(src, methods, experiment, out):
    source, target = experiment.split(":")
    cmd = [sys.executable, "-m", "cdmer.cli.main", "evaluate", str(DATA / FILES[source]),
           str(DATA / FILES[target]), "-e", experiment, "-m", methods, "--solver", "exact",
           "-o", str(out), "--no-plots", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(src), MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{src}: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="src folder of the old tree")
    parser.add_argument("--experiment", default="CASME2:SMIC_VIS")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": ROOT / "src"}
    times = {}
    for _ in range(args.repeat):
        for job, methods in JOBS.items():
            for name, src in trees.items():
                with tempfile.TemporaryDirectory() as tmp:
                    t = run(src, methods, args.experiment, Path(tmp) / "out")
                times.setdefault((job, name), []).append(t)
                print(f"{job:16s} {name:6s} {t:7.1f} s", flush=True)
    for job in JOBS:
        b, a = min(times[(job, "before")]), min(times[(job, "after")])
        print(f"{job:16s} before {b:.1f} s, after {a:.1f} s, after/before {a / b:.2f}")


if __name__ == "__main__":
    main()
