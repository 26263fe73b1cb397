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
from json.encoder import encode_basestring_ascii as _json_str
from pathlib import Path

from cdmer.evaluation import benchmark, paper
from cdmer.evaluation.protocol import ORACLE_RULES, RULES, RecordIndex, missing_reason, validator_score
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


def index_layout(index):
    """:func:`table_layout` of an index's records, from one record per (experiment, method): the same
    rows, columns and experiment facts (they are constant within a group) without a pass over all records."""
    return table_layout([rs[0] for rs in index.groups.values()])


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


def markdown_tables(records, *, oracle_metric="uar", validator=None, title_suffix="", index=None):
    """The Markdown report: every rule x metric table, the chosen parameters, failures as footnotes.

    ``index``: a :class:`~cdmer.evaluation.protocol.RecordIndex` of ``records`` to share selections.
    """
    index = RecordIndex(records) if index is None else index
    experiments, methods, info = index_layout(index)
    notes = Footnotes()
    out = io.StringIO()
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = index.select(rule, oracle_metric=oracle_metric, validator=validator)
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
                        status, reason = index.missing_reason(e, m, rule, validator)
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


def csv_table(records, *, oracle_metric="uar", validator=None, synthetic=False, index=None):
    """One CSV row per (rule, experiment, method): WAR, UAR, M-F1 (%), parameters.

    ``status`` is ``ok``, ``failed`` (every point failed; ``note`` gives the
    reason) or ``n/a``; ``validator`` names the label-free rule's validator;
    ``synthetic`` is ``true`` on every row of a run on synthetic data.
    ``index``: a :class:`~cdmer.evaluation.protocol.RecordIndex` of ``records`` to share selections.
    """
    index = RecordIndex(records) if index is None else index
    experiments, methods, info = index_layout(index)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = index.select(rule, oracle_metric=oracle_metric, validator=validator)
        for e in experiments:
            src, tgt, number = info[e]
            for m in methods:
                if not index.group(e, m):
                    continue
                r = chosen.get((e, m))
                head = [rule, validator if rule == "label-free" else "", number or "",
                        benchmark.task_name(src, tgt) or "", src, tgt, m]
                if r is None:
                    status, reason = index.missing_reason(e, m, rule, validator)
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


def write_report(records, out_dir, *, config, oracle_metric="uar", validator=None, plots=True, index=None,
                 jobs=1):
    """Write results.json, tables.md, tables.csv and the figures (confusion matrices, grid heat maps).

    ``index``: a :class:`~cdmer.evaluation.protocol.RecordIndex` of ``records`` (built here when not
    given), so that every part of the report shares one grouping and one selection per rule.
    results.json is streamed by :func:`write_json_streamed` (the same bytes as ``json.dumps(..., indent=2)``).
    ``jobs``: processes drawing the figures (:func:`write_figures`).
    """
    from cdmer.evaluation import validators as V

    out_dir = Path(out_dir)
    index = RecordIndex(records) if index is None else index
    synthetic = bool(config.get("synthetic"))
    mark = " [SYNTHETIC DATA]" if synthetic else ""
    selections = {}
    for rule in RULES:
        if rule == "label-free" and not validator:
            continue
        chosen = index.select(rule, oracle_metric=oracle_metric, validator=validator)
        selections[rule] = [{"experiment": e, "method": m, "params": r["params"], "war": r["war"], "uar": r["uar"],
                             "mf1": r["mf1"], "origin": r.get("origin"),
                             **({"validator": validator, "score": validator_score(r, validator)}
                                if rule == "label-free" else {})}
                            for (e, m), r in chosen.items()]
    experiments, methods, _ = index_layout(index)
    failed = {}
    for e in experiments:
        for m in methods:
            status, reason = index.missing_reason(e, m, "oracle")
            if status == "failed":
                failed.setdefault(m, {})[e] = reason
    defaults = method_defaults(methods)
    write_json_streamed(out_dir / "results.json", {
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
        records, oracle_metric=oracle_metric, validator=validator, title_suffix=mark, index=index))
    atomic.write_text(out_dir / "tables.csv", csv_table(records, oracle_metric=oracle_metric, validator=validator,
                                                        synthetic=synthetic, index=index))
    if plots:
        write_figures(records, out_dir, oracle_metric=oracle_metric, validator=validator, mark=mark, index=index,
                      jobs=jobs)


#: The record fields the figures read (what a figure drawn in another process is sent).
FIGURE_FIELDS = ("params", "war", "uar", "mf1", "classes", "confusion")


def write_figures(records, out_dir, *, oracle_metric="uar", validator=None, mark="", index=None, jobs=1):
    """confusion_<exp>_<rule>.png per rule and grid_<method>_<exp>.png per method with a grid.

    With ``jobs`` other than 1 the figures are drawn by that many local
    processes (:func:`cdmer.parallel.get_executor`), each sent only the
    fields of :data:`FIGURE_FIELDS`: drawing is most of a report's time (the
    whole table has about 90 figures, a second or more each), and the
    figures are independent. The files are those of ``jobs=1``.
    """
    from cdmer.evaluation.plots import grid_axes

    out_dir = Path(out_dir)
    index = RecordIndex(records) if index is None else index
    experiments, methods, _ = index_layout(index)
    rules = [r for r in ("oracle", "fixed", "label-free") if r != "label-free" or validator]
    chosen = {rule: index.select(rule, oracle_metric=oracle_metric, validator=validator) for rule in rules}
    figures = []  # (kind, records, path, options), drawn below
    for rule in rules:
        for e in experiments:
            picked = [(m, chosen[rule][(e, m)]) for m in methods if (e, m) in chosen[rule]]
            if picked:
                figures.append(("confusions", picked, out_dir / f"confusion_{_slug(e)}_{_slug(rule)}.png",
                                {"title": f"{e}, {rule} selection"
                                          + (f" (validator {validator})" if rule == "label-free" else "")
                                          + (" (on the target labels)" if rule in ORACLE_RULES else "") + mark}))
    for e in experiments:
        for m in methods:
            rs = index.group(e, m)
            if not rs or grid_axes(rs) is None:
                continue
            marks = {rule: chosen[rule].get((e, m)) for rule in rules}
            figures.append(("grid", rs, out_dir / f"grid_{_slug(m)}_{_slug(e)}.png",
                            {"marks": marks, "title": f"{m} grid, {e}{mark}", "validator": validator}))
    if jobs == 1 or len(figures) < 2:
        for figure in figures:
            _draw_figure(*figure)
        return
    from cdmer.parallel import get_executor

    with get_executor(jobs) as ex:
        for _, result in ex.imap_unordered(_draw_figure, [_slim_figure(*f) for f in figures]):
            if isinstance(result, BaseException):
                raise result


def _slim(record):
    return None if record is None else {k: record[k] for k in FIGURE_FIELDS if k in record}


def _slim_figure(kind, items, path, options):
    """A figure's arguments with only the fields it reads (to send it to another process)."""
    if kind == "confusions":
        return kind, [(m, _slim(r)) for m, r in items], path, options
    return kind, [_slim(r) for r in items], path, {**options, "marks": {k: _slim(r) for k, r in
                                                                        options["marks"].items()}}


def _draw_figure(kind, items, path, options):
    """Draw one figure of :func:`write_figures` (``kind`` "confusions" or "grid")."""
    from cdmer.evaluation.plots import plot_confusions, plot_grid

    if kind == "confusions":
        plot_confusions(items, path, **options)
    else:
        plot_grid(items, path, **options)


def _slug(text):
    return text.replace("->", "_to_").replace(" ", "_").replace("/", "_").replace("-", "_")


# ------------------------------------------------------------------ results.json
def write_json_streamed(path, obj):
    """Write ``obj`` atomically as ``json.dumps(obj, indent=2, default=atomic.json_default) + "\\n"`` would.

    The same bytes, written piece by piece: each value of the top-level dict
    is encoded on its own, and a list value (the run's ``points``) item by
    item, so the whole document (510 MB for the whole table: every point's
    ``y_pred`` one label per line) is never one string in memory. With
    ``indent`` set, ``json.dumps`` runs the pure-Python encoder (a generator
    per nested value, a yield per token); :func:`_json_indented` joins lists
    of strings with the C string encoder instead, which is most of the
    bytes. The output equals ``json.dumps``' (tests/test_reports.py).
    """
    with atomic.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", buffering=1 << 20) as fh:
        if not isinstance(obj, dict) or not obj:
            fh.write(_json_indented(obj, 0) + "\n")
            return
        first = True
        for key, value in obj.items():
            fh.write(("{" if first else ",") + "\n  " + _json_key(key) + ": ")
            first = False
            if isinstance(value, (list, tuple)) and value:
                for i, item in enumerate(value):
                    fh.write(("[" if i == 0 else ",") + "\n    " + _json_indented(item, 2))
                fh.write("\n  ]")
            else:
                fh.write(_json_indented(value, 1))
        fh.write("\n}\n")


_INFINITY = float("inf")


def _json_float(value):
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _json_key(key):
    """A dict key as ``json.dumps`` writes it (str, float, bool, None, int; anything else is an error)."""
    if isinstance(key, str):
        return _json_str(key)
    if isinstance(key, float):
        return _json_str(_json_float(key))
    if key is True or key is False or key is None:
        return _json_str({True: "true", False: "false", None: "null"}[key])
    if isinstance(key, int):
        return _json_str(int.__repr__(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _json_bool(value):
    return "true" if value else "false"


def _json_null(value):
    return "null"


#: encoders of the exact scalar types (a subclass, e.g. NumPy's float64, takes the isinstance path below)
_JSON_SCALARS = {str: _json_str, int: int.__repr__, float: _json_float, bool: _json_bool, type(None): _json_null}


def _json_indented(value, level):
    """``value`` as ``json.dumps(value, indent=2)`` writes it when nested ``level`` deep (same type tests,
    in the same order, as the standard library's encoder; unknown types through ``atomic.json_default``).

    Exact scalar types are dispatched by a dict; a list whose items are all of one scalar type (y_pred,
    a confusion matrix row) is encoded by one ``map`` and one ``join``.
    """
    scalar = _JSON_SCALARS.get(type(value))
    if scalar is not None:
        return scalar(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = "\n" + "  " * (level + 1)
        kinds = set(map(type, value))
        scalar = _JSON_SCALARS.get(kinds.pop()) if len(kinds) == 1 else None
        if scalar is not None:
            body = ("," + inner).join(map(scalar, value))
        else:
            body = ("," + inner).join([_json_indented(v, level + 1) for v in value])
        return "[" + inner + body + "\n" + "  " * level + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + "  " * (level + 1)
        return ("{" + inner + ("," + inner).join([(_json_str(k) if type(k) is str else _json_key(k)) + ": "
                                                  + _json_indented(v, level + 1) for k, v in value.items()])
                + "\n" + "  " * level + "}")
    if isinstance(value, str):
        return _json_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _json_float(value)
    return _json_indented(atomic.json_default(value), level)
