"""``cdmer evaluate``: the cross-database protocol on feature files."""

import itertools
import shlex
import sys
from pathlib import Path

from cdmer.errors import InputError

DESCRIPTION = """\
Run the paper's cross-database protocol (section 4.1): for each experiment
SOURCE:TARGET, fit every method on the labelled source and the unlabelled
target, predict the target, and score WAR and UAR against the target labels.
Every grid point is kept; tables report three selection rules side by side:
oracle (best point on the target labels, as the paper did), paper (the
optimum the paper reports for that experiment) and fixed (one label-free
setting for every experiment).

Feature files: .npz written by cdmer, or the published MATLAB files
(<NAME>_micro_feature / <NAME>_micro_label). Database names come from the
files (e.g. CASME2, SMIC_VIS).

Outputs in --out: results.jsonl (every point, as it arrives; an interrupted
run resumes from it), results.json, tables.md and tables.csv (laid out like
the paper's Tables 2 and 3), confusion_*.png and grid_TSRG_*.png.
"""


def register(sub):
    p = sub.add_parser("evaluate", help="run the cross-database protocol on feature files",
                       description=DESCRIPTION, formatter_class=_formatter())
    p.add_argument("features", nargs="+", type=Path, help="feature files (.npz or .mat), two or more")
    p.add_argument("-e", "--experiments", nargs="+", metavar="SOURCE:TARGET",
                   help="experiments by database name (default: every ordered pair of the given files)")
    p.add_argument("-m", "--methods", default="SVM,KMM,KLIEP,uLSIF,STM,TSRG",
                   help="comma-separated methods (default: %(default)s)")
    p.add_argument("--grid", choices=("full", "quick"), default="full",
                   help="full: each method's whole grid (TSRG: the paper's 259 points); quick: only the fixed "
                        "setting and the paper's optimum (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=V1,V2",
                   help="replace a method's grid along one parameter, e.g. TSRG.lam=0.1,1 (repeatable)")
    p.add_argument("--solver", choices=("ialm", "exact"), default="ialm",
                   help="TSRG solver: ialm, the paper's inexact ALM (default), or exact, the same objective "
                        "solved to its optimality conditions")
    p.add_argument("--oracle-metric", choices=("uar", "war", "mean"), default="uar",
                   help="how the oracle rule ranks grid points (default: %(default)s, then the other metric)")
    p.add_argument("-o", "--out", type=Path, default=Path("cdmer-results"),
                   help="output folder (default: %(default)s); resumed if it holds results")
    p.add_argument("-j", "--jobs", type=int, default=1, help="parallel jobs inside a grid (default: 1)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _formatter():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def parse_params(values):
    """Parse ``METHOD.NAME=V1,V2`` options into {method: {name: [values]}}."""
    from cdmer.adaptation.methods import get_method
    from cdmer.cli.inputs import parse_value

    custom = {}
    for text in values:
        try:
            left, right = text.split("=", 1)
            method, name = left.split(".", 1)
            vals = [parse_value(v) for v in right.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"expected METHOD.NAME=V1,V2, got {text!r}", field="--param") from None
        if not vals:
            raise InputError(f"no values in {text!r}", field="--param")
        custom.setdefault(get_method(method).name, {})[name] = vals
    return custom


def run(args):
    from cdmer.adaptation.methods import get_method
    from cdmer.evaluation.protocol import Experiment, digest, run_protocol
    from cdmer.evaluation.reports import write_report
    from cdmer.io.featureset import load_features

    if args.jobs < 1:
        raise InputError(f"must be at least 1, got {args.jobs}", field="--jobs")
    methods = [get_method(m.strip()).name for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise InputError("no method given", field="--methods")
    sets = {}
    for path in args.features:
        fs = load_features(path)
        if fs.database in sets:
            raise InputError(f"database name {fs.database!r} also used by {sets[fs.database].source}",
                             path=path, field="database")
        sets[fs.database] = fs
    if args.experiments:
        pairs = []
        for text in args.experiments:
            src, sep, tgt = text.partition(":")
            if not sep or src not in sets or tgt not in sets or src == tgt:
                raise InputError(f"expected SOURCE:TARGET with two different names among "
                                 f"{', '.join(sets)}, got {text!r}", field="--experiments")
            pairs.append((src, tgt))
    else:
        if len(sets) < 2:
            raise InputError("two or more feature files are needed (a source and a target)", field="features")
        pairs = list(itertools.permutations(sets, 2))
    experiments = [Experiment(sets[s], sets[t]) for s, t in pairs]
    custom = parse_params(args.param)
    overrides = {"TSRG": {"solver": args.solver}} if args.solver != "ialm" else None
    records = run_protocol(experiments, methods, args.out, grid=args.grid, overrides=overrides,
                           custom=custom, n_jobs=args.jobs, progress=not args.quiet)
    config = {
        "command": "cdmer " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else "",
        "inputs": [{"path": str(fs.source), "database": name, "samples": fs.n_samples,
                    "features": fs.n_features, "digest": digest(fs), "classes": fs.class_counts()}
                   for name, fs in sets.items()],
        "experiments": [e.name for e in experiments],
        "methods": methods,
        "grid": args.grid,
        "custom_grid": custom,
        "tsrg_solver": args.solver,
    }
    write_report(records, args.out, config=config, oracle_metric=args.oracle_metric, plots=not args.no_plots)
    print(summary(records, args.oracle_metric))
    print(f"results in {args.out}/ (tables.md, tables.csv, results.json, figures)")
    return 0


def summary(records, oracle_metric="uar"):
    """A compact WAR/UAR table on screen: oracle and fixed selections."""
    from cdmer.evaluation.protocol import select
    from cdmer.evaluation.reports import missing_cell, table_layout

    experiments, methods, _ = table_layout(records)
    lines = []
    for rule in ("oracle", "fixed"):
        chosen = select(records, rule, oracle_metric=oracle_metric)
        width = max([len(e) for e in experiments] + [10])
        lines.append(f"{rule} selection: WAR / UAR (%)")
        lines.append(" " * width + "".join(f"{m:>15}" for m in methods))
        for e in experiments:
            cells = []
            for m in methods:
                r = chosen.get((e, m))
                cells.append(f"{missing_cell(records, e, m):>15}" if r is None
                             else f"{100 * r['war']:>7.2f}/{100 * r['uar']:<7.2f}")
            lines.append(f"{e:<{width}}" + "".join(cells))
        lines.append("")
    return "\n".join(lines)
