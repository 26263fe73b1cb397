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

TSRG and DRFS-T on an experiment and its reverse (``-j 2``), where the
homotopy paths are shared (``docs/tsrg-speed.md``; the tables are compared)::

    python benchmarks/bench_protocol.py --before /tmp/before/src --shared-paths [--experiment A:B]

Two more measurements of the protocol's own costs (``docs/cluster.md``)::

    python benchmarks/bench_protocol.py --before /tmp/before/src --overhead [--lams 0.001,0.01,0.1,1,10,100]
    python benchmarks/bench_protocol.py --before /tmp/before/src --end-phase [--experiments A:B B:A]

``--overhead`` times TGSR's points in ``run_protocol`` (exact solver, the
given lambdas x n_selected 1..85, inline) and, separately, the solver
(``solve_batch``): the difference per point is the protocol's overhead
(validators, metrics, records, the store). ``--end-phase`` writes a
``results.jsonl`` holding every point of ``-m all --solver exact`` for the
experiments, with fabricated but self-consistent records (real plan, real
target labels, random predictions and validator scores), then times
``cdmer evaluate`` resuming from it with nothing to compute: the report
alone (results.json, tables, figures), plus the process start and the load.
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


def run(src, methods, experiments, out, jobs=1):
    names = dict.fromkeys(name for e in experiments for name in e.split(":"))
    cmd = [sys.executable, "-m", "cdmer.cli.main", "evaluate", *(str(DATA / FILES[n]) for n in names),
           "-e", *experiments, "-m", methods, "--solver", "exact", "-j", str(jobs),
           "-o", str(out), "--no-plots", "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(src), MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{src}: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def _worker(kind, argv):
    """Run in a process whose PYTHONPATH is one tree's src: ``overhead LAMS`` or ``store OUT EXPS``."""
    import json
    import time

    import numpy as np

    from cdmer.cli.evaluate import method_names, parse_params, solver_overrides
    from cdmer.evaluation.protocol import Experiment, digest, points_for, run_protocol
    from cdmer.io.featureset import load_features

    sets = {name: load_features(DATA / f) for name, f in FILES.items()}
    if kind == "overhead":
        import cdmer.adaptation.tgsr as tgsr_module

        spent, real = [0.0, 0.0], tgsr_module.solve_batch

        def timed(*a, **k):
            wall, cpu = time.perf_counter(), time.process_time()
            out = list(real(*a, **k))
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu
            return iter(out)

        tgsr_module.solve_batch = timed
        e = Experiment(sets["CASME2"], sets["SMIC_VIS"])
        with tempfile.TemporaryDirectory() as out:
            wall, cpu = time.perf_counter(), time.process_time()
            records = run_protocol([e], ["TGSR"], out, overrides=solver_overrides(["TGSR"], "exact"),
                                   custom=parse_params([f"TGSR.lam={argv[0]}"]), jobs=1, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = len(records)
        print(f"{n} points: outside the solver {1e3 * (wall - spent[0]) / n:.2f} ms/pt wall, "
              f"{1e3 * (cpu - spent[1]) / n:.2f} ms/pt CPU (solver {spent[0]:.1f} s of {wall:.1f} s)")
        return
    from cdmer.da.registry import get_method
    from cdmer.evaluation import validators as V
    from cdmer.evaluation.protocol import _record

    out = Path(argv[0])
    methods = method_names("all")
    overrides = solver_overrides(methods, "exact")
    rng = np.random.default_rng(0)
    with open(out / "results.jsonl", "w") as fh:
        for pair in argv[1:]:
            e = Experiment(*(sets[name] for name in pair.split(":")))
            ds, dt = digest(e.source), digest(e.target)
            y = np.asarray(e.target.labels).astype(str)
            classes = np.unique(np.asarray(e.source.labels).astype(str))
            for m in methods:
                spec = get_method(m)
                for params, _ in points_for(spec, e, "full", overrides.get(m)):
                    pred = y.copy()
                    flip = rng.random(y.size) < 0.5
                    pred[flip] = rng.choice(classes, flip.sum())
                    point = {"params": params, "y_pred": pred.tolist(),
                             "decision": {"classes": classes.tolist(), "mean": rng.random(classes.size).tolist(),
                                          "margin_mean": float(rng.random())},
                             "validators": {k: float(rng.random()) for k in V.CHEAP}, "validator_errors": {},
                             "info": {"time_s": float(rng.random())}, "error": None, "warnings": []}
                    fh.write(json.dumps(_record(e, spec, ds, dt, point)) + "\n")


def _end_phase(trees, experiments):
    env = dict(os.environ, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        subprocess.run([sys.executable, __file__, "--_worker", "store", str(store), *experiments], check=True,
                       env=dict(env, PYTHONPATH=str(trees["before"])))
        for name, src in trees.items():
            out = Path(tmp) / name
            out.mkdir()
            (out / "results.jsonl").write_bytes((store / "results.jsonl").read_bytes())
            files = sorted({DATA / FILES[n] for pair in experiments for n in pair.split(":")})
            cmd = [sys.executable, "-m", "cdmer.cli.main", "evaluate", *map(str, files), "-e", *experiments,
                   "-m", "all", "--solver", "exact", "-j", "1", "-o", str(out), "--quiet"]
            start = time.perf_counter()
            subprocess.run(cmd, env=dict(env, PYTHONPATH=str(src)), check=True, capture_output=True)
            print(f"end phase {name:6s} {time.perf_counter() - start:7.1f} s", flush=True)


def _shared_paths(trees, experiment, repeat):
    """TSRG and DRFS-T (exact) on ``experiment`` and its reverse, ``-j 2``, each tree in turn; tables compared."""
    source, target = experiment.split(":")
    experiments = [experiment, f"{target}:{source}"]
    times, tables = {}, {}
    for _ in range(repeat):
        for name, src in trees.items():
            with tempfile.TemporaryDirectory() as tmp:
                t = run(src, "TSRG,DRFS-T", experiments, Path(tmp) / "out", jobs=2)
                tables[name] = (Path(tmp) / "out" / "tables.csv").read_bytes()
            times.setdefault(name, []).append(t)
            print(f"shared paths {name:6s} {t:7.1f} s", flush=True)
    b, a = min(times["before"]), min(times["after"])
    print(f"shared paths: before {b:.1f} s, after {a:.1f} s, before/after {b / a:.2f}; "
          f"tables.csv identical: {tables['before'] == tables['after']}")


def main():
    if sys.argv[1:2] == ["--_worker"]:
        return _worker(sys.argv[2], sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="src folder of the old tree")
    parser.add_argument("--experiment", default="CASME2:SMIC_VIS")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--overhead", action="store_true", help="TGSR's per-point overhead outside the solver")
    parser.add_argument("--lams", default="0.001,0.01,0.1,1,10,100", help="TGSR lambdas of --overhead")
    parser.add_argument("--end-phase", action="store_true", help="the report of a fabricated complete store")
    parser.add_argument("--shared-paths", action="store_true",
                        help="TSRG and DRFS-T on the experiment and its reverse, -j 2 (shared homotopy paths)")
    parser.add_argument("--experiments", nargs="+", default=["CASME2:SMIC_VIS", "SMIC_VIS:CASME2"],
                        help="experiments of --end-phase")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": ROOT / "src"}
    if args.shared_paths:
        _shared_paths(trees, args.experiment, args.repeat)
        return
    if args.overhead or args.end_phase:
        for _ in range(args.repeat):
            if args.overhead:
                for name, src in trees.items():
                    print(f"overhead {name:6s} ", end="", flush=True)
                    subprocess.run([sys.executable, __file__, "--_worker", "overhead", args.lams], check=True,
                                   env=dict(os.environ, PYTHONPATH=str(src)))
            if args.end_phase:
                _end_phase(trees, args.experiments)
        return
    times = {}
    for _ in range(args.repeat):
        for job, methods in JOBS.items():
            for name, src in trees.items():
                with tempfile.TemporaryDirectory() as tmp:
                    t = run(src, methods, [args.experiment], Path(tmp) / "out")
                times.setdefault((job, name), []).append(t)
                print(f"{job:16s} {name:6s} {t:7.1f} s", flush=True)
    for job in JOBS:
        b, a = min(times[(job, "before")]), min(times[(job, "after")])
        print(f"{job:16s} before {b:.1f} s, after {a:.1f} s, after/before {a / b:.2f}")


if __name__ == "__main__":
    main()
