"""Reports of a protocol run: results.json, tables laid out like Tables 2 and 3, CSV, figures.

Rows are experiments (source -> target), columns are methods, values are
percentages with two decimals, as in the paper. One table per metric (WAR,
UAR, M-F1) and selection rule (oracle, paper, fixed, label-free). Beneath an
experiment that is one of the paper's (Exp.1-6), the paper's own WAR (Table
2) and UAR (Table 3) are printed; beneath one of the cross-database
benchmark's tasks (TYPE-I / TYPE-II, Zhang, Zong et al., TKDE 2022), its
published accuracy (beside our WAR) and M-F1. Everything is built from the
records in plan order, so reports do not depend on the order in which
results arrived. A cell is ``failed`` when every point of that method failed
in that experiment, with the reason in a footnote.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from cdmer.evaluation import benchmark, paper
from cdmer.evaluation.protocol import ORACLE_RULES, RULES, missing_reason, select, validator_score
from cdmer.io import atomic
from cdmer.io.provenance import versions

METRICS = (("war", "WAR"), ("uar", "UAR"), ("mf1", "M-F1"))
#: The methods' column order: the paper's Tables 2-3 first, then the benchmark's.
METHOD_ORDER = paper.METHOD_ORDER + ("DRFS-T", "DRLS", "TGSR", "TCA", "GFK", "SA", "CORAL", "TKL")

RULE_TEXT = {
    "oracle": "best point on the target labels (what the paper did; looks at the target labels)",
    "paper": "the trade-off parameters the paper reports for that experiment (chosen on the target labels)",
    "fixed": "one setting chosen without target labels, the same for every experiment",
    "label-free": "the grid point with the best score of a label-free validator (no target label)",
}


def ordered(names, order):
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def table_layout(records):
    """Rows (experiments: the paper's Exp. order, then the benchmark's, then the rest in plan order),
    columns (methods, the paper's order first) and each experiment's (source, target, paper Exp. number)."""
    experiments, methods = [], []
    for r in records:
        if r["experiment"] not in experiments:
            experiments.append(r["experiment"])
        if r["method"] not in methods:
            methods.append(r["method"])
    info = {r["experiment"]: (r["source"], r["target"], r["paper_experiment"]) for r in records}
    tasks = list(benchmark.TYPE1) + list(benchmark.TYPE2)

    def rank(e):
        src, tgt, number = info[e]
        task = benchmark.task_name(src, tgt)
        return (number or 99, tasks.index(task) if task else 99, experiments.index(e))

    return sorted(experiments, key=rank), ordered(methods, METHOD_ORDER), info


class Footnotes:
    """Numbered Markdown footnotes, one per distinct text."""

    def __init__(self):
        self.texts = []

    def mark(self, text):
        if text not in self.texts:
            self.texts.append(text)
        return f"[^{self.texts.index(text) + 1}]"

    def render(self):
        return "".join(f"[^{i}]: {t}\n" for i, t in enumerate(self.texts, start=1))


def _rule_title(rule, validator):
    if rule == "label-free":
        return f"label-free (validator {validator})"
    return rule + (" (chosen on the target labels)" if rule in ORACLE_RULES else "")


def markdown_tables(records, *, oracle_metric="uar", validator=None, title_suffix=""):
    """The Markdown report: every rule x metric table, the chosen parameters, failures as footnotes."""
    experiments, methods, info = table_layout(records)
    notes = Footnotes()
    out = io.StringIO()
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = select(records, rule, oracle_metric=oracle_metric, validator=validator)
        for key, label in METRICS:
            out.write(f"### {label} (%), selection: {_rule_title(rule, validator)}{title_suffix}\n\n")
            out.write("| # | Source Database | Target Database | " + " | ".join(methods) + " |\n")
            out.write("|---|---|---|" + "---:|" * len(methods) + "\n")
            printed = []
            for e in experiments:
                src, tgt, number = info[e]
                cells = []
                for m in methods:
                    r = chosen.get((e, m))
                    if r is None:
                        status, reason = missing_reason(records, e, m, rule, validator)
                        cells.append(status + (notes.mark(f"{m}, {e}: {reason}") if reason else ""))
                    else:
                        cells.append(f"{100 * r[key]:.2f}")
                task = benchmark.task_name(src, tgt)
                tag = f"Exp.{number}" if number else (task or "-")
                out.write(f"| {tag} | {src} | {tgt} | " + " | ".join(cells) + " |\n")
                reference = {"war": paper.TABLE2_WAR, "uar": paper.TABLE3_UAR}.get(key)
                if number and reference:
                    ref = reference[number]
                    name = "Table 2" if key == "war" else "Table 3"
                    out.write(f"| Exp.{number} (paper {name}) | | | "
                              + " | ".join(f"{ref[m]:.2f}" if m in ref else "" for m in methods) + " |\n")
                published = benchmark.published(src, tgt)
                field = {"war": "accuracy", "mf1": "mf1"}.get(key)
                if published and field and any(m in published for m in methods):
                    scale = 100 if field == "mf1" else 1
                    out.write(f"| {task} (benchmark {'M-F1' if field == 'mf1' else 'accuracy'}) | | | "
                              + " | ".join(f"{scale * published[m][field]:.1f}" if m in published else ""
                                           for m in methods) + " |\n")
                    printed += [n for n in benchmark.notes(src, tgt, field) if n.split(" ")[0] in methods]
            out.write("\n")
            if printed:
                out.write("".join(f"Note: {n}\n" for n in printed) + "\n")
        params = []
        for e in experiments:
            for m in methods:
                r = chosen.get((e, m))
                if r is not None and r["params"]:
                    text = ", ".join(f"{k}={v}" for k, v in r["params"].items())
                    if rule == "label-free":
                        text += f" (score {validator_score(r, validator):.4g})" \
                            if validator_score(r, validator) is not None else ""
                    params.append(f"{e} {m}: {text}")
        if params:
            out.write(f"Parameters selected ({rule}):\n\n" + "".join(f"- {p}\n" for p in params) + "\n")
    failed = [r for r in records if r["war"] is None]
    if failed:
        out.write(f"### Failed grid points ({len(failed)})\n\n")
        for r in failed:
            out.write(f"- {r['experiment']} {r['method']} {_params_text(r['params'])}: {_error(r)}\n")
        out.write("\n")
    if notes.texts:
        out.write(notes.render() + "\n")
    return out.getvalue()


def _error(record):
    return record.get("error") or (record.get("info") or {}).get("error") or "unknown"


def missing_cell(records, experiment, method, rule="oracle", validator=None):
    """Text of an empty cell: 'failed' when every point of the method failed, else 'n/a'."""
    return missing_reason(records, experiment, method, rule, validator)[0]


CSV_COLUMNS = ("rule", "validator", "paper_experiment", "benchmark_task", "source", "target", "method", "status",
               "war", "uar", "mf1", "params", "note", "synthetic")


def csv_table(records, *, oracle_metric="uar", validator=None, synthetic=False):
    """One CSV row per (rule, experiment, method): WAR, UAR, M-F1 (%), parameters.

    ``status`` is ``ok``, ``failed`` (every point failed; ``note`` gives the
    reason) or ``n/a``; ``validator`` names the label-free rule's validator;
    ``synthetic`` is ``true`` on every row of a run on synthetic data.
    """
    experiments, methods, info = table_layout(records)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = select(records, rule, oracle_metric=oracle_metric, validator=validator)
        for e in experiments:
            src, tgt, number = info[e]
            for m in methods:
                if not any(r["experiment"] == e and r["method"] == m for r in records):
                    continue
                r = chosen.get((e, m))
                head = [rule, validator if rule == "label-free" else "", number or "",
                        benchmark.task_name(src, tgt) or "", src, tgt, m]
                if r is None:
                    status, reason = missing_reason(records, e, m, rule, validator)
                    w.writerow(head + [status, "", "", "", "", reason, str(bool(synthetic)).lower()])
                else:
                    w.writerow(head + ["ok"] + [f"{100 * r[k]:.2f}" for k, _ in METRICS]
                               + [_params_text(r["params"]), "", str(bool(synthetic)).lower()])
    return out.getvalue()


def _params_text(params):
    return json.dumps(params, sort_keys=True)


def method_defaults(names):
    """Every parameter's default (seeds included) of each method, for the record.

    From the array-API estimator's ``get_params()`` when the method has one,
    else from the DA estimator ``build()`` returns (the scalar parameters of
    its steps, by their nested names, e.g. ``subspacealignmentadapter__n_components``).
    """
    from cdmer.da.registry import get_method
    from cdmer.evaluation.protocol import _jsonable

    out = {}
    for name in names:
        spec = get_method(name)
        try:
            if spec.estimator is not None:
                params = spec.estimator().get_params(deep=False)
            else:  # a DA pipeline: its steps' own parameters, by their nested names
                params = {k: v for k, v in spec.build().get_params(deep=True).items()
                          if v is None or isinstance(v, (bool, int, float, str))}
            out[name] = _jsonable(params)
        except Exception as exc:  # recorded, not fatal: the report must still be written
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def seeds(defaults):
    """The random seeds among the methods' defaults: ``{method: {parameter: value}}``."""
    def is_seed(key):
        return key.split("__")[-1] in ("random_state", "seed")

    return {m: {k: v for k, v in params.items() if is_seed(k)}
            for m, params in defaults.items() if any(is_seed(k) for k in params)}


def write_report(records, out_dir, *, config, oracle_metric="uar", validator=None, plots=True):
    """Write results.json, tables.md, tables.csv and the figures (confusion matrices, grid heat maps)."""
    from cdmer.evaluation import validators as V

    out_dir = Path(out_dir)
    synthetic = bool(config.get("synthetic"))
    mark = " [SYNTHETIC DATA]" if synthetic else ""
    selections = {}
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = select(records, rule, oracle_metric=oracle_metric, validator=validator)
        selections[rule] = [{"experiment": e, "method": m, "params": r["params"], "war": r["war"], "uar": r["uar"],
                             "mf1": r["mf1"], "origin": r.get("origin"),
                             **({"validator": validator, "score": validator_score(r, validator)}
                                if rule == "label-free" else {})}
                            for (e, m), r in chosen.items()]
    experiments, methods, _ = table_layout(records)
    failed = {}
    for e in experiments:
        for m in methods:
            status, reason = missing_reason(records, e, m, "oracle")
            if status == "failed":
                failed.setdefault(m, {})[e] = reason
    defaults = method_defaults(methods)
    atomic.write_json(out_dir / "results.json", {
        "config": config,
        "synthetic": synthetic,
        "versions": versions(),
        "method_defaults": defaults,
        "seeds": {**({"data": config["seed"]} if "seed" in config else {}), "methods": seeds(defaults)},
        "oracle_metric": oracle_metric,
        "validator": validator,
        "validators": {n: {"citation": v.citation, "cost": getattr(v, "cost", None)}
                       for n, v in V.VALIDATORS.items()},
        "rules": {r: RULE_TEXT[r] for r in selections},
        "selections": selections,
        "failed_methods": failed,
        "points": records,
    })
    header = (f"# Cross-database results{mark}\n\nGenerated by `cdmer` {versions()['cdmer']}. "
              f"Command: `{config.get('command', '')}`\n\n"
              "Selection rules: "
              + "; ".join(f"*{r}* = {RULE_TEXT[r]}" for r in selections)
              + f". The oracle ranks points by {oracle_metric.upper()}"
              + (f"; the label-free validator is `{validator}`" if validator else "") + ". "
              "Beside ours: the paper's Tables 2-3 (Exp.1-6) and the cross-database benchmark's published "
              f"accuracy and M-F1 ({benchmark.CITATION}) where it reports the task.\n\n")
    if config.get("note"):
        header += config["note"] + "\n\n"
    atomic.write_text(out_dir / "tables.md", header + markdown_tables(
        records, oracle_metric=oracle_metric, validator=validator, title_suffix=mark))
    atomic.write_text(out_dir / "tables.csv", csv_table(records, oracle_metric=oracle_metric, validator=validator,
                                                        synthetic=synthetic))
    if plots:
        write_figures(records, out_dir, oracle_metric=oracle_metric, validator=validator, mark=mark)


def write_figures(records, out_dir, *, oracle_metric="uar", validator=None, mark=""):
    """confusion_<exp>_<rule>.png per rule and grid_<method>_<exp>.png per method with a grid."""
    from cdmer.evaluation.plots import grid_axes, plot_confusions, plot_grid

    out_dir = Path(out_dir)
    experiments, methods, _ = table_layout(records)
    rules = [r for r in ("oracle", "fixed", "label-free") if r != "label-free" or validator]
    chosen = {rule: select(records, rule, oracle_metric=oracle_metric, validator=validator) for rule in rules}
    for rule in rules:
        for e in experiments:
            picked = [(m, chosen[rule][(e, m)]) for m in methods if (e, m) in chosen[rule]]
            if picked:
                plot_confusions(picked, out_dir / f"confusion_{_slug(e)}_{_slug(rule)}.png",
                                title=f"{e}, {rule} selection"
                                      + (f" (validator {validator})" if rule == "label-free" else "")
                                      + (" (on the target labels)" if rule in ORACLE_RULES else "") + mark)
    for e in experiments:
        for m in methods:
            rs = [r for r in records if r["experiment"] == e and r["method"] == m]
            if grid_axes(rs) is None:
                continue
            marks = {rule: chosen[rule].get((e, m)) for rule in rules}
            plot_grid(rs, out_dir / f"grid_{_slug(m)}_{_slug(e)}.png", marks=marks,
                      title=f"{m} grid, {e}{mark}", validator=validator)


def _slug(text):
    return text.replace("->", "_to_").replace(" ", "_").replace("/", "_").replace("-", "_")
