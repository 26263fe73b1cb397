"""Reports of a protocol run: JSON, and tables laid out like Tables 2 and 3.

Rows are experiments (source -> target), columns are methods, values are
percentages with two decimals, as in the paper. One table per metric (WAR,
UAR) and selection rule (oracle, paper, fixed). For experiments that are the
paper's (Exp.1-6), the paper's own numbers are printed in a row beneath.
"""

from __future__ import annotations

import csv
import io

from cdmer.evaluation import paper
from cdmer.evaluation.protocol import RULES, select
from cdmer.io import atomic
from cdmer.io.provenance import versions

METRICS = (("war", "WAR", paper.TABLE2_WAR, "Table 2"), ("uar", "UAR", paper.TABLE3_UAR, "Table 3"))


def ordered(names, order):
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def table_layout(records):
    """Rows (experiments, the paper's Exp. order first), columns (methods, the paper's order) and
    each experiment's (source, target, paper Exp. number)."""
    experiments, methods = [], []
    for r in records:
        if r["experiment"] not in experiments:
            experiments.append(r["experiment"])
        if r["method"] not in methods:
            methods.append(r["method"])
    info = {r["experiment"]: (r["source"], r["target"], r["paper_experiment"]) for r in records}
    experiments.sort(key=lambda e: (info[e][2] or 99, e))
    return experiments, ordered(methods, paper.METHOD_ORDER), info


def markdown_tables(records, *, oracle_metric="uar", title_suffix=""):
    """The Markdown report: every rule x metric table, with chosen parameters."""
    experiments, methods, info = table_layout(records)
    out = io.StringIO()
    for rule in RULES:
        chosen = select(records, rule, oracle_metric=oracle_metric)
        for key, label, table, paper_table in METRICS:
            out.write(f"### {label} (%), selection: {rule}{title_suffix}\n\n")
            out.write("| # | Source Database | Target Database | " + " | ".join(methods) + " |\n")
            out.write("|---|---|---|" + "---:|" * len(methods) + "\n")
            for e in experiments:
                src, tgt, number = info[e]
                cells = []
                for m in methods:
                    r = chosen.get((e, m))
                    cells.append(missing_cell(records, e, m) if r is None else f"{100 * r[key]:.2f}")
                tag = f"Exp.{number}" if number else "-"
                out.write(f"| {tag} | {src} | {tgt} | " + " | ".join(cells) + " |\n")
                if number:
                    ref = table[number]
                    out.write(f"| Exp.{number} (paper {paper_table}) | | | "
                              + " | ".join(f"{ref[m]:.2f}" if m in ref else "" for m in methods) + " |\n")
            out.write("\n")
        params = []
        for e in experiments:
            for m in methods:
                r = chosen.get((e, m))
                if r is not None and r["params"]:
                    params.append(f"{e} {m}: " + ", ".join(f"{k}={v}" for k, v in r["params"].items()))
        if params:
            out.write(f"Parameters selected ({rule}):\n\n" + "".join(f"- {p}\n" for p in params) + "\n")
    failed = [r for r in records if r["war"] is None]
    if failed:
        out.write(f"### Failed grid points ({len(failed)})\n\n")
        for r in failed:
            out.write(f"- {r['experiment']} {r['method']} {_params_text(r['params'])}: {r['info'].get('error')}\n")
        out.write("\n")
    return out.getvalue()


def missing_cell(records, experiment, method):
    """Text of an empty cell: 'failed' when every point of the method failed, else 'n/a'."""
    mine = [r for r in records if r["experiment"] == experiment and r["method"] == method]
    return "failed" if mine and all(r["war"] is None for r in mine) else "n/a"


def csv_table(records, *, oracle_metric="uar"):
    """One CSV row per (rule, experiment, method): WAR, UAR, parameters."""
    experiments, methods, info = table_layout(records)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["rule", "paper_experiment", "source", "target", "method", "war", "uar", "params"])
    for rule in RULES:
        chosen = select(records, rule, oracle_metric=oracle_metric)
        for e in experiments:
            for m in methods:
                r = chosen.get((e, m))
                if r is not None:
                    src, tgt, number = info[e]
                    w.writerow([rule, number or "", src, tgt, m, f"{100 * r['war']:.2f}",
                                f"{100 * r['uar']:.2f}", _params_text(r["params"])])
    return out.getvalue()


def _params_text(params):
    import json

    return json.dumps(params, sort_keys=True)


def method_defaults(names):
    """Every constructor parameter's default (seeds included) of each method, for the record."""
    import inspect

    from cdmer.adaptation.methods import get_method

    out = {}
    for name in names:
        signature = inspect.signature(get_method(name).estimator_class.__init__)
        out[name] = {k: p.default for k, p in signature.parameters.items()
                     if k != "self" and p.default is not inspect.Parameter.empty}
    return out


def write_report(records, out_dir, *, config, oracle_metric="uar", plots=True):
    """Write results.json, tables.md, tables.csv and the confusion-matrix PNGs."""
    from pathlib import Path

    out_dir = Path(out_dir)
    selections = {}
    for rule in RULES:
        chosen = select(records, rule, oracle_metric=oracle_metric)
        selections[rule] = [{"experiment": e, "method": m, "params": r["params"], "war": r["war"],
                             "uar": r["uar"]} for (e, m), r in chosen.items()]
    atomic.write_json(out_dir / "results.json", {
        "config": config,
        "versions": versions(),
        "method_defaults": method_defaults(sorted({r["method"] for r in records})),
        "oracle_metric": oracle_metric,
        "selections": selections,
        "points": records,
    })
    header = (f"# Cross-database results\n\nGenerated by `cdmer` {versions()['cdmer']}. "
              f"Command: `{config.get('command', '')}`\n\n"
              "Selection rules: *oracle* = best grid point on the target labels (what the paper did, "
              f"ranked by {oracle_metric.upper()}); *paper* = the trade-off parameters the paper reports for "
              "that experiment; *fixed* = one setting chosen without target labels, the same for every "
              "experiment.\n\n")
    if config.get("note"):
        header += config["note"] + "\n\n"
    atomic.write_text(out_dir / "tables.md", header + markdown_tables(records, oracle_metric=oracle_metric))
    atomic.write_text(out_dir / "tables.csv", csv_table(records, oracle_metric=oracle_metric))
    if plots:
        from cdmer.evaluation.plots import plot_confusions, plot_grid

        experiments, methods, _ = table_layout(records)
        for rule in ("oracle", "fixed"):
            chosen = select(records, rule, oracle_metric=oracle_metric)
            for e in experiments:
                picked = [(m, chosen[(e, m)]) for m in methods if (e, m) in chosen]
                if picked:
                    plot_confusions(picked, out_dir / f"confusion_{_slug(e)}_{rule}.png",
                                    title=f"{e} ({rule} selection)")
        for e in experiments:
            rs = [r for r in records if r["experiment"] == e and r["method"] == "TSRG"]
            if len({r["params"].get("lam") for r in rs}) > 1 and len({r["params"].get("mu") for r in rs}) > 1:
                plot_grid(rs, out_dir / f"grid_TSRG_{_slug(e)}.png", title=f"TSRG grid, {e}")


def _slug(text):
    return text.replace("->", "_to_").replace(" ", "_").replace("/", "_")
