"""The cross-database protocol of section 4.1.

The source database is labelled, the target unlabelled: every method is
fitted on (source features, source labels, target features) and predicts the
target; the target labels are used only to score. Each method is evaluated
at every point of its parameter grid, and three selection rules are reported
side by side:

``oracle``
    the grid point that scores best on the target labels. This is what the
    paper did (section 4.1 (4): "we use the parameter grid search strategy
    ... and report the best results"); it is optimistic, since a real user has
    no target labels. Points are ranked by UAR, then WAR (``oracle_metric``).
``paper``
    the optimum the paper reports for the corresponding experiment (section
    4.1 (4)(a)-(c)); defined only for the paper's Exp.1-6.
``fixed``
    one setting chosen without target labels, the same for every
    experiment (each method's ``FIXED_PARAMS``).

The gap between *oracle* and *fixed* is what a user without target labels
should expect to lose.

Every grid point is appended to ``results.jsonl`` in the output folder as
soon as it is computed (one complete JSON line, flushed and synced), so an
interrupted run resumes without recomputing: points already on disk for the
same inputs (digests of the feature sets), method and parameters are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cdmer.adaptation.methods import get_method
from cdmer.errors import InputError
from cdmer.evaluation import paper
from cdmer.evaluation.metrics import confusion, uar, war
from cdmer.io.featureset import CLASS_NAMES, FeatureSet

RULES = ("oracle", "paper", "fixed")


@dataclass
class Experiment:
    """One source -> target pair."""

    source: FeatureSet
    target: FeatureSet

    @property
    def name(self):
        return f"{self.source.database}->{self.target.database}"

    @property
    def paper_number(self):
        return paper.experiment_number(self.source.database, self.target.database)

    def check(self):
        """Raise :class:`InputError` for a pair the protocol cannot run."""
        s, t = self.source, self.target
        if s.labels is None:
            raise InputError("the source must be labelled", path=s.source, field="labels")
        if t.labels is None:
            raise InputError("the target needs labels to be scored (they are never used for fitting)",
                             path=t.source, field="labels")
        if s.n_features != t.n_features:
            raise InputError(f"{s.n_features} features in the source ({s.database}) but {t.n_features} in "
                             f"the target ({t.database}); both must be extracted with the same settings",
                             path=t.source, field="X")
        if t.n_samples == 0:
            raise InputError("the target has no samples", path=t.source, field="X")
        if len(s.classes) < 2:
            raise InputError(f"the source has one class only ({', '.join(s.classes)})",
                             path=s.source, field="labels")


def digest(fs: FeatureSet):
    """A short content hash of a feature set (features and labels)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(fs.X).tobytes())
    h.update(json.dumps([] if fs.labels is None else fs.labels.tolist()).encode())
    return h.hexdigest()[:16]


def params_key(params):
    return json.dumps(params, sort_keys=True)


def points_for(method, experiment, grid="full", overrides=None, custom=None):
    """The parameter points evaluated for one method and experiment.

    ``grid="full"`` is the method's whole grid; ``grid="quick"`` only the
    fixed setting. ``custom`` (parameter name -> list of values) replaces the
    grid by the product of those values. The fixed setting and the paper's
    optimum (when the experiment is one of the paper's) are always added.
    ``overrides`` (a dict) is merged into every point, e.g.
    ``{"solver": "exact"}``.
    """
    if grid not in ("full", "quick"):
        raise InputError(f"grid must be 'full' or 'quick', got {grid!r}", field="grid")
    if custom:
        import itertools

        names = list(custom)
        points = [dict(zip(names, values)) for values in itertools.product(*(custom[n] for n in names))]
    else:
        points = method.grid if grid == "full" else []
    points = points + [method.fixed]
    optimum = paper.OPTIMA.get(method.name, {}).get(experiment.paper_number)
    if optimum:
        points.append(dict(optimum))
    seen, unique = set(), []
    for p in points:
        p = {**p, **(overrides or {})}
        if params_key(p) not in seen:
            seen.add(params_key(p))
            unique.append(p)
    return unique


class ResultStore:
    """Append-only JSON-lines store of grid-point results; the resume mechanism."""

    def __init__(self, path):
        self.path = Path(path)
        self.records = []
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        self.records.append(json.loads(line))
                    except json.JSONDecodeError:
                        break  # a line cut by an interruption: recomputed
        self._keys = {self.key(r) for r in self.records}

    @staticmethod
    def key(record):
        return (record["source_digest"], record["target_digest"], record["method"],
                params_key(record["params"]))

    def __contains__(self, key):
        return key in self._keys

    def add(self, record):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records.append(record)
        self._keys.add(self.key(record))


def run_protocol(experiments, method_names, out_dir, *, grid="full", overrides=None, custom=None,
                 n_jobs=1, progress=True):
    """Evaluate every method on every experiment; return the current records.

    Parameters
    ----------
    experiments : list of Experiment
    method_names : list of str
        Names from :data:`cdmer.adaptation.methods.METHODS`.
    out_dir : path
        Where ``results.jsonl`` accumulates (and is resumed from).
    grid : {"full", "quick"}
    overrides : dict, optional
        Method name -> parameters merged into each of its points.
    custom : dict, optional
        Method name -> {parameter: values}: a grid replacing the method's own.
    n_jobs : int
        Parallel jobs inside a method's grid.
    """
    from tqdm.auto import tqdm

    methods = [get_method(m) for m in method_names]
    for e in experiments:
        e.check()
    store = ResultStore(Path(out_dir) / "results.jsonl")
    plan = []
    for e in experiments:
        ds, dt = digest(e.source), digest(e.target)
        for m in methods:
            points = points_for(m, e, grid, (overrides or {}).get(m.name), (custom or {}).get(m.name))
            todo = [p for p in points if (ds, dt, m.name, params_key(p)) not in store]
            plan.append((e, m, ds, dt, points, todo))
    total = sum(len(p[4]) for p in plan)
    done = total - sum(len(p[5]) for p in plan)
    bar = tqdm(total=total, initial=done, desc="grid points", unit="pt", disable=not progress,
               dynamic_ncols=True)
    current = []
    for e, m, ds, dt, points, todo in plan:
        bar.set_postfix_str(f"{e.name} {m.name}", refresh=True)
        if todo:
            kwargs = {"n_jobs": n_jobs} if _accepts_n_jobs(m) else {}
            for params, y_pred, info in m.grid_predict(e.source.X, e.source.labels, e.target.X, todo,
                                                       **kwargs):
                store.add(_record(e, m, ds, dt, params, y_pred, info))
                bar.update(1)
        keys = {params_key(p) for p in points}
        current.extend(r for r in store.records
                       if r["source_digest"] == ds and r["target_digest"] == dt and r["method"] == m.name
                       and params_key(r["params"]) in keys)
    bar.close()
    return current


def _accepts_n_jobs(method):
    import inspect

    fn = getattr(method.estimator_class, "grid_predict", None)
    return fn is not None and "n_jobs" in inspect.signature(fn).parameters


def _record(e, m, ds, dt, params, y_pred, info):
    """One grid point's record; a failed point (``y_pred is None``) has no scores."""
    y_true = e.target.labels
    classes = [c for c in CLASS_NAMES if c in set(e.source.classes) | set(e.target.classes)]
    classes += sorted((set(e.source.classes) | set(e.target.classes)) - set(classes))
    if y_pred is None:
        matrix, scores = None, (None, None)
    else:
        y_pred = np.asarray(y_pred).astype(str)
        matrix, classes = confusion(y_true, y_pred, classes)
        matrix, y_pred = matrix.tolist(), y_pred.tolist()
        scores = (war(y_true, y_pred), uar(y_true, y_pred))
    return {
        "experiment": e.name,
        "paper_experiment": e.paper_number,
        "source": e.source.database,
        "target": e.target.database,
        "source_digest": ds,
        "target_digest": dt,
        "method": m.name,
        "params": params,
        "war": scores[0],
        "uar": scores[1],
        "classes": classes,
        "confusion": matrix,
        "y_pred": y_pred,
        "info": _jsonable(info),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _jsonable(info):
    out = {}
    for k, v in dict(info).items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (np.floating,)):
            v = float(v)
        elif isinstance(v, (np.bool_,)):
            v = bool(v)
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        out[k] = v
    return out


def select(records, rule, *, oracle_metric="uar"):
    """Pick one record per (experiment, method) by a selection rule.

    Returns ``{(experiment, method): record}``; under ``paper``, methods
    without a reported optimum for that experiment are absent, except those
    without a trade-off parameter (one point: their only record). Failed
    points (no scores) are never selected.
    """
    if rule not in RULES:
        raise InputError(f"unknown selection rule {rule!r} (expected one of {', '.join(RULES)})")
    groups = {}
    for r in records:
        if r["war"] is None:
            continue
        groups.setdefault((r["experiment"], r["method"]), []).append(r)
    chosen = {}
    for (exp, name), rs in groups.items():
        method = get_method(name)
        if rule == "oracle":
            order = {"uar": lambda r: (r["uar"], r["war"]), "war": lambda r: (r["war"], r["uar"]),
                     "mean": lambda r: (r["war"] + r["uar"], r["uar"])}[oracle_metric]
            chosen[(exp, name)] = max(rs, key=order)  # max keeps the first of ties: grid order
            continue
        if rule == "fixed":
            want = method.fixed
        else:
            optimum = paper.OPTIMA.get(name, {}).get(rs[0]["paper_experiment"])
            if optimum is None:
                if name in paper.OPTIMA:
                    continue
                want = method.fixed
            else:
                want = optimum
        match = [r for r in rs if all(r["params"].get(k) == v for k, v in want.items())]
        if match:
            chosen[(exp, name)] = match[0]
    return chosen
