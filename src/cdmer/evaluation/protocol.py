"""The cross-database protocol of section 4.1.

The source database is labelled, the target unlabelled: every method is
fitted on (source features, source labels, target features) and predicts the
target; the target labels are used only to score. Each method is evaluated
at every point of its parameter grid, and four selection rules are reported
side by side:

``oracle``
    the grid point that scores best on the target labels. This is what the
    paper did (section 4.1 (4): "we use the parameter grid search strategy
    ... and report the best results"); it is optimistic, since a real user has
    no target labels. Points are ranked by UAR, then WAR (``oracle_metric``);
    ties go to the first point in grid order.
``paper``
    the optimum the paper reports for the corresponding experiment (section
    4.1 (4)(a)-(c)); defined only for the paper's Exp.1-6. The paper chose it
    on the target labels too.
``fixed``
    one setting chosen without target labels, the same for every
    experiment (the registry's ``MethodSpec.fixed``).
``label-free``
    the grid point (or the fixed one) with the best score of a label-free
    validator (:mod:`cdmer.evaluation.validators`), computed from the source
    labels and the unlabelled target only; ties go to grid order.

The gap between *oracle* and *label-free* / *fixed* is what a user without
target labels should expect to lose.

Execution (see ``docs/architecture.md``): the plan is experiments x methods x
points. Points are grouped into tasks by the method's ``task_key`` (default:
one point per task, so points come back as each one finishes); tasks of any
methods and experiments with an equal ``work_key`` (TSRG on A -> B and
DRFS-T on B -> A: the same homotopy paths) run as one task that computes
their shared result once (:func:`evaluate_together`). Feature
matrices are scattered once to the executor; a task carries handles and
parameters, runs :func:`cdmer.da.registry.evaluate_points` and the
validators in the worker, and never receives the target labels. The client
scores each point against the target labels and appends a task's points to
``results.jsonl`` as they arrive (complete JSON lines, one write, flushed and
synced once per task), so an interrupted run resumes without recomputing:
points already on disk for the same inputs (digests of the feature sets),
method and parameters are skipped. The records returned, and everything built from them, are in plan
order, never in completion order: results do not depend on ``--jobs`` or on
the cluster.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from cdmer.errors import InputError
from cdmer.evaluation import benchmark, paper
from cdmer.evaluation.metrics import confusion, scores as score_metrics
from cdmer.io.featureset import FeatureSet, class_order

RULES = ("oracle", "paper", "fixed", "label-free")
ORACLE_RULES = ("oracle", "paper")  # the rules that looked at results on the target labels

#: Named experiment sets of ``cdmer evaluate --experiments``: name -> (source, target) pairs.
EXPERIMENT_SETS = {
    "paper": tuple(paper.EXPERIMENTS.values()),
    "type1": tuple(benchmark.TYPE1.values()),
    "type2": tuple(benchmark.TYPE2.values()),
}


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

    def warnings(self):
        """Messages about a pair that runs but whose scores mean little."""
        out = []
        n_classes = len(set(self.source.classes) | set(self.target.classes))
        if self.target.n_samples < n_classes:
            out.append(f"{self.name}: the target has {self.target.n_samples} sample(s) for {n_classes} classes; "
                       "its WAR, UAR and M-F1 say little about the method")
        return out


def experiment_pairs(names, requests=None):
    """Resolve ``--experiments`` into (source, target) pairs of the given database names.

    Parameters
    ----------
    names : sequence of str
        Database names of the feature sets at hand.
    requests : sequence of str, optional
        Named sets (``paper``, ``type1``, ``type2``, ``all``) and explicit
        ``SOURCE:TARGET`` pairs; default ``["all"]`` (every ordered pair).

    Returns
    -------
    pairs : list of (str, str)
        In request order, without duplicates.
    skipped : list of str
        ``"SOURCE->TARGET"`` of named-set pairs whose feature sets are absent.
    """
    names = list(names)
    canonical = {paper._canonical(n): n for n in names}
    pairs, skipped = [], []
    for text in requests or ["all"]:
        key = text.strip().lower()
        if key == "all":
            wanted = list(itertools.permutations(names, 2))
        elif key in EXPERIMENT_SETS:
            wanted = []
            for s, t in EXPERIMENT_SETS[key]:
                if s in canonical and t in canonical:
                    wanted.append((canonical[s], canonical[t]))
                elif f"{s}->{t}" not in skipped:
                    skipped.append(f"{s}->{t}")
        else:
            src, sep, tgt = text.partition(":")
            src = canonical.get(paper._canonical(src), src) if sep else src
            tgt = canonical.get(paper._canonical(tgt), tgt) if sep else tgt
            if not sep or src not in names or tgt not in names or src == tgt:
                raise InputError(f"expected {', '.join(list(EXPERIMENT_SETS) + ['all'])} or SOURCE:TARGET with two "
                                 f"different names among {', '.join(names)}, got {text!r}", field="--experiments")
            wanted = [(src, tgt)]
        pairs += [p for p in wanted if p not in pairs]
    return pairs, skipped


def digest(fs: FeatureSet):
    """A short content hash of a feature set (features and labels)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(fs.X).tobytes())
    h.update(json.dumps([] if fs.labels is None else fs.labels.tolist()).encode())
    return h.hexdigest()[:16]


def params_key(params):
    return json.dumps(params, sort_keys=True)


def replace_axis(points, name, values):
    """Replace the ``name`` axis of a grid by ``values``, keeping the other axes.

    The other parameters' combinations are kept in grid order; the new axis
    is outermost when ``name`` was the first key of the grid's points (as
    ``lam`` in TSRG's lambda-major grid), innermost otherwise (also for a
    parameter the grid does not vary, which becomes a new axis).
    """
    rest, seen = [], set()
    for p in points or [{}]:
        q = {k: v for k, v in p.items() if k != name}
        if params_key(q) not in seen:
            seen.add(params_key(q))
            rest.append(q)
    outer = bool(points) and next(iter(points[0]), None) == name
    if outer:
        return [{name: v, **q} for v in values for q in rest]
    return [{**q, name: v} for q in rest for v in values]


def points_for(spec, experiment, grid="full", overrides=None, custom=None):
    """The parameter points of one method and experiment, each with its origin.

    ``grid="full"`` is the method's whole grid; ``grid="quick"`` only the
    fixed setting (and the paper's optimum). ``custom`` (parameter name ->
    values, applied in order) replaces one axis of the grid at a time and
    keeps the others (:func:`replace_axis`); a parameter the grid does not
    have becomes a new axis of the grid, and the fixed setting and the
    paper's optimum take its first value (so that each stays one point).
    The fixed setting and the paper's optimum (when the experiment is one of
    the paper's) are always added. ``overrides`` (a
    dict) is merged into every point, e.g. ``{"solver": "exact"}``.

    Returns a list of ``(params, origin)`` in plan order, without duplicates;
    ``origin`` lists where the point comes from: ``"grid"``, ``"fixed"``,
    ``"paper"``.
    """
    if grid not in ("full", "quick"):
        raise InputError(f"grid must be 'full' or 'quick', got {grid!r}", field="grid")
    base = [dict(p) for p in spec.grid] if grid == "full" or custom else []
    fixed = [dict(spec.fixed)]
    optimum = paper.OPTIMA.get(spec.name, {}).get(experiment.paper_number)
    optima = [dict(optimum)] if optimum else []
    grid_names = {k for p in spec.grid for k in p}
    for name, values in (custom or {}).items():
        base = replace_axis(base, name, values)
        if name not in grid_names:  # one fixed setting (and one paper optimum): the new axis's first value
            fixed = replace_axis(fixed, name, values[:1])
            optima = replace_axis(optima, name, values[:1])
    order, origins = [], {}
    for tag, points in (("grid", base), ("fixed", fixed), ("paper", optima)):
        for p in points:
            p = {**p, **(overrides or {})}
            key = params_key(p)
            if key not in origins:
                order.append(p)
                origins[key] = []
            if tag not in origins[key]:
                origins[key].append(tag)
    return [(p, origins[params_key(p)]) for p in order]


# ------------------------------------------------------------------ the store
class ResultStore:
    """Append-only JSON-lines store of grid-point results; the resume mechanism.

    On load, a final line cut by a crash mid-write is removed (the file is
    truncated to its last complete line, with a warning), and an invalid line
    elsewhere is skipped with a warning naming its line number; the lines
    after it are still read.
    """

    REQUIRED = ("source_digest", "target_digest", "method", "params")

    def __init__(self, path):
        self.path = Path(path)
        self.records = []
        self._index = {}
        if self.path.exists():
            self._load()

    def _load(self):
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail.strip():
            try:
                json.loads(tail.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                keep = len(data) - len(tail)
                with open(self.path, "r+b") as fh:
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
                warnings.warn(f"{self.path}: the last line ({len(tail)} bytes, line {len(lines) + 1}) was cut by an "
                              f"interrupted write; truncated the file to its last complete line", stacklevel=3)
            else:
                with open(self.path, "ab") as fh:  # complete but for its newline: finish it
                    fh.write(b"\n")
                lines.append(tail)
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.decode("utf-8"))
                if not isinstance(record, dict) or any(k not in record for k in self.REQUIRED):
                    raise ValueError("not a result record")
            except (UnicodeDecodeError, ValueError) as exc:
                warnings.warn(f"{self.path}: line {number} is not a valid result record ({exc}); skipped",
                              stacklevel=3)
                continue
            self._remember(record)

    def _remember(self, record):
        key = self.key(record)
        if key in self._index:  # a later line for the same point replaces the earlier one
            self.records[self._index[key]] = record
        else:
            self._index[key] = len(self.records)
            self.records.append(record)

    @staticmethod
    def key(record):
        return (record["source_digest"], record["target_digest"], record["method"],
                params_key(record["params"]))

    def __contains__(self, key):
        return key in self._index

    def get(self, key):
        return self.records[self._index[key]]

    #: fields of the current record format; a record without them (an older cdmer's) is recomputed
    CURRENT = ("mf1", "validators", "validator_errors", "error")

    def done(self, key):
        """Whether the point ``key`` is on disk in the current record format (a point whose task failed
        for a reason outside the method, ``transient``, e.g. a lost worker, is computed again)."""
        return (key in self._index and all(k in self.get(key) for k in self.CURRENT)
                and not self.get(key).get("transient"))

    def add(self, record):
        self.add_many([record])

    def add_many(self, records):
        """Append ``records`` (one JSON line each) with one write and one ``fsync``.

        The protocol adds a task's points together: they arrive together, so
        syncing each line on its own (half a millisecond per point, 143,478
        points in the whole table) buys no durability. A crash mid-write
        leaves a cut last line, which :meth:`_load` removes; the points not
        on disk are computed again by the next run.
        """
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(record) + "\n" for record in records)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        for record in records:
            self._remember(record)


# ------------------------------------------------------------------ running
def run_protocol(experiments, methods, out_dir, *, grid="full", overrides=None, custom=None, jobs=1,
                 scheduler=None, validators=None, progress=True):
    """Evaluate every method on every experiment; return the records in plan order.

    Parameters
    ----------
    experiments : list of Experiment
    methods : list of str or MethodSpec
        Names from :data:`cdmer.da.registry.METHODS`, or specs.
    out_dir : path
        Where ``results.jsonl`` accumulates (and is resumed from).
    grid : {"full", "quick"}
    overrides : dict, optional
        Method name -> parameters merged into each of its points.
    custom : dict, optional
        Method name -> {parameter: values}: axes replacing the grid's (:func:`points_for`).
    jobs : int
        Worker processes (local), passed to :func:`cdmer.parallel.get_executor`.
    scheduler : str, optional
        Address of a Dask scheduler; the work then runs on that cluster.
    validators : list of str, optional
        Validators scored at every point (default: ``validators.CHEAP``, all
        but the ones that refit the SVM several times per point).
    """
    from tqdm.auto import tqdm

    from cdmer.da.registry import get_method, task_groups, work_key

    specs = [get_method(m) if isinstance(m, str) else m for m in methods]
    for e in experiments:
        e.check()
        for message in e.warnings():
            warnings.warn(message, stacklevel=2)
    store = ResultStore(Path(out_dir) / "results.jsonl")
    plan, tasks = [], []
    for e in experiments:
        ds, dt = digest(e.source), digest(e.target)
        for spec in specs:
            points = points_for(spec, e, grid, (overrides or {}).get(spec.name), (custom or {}).get(spec.name))
            points = [(p, origin, params_key(p)) for p, origin in points]  # each key computed once
            item = len(plan)
            plan.append((e, spec, ds, dt, points))
            todo = [p for p, _, key in points if not store.done((ds, dt, spec.name, key))]
            tasks += [(item, group, work_key(spec, group, ds, dt)) for group in task_groups(spec, todo)]
    tasks = _together(tasks)
    total = sum(len(p[4]) for p in plan)
    remaining = sum(len(g) for parts in tasks for _, g in parts)
    if tasks:
        bar = tqdm(total=total, initial=total - remaining, desc="grid points", unit="pt", disable=not progress,
                   dynamic_ncols=True)
        try:
            _run_tasks(plan, tasks, store, jobs=jobs, scheduler=scheduler, validators=validators, bar=bar)
        finally:
            bar.close()
    current = []
    for e, spec, ds, dt, points in plan:
        for _, origin, key in points:
            current.append(dict(store.get((ds, dt, spec.name, key)), origin=origin))
    return current


def _together(tasks):
    """``(item, points, work key)`` tasks -> lists of ``(item, points)`` run as one task, in plan order.

    Tasks with an equal work key (not None) join the list of the first of them
    (:attr:`~cdmer.da.registry.MethodSpec.work_key`: they compute the same
    intermediate result, which the worker then computes once).
    """
    together, first = [], {}
    for item, points, key in tasks:
        if key is not None and key in first:
            together[first[key]].append((item, points))
            continue
        if key is not None:
            first[key] = len(together)
        together.append([(item, points)])
    return together


def _run_tasks(plan, tasks, store, *, jobs, scheduler, validators, bar):
    from cdmer.parallel import get_executor

    with get_executor(jobs, scheduler, single_thread=True) as ex:      # same arithmetic whatever --jobs
        handles = {}

        def handle(obj):
            if id(obj) not in handles:
                handles[id(obj)] = (obj, ex.scatter(obj))  # keep obj alive so its id stays unique
            return handles[id(obj)][1]

        args = []
        for parts in tasks:
            args.append([])
            for item, points in parts:
                e, spec = plan[item][0], plan[item][1]
                # the target's labels never travel: only its features
                args[-1].append((handle(e.source.X), handle(e.source.labels), handle(e.target.X), spec, points,
                                 validators, (plan[item][2], plan[item][3])))
        orders = {}
        for index, results in ex.imap_unordered(evaluate_together, args):
            if isinstance(results, (InputError, KeyboardInterrupt)):
                raise results
            if isinstance(results, BaseException):  # e.g. a worker killed more often than the retries allow:
                reason = f"{type(results).__name__}: {results}"  # recorded as failed, retried by the next run
                results = [[{"params": p, "y_pred": None, "error": reason, "transient": True} for p in asked]
                           for _, asked in tasks[index]]
            records = []
            for (item, asked), result in zip(tasks[index], results):
                e, spec, ds, dt, _ = plan[item]
                if item not in orders:
                    orders[item] = _class_order(e)
                if len(result) != len(asked):
                    raise RuntimeError(f"{spec.name}: {len(result)} results for {len(asked)} points")
                for params, point in zip(asked, result):
                    point["params"] = params  # the plan's parameters key the store (evaluate_points keeps their order)
                    for message in point.get("warnings") or ():
                        warnings.warn(message, stacklevel=2)
                    records.append(_record(e, spec, ds, dt, point, orders[item]))
            store.add_many(records)  # the task's points together: one write, one fsync
            bar.update(len(records))


def evaluate_together(*parts):
    """Several tasks as one: :func:`evaluate_task` on each part (its argument tuple), in order.

    Parts with an equal work key share an intermediate result: they run
    inside :func:`cdmer.da.registry.sharing`, so it is computed once (the
    results are those of separate tasks). Returns one result list per part.
    """
    from cdmer.da.registry import sharing

    if len(parts) == 1:
        return [evaluate_task(*parts[0])]
    with sharing():
        return [evaluate_task(*part) for part in parts]


#: Point-independent validator quantities per (source, target) pair, kept by a worker process across tasks:
#: pair key -> cache dict (see :func:`evaluate_task`); the least recently used pair is dropped beyond
#: ``PAIR_CACHE_SIZE``.
_PAIR_CACHES = {}
PAIR_CACHE_SIZE = 4


def _pair_cache(key):
    """The validators' cache of the (source, target) pair ``key`` (a fresh dict when ``key`` is None)."""
    if key is None:
        return {}
    cache = _PAIR_CACHES.pop(key, None)
    if cache is None:
        cache = {}
        while len(_PAIR_CACHES) >= PAIR_CACHE_SIZE:
            _PAIR_CACHES.pop(next(iter(_PAIR_CACHES)))
    _PAIR_CACHES[key] = cache  # most recently used last
    return cache


def evaluate_task(Xs, ys, Xt, spec, points, validators=None, cache_key=None):
    """A worker's task: evaluate some points of one method on one experiment, without target labels.

    Runs :func:`cdmer.da.registry.evaluate_points`, then the label-free
    validators on each point's :class:`~cdmer.evaluation.validators.PointView`.
    ``cache_key`` (the protocol passes the pair's content digests) names the
    (source, target) pair: the validators' point-independent quantities (the
    input Gram matrices, the reverse classifier's score per target
    labelling, ...) are then kept by the worker across tasks of that pair,
    instead of being recomputed per task. TGSR's 271 tasks per experiment
    label the target alike at many points of different lambdas, so most
    reverse-validation SVM fits are shared; the values are those a fresh
    computation gives (the same function of the same arrays). Without
    ``cache_key`` each task has its own cache.

    Returns a list with one dict per point: ``params``, ``y_pred`` (list or
    None), ``decision`` (a summary: per-class mean and mean top-two margin),
    ``validators`` (name -> score, None where it failed), ``validator_errors``
    (name -> reason), ``info``, ``error``,
    ``warnings`` (the messages of the warnings raised meanwhile: the client
    re-raises them, so that a worker's warnings reach the user as the
    caller's would).
    """
    from cdmer.da.registry import evaluate_points
    from cdmer.evaluation.validators import PointView, score_point

    cache = _pair_cache(cache_key)  # point-independent quantities of this (source, target) pair
    out = []
    with warnings.catch_warnings(record=True) as caught:  # a worker's warnings travel back with its points
        warnings.simplefilter("always")
        for po in evaluate_points(spec, Xs, ys, Xt, [dict(p) for p in points]):
            result = _point_result(po, Xs, ys, Xt, validators, cache, PointView, score_point)
            result["warnings"] = list(dict.fromkeys(f"{spec.name} {_params_text(po.params)}: {w.message}"
                                                    for w in caught))
            caught.clear()
            out.append(result)
    return out


def _params_text(params):
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _point_result(po, Xs, ys, Xt, validators, cache, PointView, score_point):
    result = {"params": dict(po.params), "y_pred": None, "decision": None,
              "validators": {}, "validator_errors": {}, "info": _jsonable(po.info or {}), "error": po.error}
    if po.error is None and po.y_pred is not None:
        result["y_pred"] = np.asarray(po.y_pred).astype(str).tolist()
        result["decision"] = _decision_summary(po.decision, po.classes)
        found, errors = score_point(PointView.from_output(po, Xs, ys, Xt, cache=cache), validators)
        result["validators"] = {k: None if v is None or not np.isfinite(v) else float(v) for k, v in found.items()}
        result["validator_errors"] = {k: str(v) for k, v in errors.items()}
    return result


def _decision_summary(decision, classes):
    if decision is None:
        return None
    d = np.asarray(decision, dtype=float)
    if d.ndim != 2 or d.shape[1] < 2:
        return None
    top = np.sort(d, axis=1)
    return {"classes": [str(c) for c in classes], "mean": d.mean(axis=0).tolist(),
            "margin_mean": float(np.mean(top[:, -1] - top[:, -2]))}


def _class_order(e):
    """The classes of an experiment's records: :data:`CLASS_NAMES` order first, then any others sorted."""
    return class_order(set(e.source.classes) | set(e.target.classes))


def _record(e, spec, ds, dt, point, classes):
    """One grid point's record (``classes``: :func:`_class_order` of ``e``); a failed point (``y_pred is
    None``) has no scores."""
    y_true = e.target.labels
    classes = list(classes)
    y_pred = point["y_pred"]
    error = point.get("error")
    if y_pred is None:
        matrix, metrics = None, {"war": None, "uar": None, "mf1": None}
        error = error or "no prediction"
    else:
        matrix, classes = confusion(y_true, np.asarray(y_pred), classes)
        matrix = matrix.tolist()
        metrics = score_metrics(y_true, np.asarray(y_pred))
    return {
        "experiment": e.name,
        "paper_experiment": e.paper_number,
        "benchmark_task": benchmark.task_name(e.source.database, e.target.database),
        "source": e.source.database,
        "target": e.target.database,
        "source_digest": ds,
        "target_digest": dt,
        "method": spec.name,
        "params": point["params"],
        **metrics,
        "classes": classes,
        "confusion": matrix,
        "y_pred": y_pred,
        "decision": point.get("decision"),
        "validators": point.get("validators") or {},
        "validator_errors": point.get("validator_errors") or {},
        "info": point.get("info") or {},
        "error": error,
        "warnings": point.get("warnings") or [],
        **({"transient": True} if point.get("transient") else {}),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (Integral, np.integer)):
        return int(value)
    if isinstance(value, (Real, np.floating)):
        value = float(value)
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


# ------------------------------------------------------------------ selection
def group_records(records):
    """``{(experiment, method): [records]}``, groups and their records in plan order."""
    groups = {}
    for r in records:
        groups.setdefault((r["experiment"], r["method"]), []).append(r)
    return groups


class RecordIndex:
    """The records of a run grouped by (experiment, method), with each selection computed once.

    The reports ask for the same selections and per-cell lookups many times
    (tables, CSV, figures, the summary on screen); with 143,478 records
    (the whole table) scanning them all per question cost minutes. Results
    are those of :func:`select` and :func:`missing_reason` on ``records``.
    The records must not change while the index is used.
    """

    def __init__(self, records):
        self.records = records
        self.groups = group_records(records)
        self._chosen = {}

    def select(self, rule, *, oracle_metric="uar", validator=None):
        key = (rule, oracle_metric, validator)
        if key not in self._chosen:
            self._chosen[key] = select(self.records, rule, oracle_metric=oracle_metric, validator=validator,
                                       groups=self.groups)
        return self._chosen[key]

    def missing_reason(self, experiment, method, rule, validator=None):
        return missing_reason(self.records, experiment, method, rule, validator,
                              mine=self.groups.get((experiment, method), []))

    def group(self, experiment, method):
        """The records of one (experiment, method), in plan order (empty when there are none)."""
        return self.groups.get((experiment, method), [])


def select(records, rule, *, oracle_metric="uar", validator=None, groups=None):
    """Pick one record per (experiment, method) by a selection rule.

    Returns ``{(experiment, method): record}``. Records must be in plan order
    (as :func:`run_protocol` returns them): ties go to the first. ``groups``:
    :func:`group_records` of ``records`` when the caller has it already.

    - ``oracle``: the best point on the target labels (``oracle_metric``,
      then the other metric).
    - ``paper``: the point of origin ``"paper"``; a method without a
      trade-off parameter (one grid point; the paper reports no optimum for
      it) is represented by its fixed point; a method with a grid but no
      reported optimum has no paper choice.
    - ``fixed``: the point of origin ``"fixed"``.
    - ``label-free``: among the grid and fixed points, the one with the
      greatest score of ``validator`` (required); a method with one such
      point takes it.

    Failed points (no scores) are never selected.
    """
    if rule not in RULES:
        raise InputError(f"unknown selection rule {rule!r} (expected one of {', '.join(RULES)})")
    if rule == "label-free" and not validator:
        raise InputError("the label-free rule needs a validator", field="validator")
    groups = group_records(records) if groups is None else groups
    chosen = {}
    for (exp, name), rs in groups.items():
        ok = [r for r in rs if r["war"] is not None]
        if not ok:
            continue
        if rule == "oracle":
            order = {"uar": lambda r: (r["uar"], r["war"]), "war": lambda r: (r["war"], r["uar"]),
                     "mean": lambda r: (r["war"] + r["uar"], r["uar"])}[oracle_metric]
            chosen[(exp, name)] = max(ok, key=order)  # max keeps the first of ties: grid order
        elif rule == "fixed" or (rule == "paper" and name not in paper.OPTIMA
                                 and sum("grid" in r.get("origin", ()) for r in rs) <= 1):
            match = [r for r in ok if "fixed" in r.get("origin", ())]
            if match:
                chosen[(exp, name)] = match[0]
        elif rule == "paper":
            match = [r for r in ok if "paper" in r.get("origin", ())]
            if match:
                chosen[(exp, name)] = match[0]
        else:
            candidates = [r for r in ok if {"grid", "fixed"} & set(r.get("origin", ()))]
            if len(candidates) == 1:
                chosen[(exp, name)] = candidates[0]
                continue
            scored = [r for r in candidates if validator_score(r, validator) is not None]
            if scored:
                chosen[(exp, name)] = max(scored, key=lambda r: validator_score(r, validator))
    return chosen


def validator_score(record, name):
    """A record's score of validator ``name`` (None when absent or failed)."""
    return (record.get("validators") or {}).get(name)


def missing_reason(records, experiment, method, rule, validator=None, mine=None):
    """Why a (experiment, method) cell has no selection: ``("failed", reason)`` or ``("n/a", reason)``.

    ``mine``: the records of that cell, when the caller has them (:class:`RecordIndex`).
    """
    if mine is None:
        mine = [r for r in records if r["experiment"] == experiment and r["method"] == method]
    if mine and all(r["war"] is None for r in mine):
        reasons = sorted({r.get("error") or (r.get("info") or {}).get("error") or "unknown" for r in mine})
        return "failed", "; ".join(reasons)
    if rule == "label-free" and mine:
        errors = sorted({str(e) for r in mine for k, e in (r.get("validator_errors") or {}).items()
                         if k == validator})
        if errors:
            return "n/a", f"validator {validator} failed at every point: {errors[0]}"
        return "n/a", f"no point has a score of validator {validator} (not computed for these points)"
    return "n/a", ""
