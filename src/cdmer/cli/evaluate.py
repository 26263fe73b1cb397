"""``cdmer evaluate``: the cross-database protocol on feature files."""

import os
import shlex
import sys
from pathlib import Path

from cdmer.errors import InputError

PAPER_METHODS = "SVM,KMM,KLIEP,uLSIF,STM,TSRG"

DESCRIPTION = """\
Run the paper's cross-database protocol (section 4.1): for each experiment
SOURCE:TARGET, fit every method on the labelled source and the unlabelled
target, predict the target, and score WAR, UAR and M-F1 against the target
labels (which are never used for fitting or for the label-free choice).
Every grid point is kept; tables report four selection rules side by side:
oracle (best point on the target labels, as the paper did), paper (the
optimum the paper reports for that experiment), fixed (one label-free
setting for every experiment) and label-free (the grid point with the best
score of a label-free validator, see --validator).

Experiments (--experiments): the named sets paper (the paper's Exp.1-6),
type1 (SMIC cameras among themselves: HS->VIS, VIS->HS, HS->NIR, NIR->HS,
VIS->NIR, NIR->VIS), type2 (CASME II against each SMIC camera), all (every
ordered pair of the given files, the default), and explicit SOURCE:TARGET
pairs. Pairs of a named set whose feature files were not given are skipped
and named on screen.

Feature files: .npz written by cdmer, or the published MATLAB files
(<NAME>_micro_feature / <NAME>_micro_label). Database names come from the
files (e.g. CASME2, SMIC_VIS).

Outputs in --out: results.jsonl (every point, as it arrives; an interrupted
run resumes from it), results.json, tables.md and tables.csv (laid out like
the paper's Tables 2 and 3, with the benchmark's published numbers beside
ours where it reports the task), confusion_*.png and grid_*.png.

Exit status: 0 done, 2 bad input (one line on stderr), 130 interrupted.
"""


def register(sub):
    import argparse

    p = sub.add_parser("evaluate", help="run the cross-database protocol on feature files",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("features", nargs="+", type=Path, help="feature files (.npz or .mat), two or more")
    p.add_argument("-e", "--experiments", nargs="+", metavar="SET|SOURCE:TARGET",
                   help="paper, type1, type2, all, or SOURCE:TARGET pairs (default: all)")
    p.add_argument("-m", "--methods", default=PAPER_METHODS,
                   help=f"comma-separated methods, or 'all' for every registered one (default: {PAPER_METHODS})")
    p.add_argument("--grid", choices=("full", "quick"), default="full",
                   help="full: each method's whole grid (TSRG: the paper's 259 points); quick: only the fixed "
                        "setting and the paper's optimum (default: %(default)s)")
    p.add_argument("--param", action="append", default=[], metavar="METHOD.NAME=V1,V2",
                   help="replace one axis of a method's grid, keeping the others, e.g. TSRG.lam=0.1,1; a "
                        "parameter the grid does not vary becomes a new axis, e.g. TSRG.gamma=1 (repeatable)")
    p.add_argument("--solver", choices=("ialm", "exact"), default="ialm",
                   help="solver of the methods that have one (TSRG): ialm, the paper's inexact ALM (default), "
                        "or exact, the same objective solved to its optimality conditions")
    p.add_argument("--validator", default=None, metavar="NAME",
                   help="label-free validator of the label-free rule (default: the validators module's "
                        "DEFAULT_VALIDATOR)")
    p.add_argument("--all-validators", action="store_true",
                   help="also score the validators that refit the SVM several times per point (slow)")
    p.add_argument("--oracle-metric", choices=("uar", "war", "mean"), default="uar",
                   help="how the oracle rule ranks grid points (default: %(default)s, then the other metric)")
    p.add_argument("-o", "--out", type=Path, default=Path("cdmer-results"),
                   help="output folder (default: %(default)s); resumed if it holds results")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="local worker processes, -1 for one per core (default: 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on the Dask cluster at ADDRESS (e.g. tcp://10.0.0.5:8786; needs cdmer[dask]); "
                        "--jobs is then ignored")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def method_names(text):
    """``-m`` into registry names (``all``: every registered method)."""
    from cdmer.da.registry import METHODS, get_method

    if text.strip().lower() == "all":
        return list(METHODS)
    names = []
    for m in text.split(","):
        if m.strip() and get_method(m.strip()).name not in names:
            names.append(get_method(m.strip()).name)
    if not names:
        raise InputError("no method given", field="--methods")
    return names


def parse_params(values):
    """Parse ``METHOD.NAME=V1,V2`` options into ``{method: {name: [typed values]}}``.

    Values are typed by the method's declared parameter types
    (:func:`cdmer.da.registry.coerce_param`).
    """
    from cdmer.da.registry import coerce_param, get_method

    custom = {}
    for text in values:
        left, sep, right = text.partition("=")
        method, dot, name = left.partition(".")
        if not sep or not dot or not method.strip() or not name.strip():
            raise InputError(f"expected METHOD.NAME=V1,V2, got {text!r}", field="--param")
        spec = get_method(method.strip())
        texts = [v for v in right.split(",") if v.strip()]
        if not texts:
            raise InputError(f"no values in {text!r}", field="--param")
        custom.setdefault(spec.name, {})[name.strip()] = [coerce_param(spec, name.strip(), v) for v in texts]
    return custom


def solver_overrides(methods, solver):
    """``--solver`` as overrides of the methods whose estimator declares a ``solver`` parameter."""
    from cdmer.da.registry import get_method

    if solver == "ialm":
        return {}
    out = {}
    for name in methods:
        spec = get_method(name)
        if spec.estimator is not None and "solver" in getattr(spec.estimator, "_parameter_constraints", {}):
            from cdmer.da.registry import coerce_param

            out[name] = {"solver": coerce_param(spec, "solver", solver)}
    return out


def check_output_folder(out):
    """Fail before any computing when the output folder cannot be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", path=out, field="--out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{parent} is a file, not a folder", path=out, field="--out")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder ({exc.strerror})", path=out, field="--out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError("the folder is not writable", path=out, field="--out")


def run(args):
    from cdmer.evaluation import validators as V
    from cdmer.evaluation.protocol import Experiment, RecordIndex, digest, experiment_pairs, run_protocol
    from cdmer.evaluation.reports import method_defaults, write_report
    from cdmer.io.featureset import load_features

    if args.jobs == 0 or args.jobs < -1:
        raise InputError(f"must be a positive integer or -1, got {args.jobs}", field="--jobs")
    methods = method_names(args.methods)
    validator = args.validator or V.DEFAULT_VALIDATOR
    V.get_validator(validator)  # an unknown name: InputError naming the known ones
    scored = list(V.VALIDATORS) if args.all_validators else list(dict.fromkeys([*V.CHEAP, validator]))
    custom = parse_params(args.param)
    overrides = solver_overrides(methods, args.solver)
    check_output_folder(args.out)
    sets = {}
    for path in args.features:
        fs = load_features(path)
        if fs.database in sets:
            raise InputError(f"database name {fs.database!r} also used by {sets[fs.database].source}",
                             path=path, field="database")
        sets[fs.database] = fs
    if len(sets) < 2:
        raise InputError("two or more feature files are needed (a source and a target)", field="features")
    pairs, skipped = experiment_pairs(list(sets), args.experiments)
    if skipped:
        print(f"skipped {len(skipped)} experiment(s) whose feature files were not given: {', '.join(skipped)}",
              file=sys.stderr)
    if not pairs:
        raise InputError(f"none of the requested experiments can run with the given files "
                         f"({', '.join(sets)})", field="--experiments")
    experiments = [Experiment(sets[s], sets[t]) for s, t in pairs]
    records = run_protocol(experiments, methods, args.out, grid=args.grid, overrides=overrides, custom=custom,
                           jobs=args.jobs, scheduler=args.scheduler, validators=scored, progress=not args.quiet)
    config = {
        "command": command_line(args),
        "inputs": [{"path": str(fs.source), "database": name, "samples": fs.n_samples,
                    "features": fs.n_features, "digest": digest(fs), "classes": fs.class_counts()}
                   for name, fs in sets.items()],
        "experiments": [e.name for e in experiments],
        "experiments_requested": args.experiments or ["all"],
        "experiments_skipped": skipped,
        "methods": methods,
        "grid": args.grid,
        "custom_grid": custom,
        "overrides": overrides,
        "solver": args.solver,
        "validator": validator,
        "validators_scored": scored,
        "jobs": args.jobs,
        "scheduler": args.scheduler,
        "parameters": method_defaults(methods),
    }
    index = RecordIndex(records)  # one grouping and one selection per rule for the report and the summary
    write_report(records, args.out, config=config, oracle_metric=args.oracle_metric, validator=validator,
                 plots=not args.no_plots, index=index, jobs=args.jobs)
    print(summary(records, args.oracle_metric, validator=validator, index=index))
    print(f"results in {args.out}/ (tables.md, tables.csv, results.json, figures)")
    return 0


def command_line(args):
    """The command, rebuilt from the parsed options (every option spelt out, so it reruns the same plan)."""
    parts = ["cdmer", "evaluate", *map(str, args.features)]
    if args.experiments:
        parts += ["--experiments", *args.experiments]
    parts += ["--methods", args.methods, "--grid", args.grid]
    for text in args.param:
        parts += ["--param", text]
    parts += ["--solver", args.solver, "--oracle-metric", args.oracle_metric, "--out", str(args.out),
              "--jobs", str(args.jobs)]
    if args.validator:
        parts += ["--validator", args.validator]
    for flag in ("all_validators", "no_plots", "quiet"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    if args.scheduler:
        parts += ["--scheduler", args.scheduler]
    return " ".join(shlex.quote(p) for p in parts)


def summary(records, oracle_metric="uar", *, validator=None, rules=("oracle", "fixed", "label-free"), index=None):
    """A compact WAR / UAR / M-F1 table on screen per rule; failures get a numbered footnote.

    ``index``: a :class:`~cdmer.evaluation.protocol.RecordIndex` of ``records`` (its selections are reused).
    """
    from cdmer.evaluation.protocol import RecordIndex
    from cdmer.evaluation.reports import index_layout

    index = RecordIndex(records) if index is None else index
    experiments, methods, _ = index_layout(index)
    notes = []
    lines = []
    width = max([len(e) for e in experiments] + [10])
    for rule in rules:
        if rule == "label-free" and not validator:
            continue
        chosen = index.select(rule, oracle_metric=oracle_metric, validator=validator)
        title = f"label-free selection (validator {validator})" if rule == "label-free" else f"{rule} selection"
        lines.append(f"{title}: WAR / UAR / M-F1 (%)")
        lines.append(" " * width + "".join(f"{m:>20}" for m in methods))
        for e in experiments:
            cells = []
            for m in methods:
                r = chosen.get((e, m))
                if r is None:
                    status, reason = index.missing_reason(e, m, rule, validator)
                    text = f"{m}, {e}: {reason}"
                    if reason and text not in notes:
                        notes.append(text)
                    cells.append(f"{status + (f' [{notes.index(text) + 1}]' if reason else ''):>20}")
                else:
                    cells.append(f"{100 * r['war']:>8.2f}/{100 * r['uar']:.2f}/{100 * r['mf1']:<5.2f}")
            lines.append(f"{e:<{width}}" + "".join(cells))
        lines.append("")
    lines += [f"[{i}] {t}" for i, t in enumerate(notes, start=1)]
    return "\n".join(lines).rstrip() + "\n"
