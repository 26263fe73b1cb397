"""Selection rules over protocol records, and their leave-one-experiment-out (LOEO) analysis.

A *record* is one grid point of one (experiment, method), as the protocol
writes it to ``results.json``: ``experiment``, ``method``, ``params``,
``y_pred`` (target predictions), ``validators`` (``{name: score or None}``,
from :func:`cdmer.evaluation.validators.score_point`) and, for scoring only,
``war``/``uar`` (and ``mf1`` when present). Records of one (experiment,
method) are in grid order; ties of a rule go to the earlier point.

A *rule* maps the records of one (experiment, method) to a target prediction
without looking at target labels: :func:`validator_rule` (the point with the
best score of one validator), :func:`ensemble_rule` (a majority vote over the
grid or over its top-k by a validator), :func:`fixed_rule`. The target labels
enter only :func:`evaluate_rule` (to score) and :func:`oracle`.

No peeking: :func:`loeo` chooses a rule among candidates on five experiments
(by their mean metric) and reports the chosen rule on the sixth, for each of
the six; the held-out experiment's labels never influence its own choice.
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from cdmer.errors import InputError
from cdmer.evaluation.validators import ensemble_predict, select_point

METRICS = ("war", "uar", "mf1")


def group_records(records, method):
    """``{experiment: [records of method in grid order]}`` (failed points, ``y_pred`` None, kept in place)."""
    groups = OrderedDict()
    for r in records:
        if r.get("method") == method:
            groups.setdefault(r["experiment"], []).append(r)
    if not groups:
        raise InputError(f"no record of method {method!r}", field="method")
    return groups


@dataclass(frozen=True)
class Choice:
    """What a rule returns: the prediction, and the chosen record's index when it chose one point."""

    y_pred: np.ndarray
    index: int | None = None


def validator_rule(name):
    """The label-free rule: the point with the greatest ``record["validators"][name]`` (first of ties)."""

    def rule(recs):
        scores = [None if r.get("y_pred") is None else (r.get("validators") or {}).get(name) for r in recs]
        i = select_point(scores)
        return Choice(np.asarray(recs[i]["y_pred"]), i)

    rule.__name__ = name
    return rule


def ensemble_rule(classes_of=None, validator=None, top_k=None):
    """Majority vote over the grid's predictions (over the top-k points by ``validator`` when given)."""

    def rule(recs):
        classes = recs[0].get("classes") if classes_of is None else classes_of
        if classes is None:
            classes = sorted({str(v) for r in recs if r.get("y_pred") is not None for v in r["y_pred"]})
        y = [r.get("y_pred") for r in recs]
        scores = None
        if validator is not None:
            scores = [(r.get("validators") or {}).get(validator) for r in recs]
        return Choice(ensemble_predict(y, classes, scores=scores, top_k=top_k))

    rule.__name__ = "vote" if validator is None else f"vote_top{top_k}_{validator}"
    return rule


def fixed_rule(params):
    """The point whose ``params`` equal ``params`` (the method's label-free default setting)."""

    def rule(recs):
        for i, r in enumerate(recs):
            if {k: v for k, v in r["params"].items() if k in params} == dict(params) and r.get("y_pred") is not None:
                return Choice(np.asarray(r["y_pred"]), i)
        raise InputError(f"no grid point with params {params}", field="params")

    rule.__name__ = "fixed"
    return rule


def scores_of(y_true, y_pred, classes=None):
    """WAR, UAR and M-F1 (scikit-learn's accuracy, balanced accuracy, macro F1)."""
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    labels = sorted(set(y_true)) if classes is None else [str(c) for c in classes]
    return {"war": float(accuracy_score(y_true, y_pred)), "uar": float(balanced_accuracy_score(y_true, y_pred)),
            "mf1": float(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0))}


def evaluate_rule(rule, groups, truth):
    """Apply ``rule`` to every experiment of ``groups``; score with ``truth[experiment]`` (the target labels).

    Returns ``{experiment: {"war", "uar", "mf1", "index", "params"}}``.
    """
    out = OrderedDict()
    for exp, recs in groups.items():
        choice = rule(recs)
        res = scores_of(truth[exp], choice.y_pred, recs[0].get("classes"))
        res["index"] = choice.index
        res["params"] = None if choice.index is None else recs[choice.index].get("params")
        out[exp] = res
    return out


def oracle(groups, truth, metric="uar"):
    """The best grid point on the target labels (first of ties): the upper bound a validator is compared to."""
    out = OrderedDict()
    for exp, recs in groups.items():
        best = None
        for i, r in enumerate(recs):
            if r.get("y_pred") is None:
                continue
            s = scores_of(truth[exp], r["y_pred"], r.get("classes"))
            if best is None or s[metric] > best[metric]:
                best = dict(s, index=i, params=r.get("params"))
        out[exp] = best
    return out


def loeo(candidates, groups, truth, metric="uar"):
    """Leave-one-experiment-out choice among candidate rules.

    For each experiment ``e``: every candidate is evaluated on the other
    experiments, the one with the greatest mean ``metric`` there is chosen
    (first of ties, in ``candidates`` order), and its result on ``e`` is
    reported. ``e``'s labels never enter the choice made for ``e``.

    Parameters
    ----------
    candidates : dict name -> rule
    groups : ``{experiment: records}`` of one method (:func:`group_records`)
    truth : ``{experiment: target labels}``

    Returns
    -------
    rows : list of dicts ``{"held_out", "chosen", "train_mean", "war", "uar", "mf1"}``
    table : ``{candidate: {experiment: result}}`` (every candidate on every experiment)
    """
    if len(groups) < 2:
        raise InputError(f"leave-one-experiment-out needs at least 2 experiments, got {len(groups)}",
                         field="experiments")
    table = OrderedDict((name, evaluate_rule(rule, groups, truth)) for name, rule in candidates.items())
    rows = []
    for held in groups:
        best, best_mean = None, None
        for name, res in table.items():
            mean = float(np.mean([v[metric] for e, v in res.items() if e != held]))
            if best_mean is None or mean > best_mean:
                best, best_mean = name, mean
        row = {"held_out": held, "chosen": best, "train_mean": best_mean}
        row.update({m: table[best][held][m] for m in METRICS})
        rows.append(row)
    return rows, table


def records_from_results(results):
    """``(records, truth)`` from a ``results.json`` dict that carries ``y_true`` per experiment, or raise.

    The protocol's ``results.json`` stores predictions and scores but (by
    design) may omit the target labels; pass ``truth`` yourself then.
    """
    records = results.get("points")
    if records is None:
        raise InputError("results has no 'points' (one record per grid point)", field="points")
    truth = results.get("y_true")
    return records, truth
