"""The methods as deployment sees them: one view over the registry, parameter coercion, label-free selection.

The registry of the methods is :mod:`cdmer.da.registry` (``get_method(name)
-> MethodSpec`` with ``build``, ``grid``, ``fixed``, ``estimator``;
``evaluate_points``); the label-free validators are
:mod:`cdmer.evaluation.validators`. Everything else in :mod:`cdmer.deployment`
goes through :class:`Method` and :func:`select_params`.
"""

from __future__ import annotations

import inspect

import numpy as np

from cdmer.errors import CdmerError, InputError


class Method:
    """A method of the registry (:func:`cdmer.da.registry.get_method`), fitted and applied one way.

    Fitting uses the array API ``estimator(**params).fit(Xs, ys, Xt)`` when the
    method's array-API class is a classifier (``predict``), else the DA
    estimator ``build(**params).fit(X, y, sample_domain=...)`` in skada's
    convention (source rows positive domain, target rows -1 with labels
    masked as -1).
    """

    def __init__(self, name):
        from cdmer.da.registry import get_method

        self.spec = get_method(name)
        self.name = self.spec.name
        self.grid = [dict(p) for p in self.spec.grid]
        self.fixed = dict(self.spec.fixed)
        self.estimator = self.spec.estimator
        self.build = self.spec.build

    @property
    def array_api(self):
        return self.estimator is not None and hasattr(self.estimator, "predict")

    # ------------------------------------------------------------------ params
    def parameter_names(self):
        cls = self.estimator
        if cls is None:  # a skada-only method: its build() names the unknown parameters itself
            return None
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def coerce(self, name, text):
        """The value of parameter ``name`` given as ``text``, typed by the estimator's declaration
        (:func:`cdmer.da.registry.coerce_param`, as ``cdmer evaluate --param`` types it)."""
        from cdmer.da.registry import coerce_param

        return coerce_param(self.spec, name, text)

    def parse_params(self, texts):
        """``{name: value}`` of ``--param NAME=VALUE`` texts, each coerced by :meth:`coerce`."""
        out = {}
        for text in texts:
            name, sep, value = str(text).partition("=")
            name = name.strip()
            if not sep or not name:
                raise InputError(f"expected NAME=VALUE, got {text!r}", field="--param")
            out[name] = self.coerce(name, value.strip())
        return out

    def deployment_settings(self):
        """Settings ``cdmer fit`` uses unless the user gives them: the exact solver where the method
        has one (TSRG: ``solver="exact"``, the same objective solved to its optimality conditions, whose
        homotopy paths make label-free selection over the grid affordable, and whose single fit is
        faster than the inexact ALM's; docs/tsrg-speed.md)."""
        names = self.parameter_names() or []
        if "solver" in names:
            constraints = getattr(self.estimator, "_parameter_constraints", {}).get("solver")
            if constraints:
                from sklearn.utils._param_validation import make_constraint

                if any(make_constraint(c).is_satisfied_by("exact") for c in constraints):
                    return {"solver": "exact"}
        return {}

    # --------------------------------------------------------------- fit/apply
    def fit(self, params, Xs, ys, Xt):
        """A fitted estimator of this method (see the class docstring for which API)."""
        try:
            if self.array_api:
                return _Fitted(self.estimator(**params).fit(Xs, ys, Xt), None)
            classes = np.unique(ys)
            y = np.concatenate([np.searchsorted(classes, ys), -np.ones(len(Xt), dtype=int)])
            domain = np.concatenate([np.ones(len(Xs), dtype=int), -np.ones(len(Xt), dtype=int)])
            est = self.build(**params)
            est.fit(np.vstack([Xs, Xt]), y, sample_domain=domain)
            return _Fitted(est, classes)
        except TypeError as exc:  # a parameter the estimator does not take
            raise InputError(f"{self.name}: {exc}", field="--param") from None
        except InputError:
            raise
        except (CdmerError, ValueError) as exc:  # scikit-learn's InvalidParameterError is a ValueError
            raise InputError(f"{self.name}: {exc}", field="--param") from None


class _Fitted:
    """A fitted estimator with one ``predict`` / ``scores`` interface for target rows."""

    def __init__(self, est, classes):
        self.est = est
        self._coded = classes  # None: the estimator speaks class names itself

    @property
    def classes_(self):
        if self._coded is not None:
            from cdmer.da.registry import fitted_classes

            return np.asarray(self._coded)[np.asarray(fitted_classes(self.est)).astype(int)].astype(str)
        return np.asarray(self.est.classes_).astype(str)

    def _call(self, name, X):
        fn = getattr(self.est, name)
        if self._coded is None:
            return fn(X)
        return fn(X, sample_domain=-np.ones(len(X), dtype=int))

    def predict(self, X):
        y = np.asarray(self._call("predict", X))
        if self._coded is not None:
            y = np.asarray(self._coded)[y.astype(int)]
        return y.astype(str)

    def scores(self, X):
        """Decision values, one column per class of ``classes_`` (None when the estimator has none)."""
        if not hasattr(self.est, "decision_function"):
            return None
        s = np.asarray(self._call("decision_function", X), dtype=float)
        if s.ndim == 1:  # two classes: the score of the second class
            s = np.stack([-s, s], axis=1)
        return s


# --------------------------------------------------------------- selection
def select_params(method, Xs, ys, Xt, given, *, progress=True, jobs=1):
    """Choose the method's parameters without target labels.

    Parameters the user fixed (``given``) are kept; the other axes of the
    method's grid are searched with the default label-free validator
    (:data:`cdmer.evaluation.validators.DEFAULT_VALIDATOR`) through the
    registry's ``evaluate_points``; the best score wins, ties to the first
    point in grid order. Points sharing work (the registry's ``task_key``:
    TSRG's exact solver evaluates one lambda's mus on one path) form one
    task; tasks run on ``jobs`` processes (:func:`cdmer.parallel.get_executor`)
    and the progress bar advances as each finishes.

    Returns ``(params, record)``; ``record`` holds the rule, the validator,
    every point with its score (or error) and the chosen point, for the
    model file.
    """
    grid = [p for p in (method.grid or []) if p]
    if not grid:
        params = {**method.fixed, **given}
        return params, {"rule": "given" if given else "fixed", "params": params,
                        "reason": f"{method.name} has no parameter grid"}
    points = []
    for p in grid:
        q = {**p, **given}
        if q not in points:
            points.append(q)
    if len(points) == 1:
        return points[0], {"rule": "given", "params": points[0],
                           "reason": "--param fixes every axis of the grid"}
    from tqdm.auto import tqdm

    from cdmer.da.registry import task_groups
    from cdmer.evaluation.protocol import evaluate_task
    from cdmer.evaluation.validators import DEFAULT_VALIDATOR
    from cdmer.parallel import get_executor

    scored = []
    tasks = task_groups(method.spec, points)
    bar = tqdm(total=len(points), desc=f"{method.name} label-free selection", unit="point", disable=not progress)
    try:
        with get_executor(jobs, single_thread=True) as ex:
            data = [ex.scatter(a) for a in (Xs, ys, Xt)]
            args = [(*data, method.spec, t, [DEFAULT_VALIDATOR]) for t in tasks]
            for i, outputs in ex.imap_unordered(evaluate_task, args):
                if isinstance(outputs, InputError):
                    raise outputs
                if isinstance(outputs, BaseException):  # the task failed: its points are recorded so
                    reason = f"{type(outputs).__name__}: {outputs}"
                    scored.extend({"params": dict(p), "score": None, "error": reason} for p in tasks[i])
                    bar.update(len(tasks[i]))
                    continue
                for p, out in zip(tasks[i], outputs):
                    score = out["validators"].get(DEFAULT_VALIDATOR)
                    error = out["error"] or (None if score is not None else
                                             out["validator_errors"].get(DEFAULT_VALIDATOR, "no score"))
                    scored.append({"params": dict(p), "score": score, "error": error})
                bar.update(len(outputs))
    finally:
        bar.close()
    order = {json_key(p): i for i, p in enumerate(points)}
    scored.sort(key=lambda e: order.get(json_key(e["params"]), len(order)))
    valid = [e for e in scored if e["score"] is not None and np.isfinite(e["score"])]
    if not valid:
        reasons = sorted({e["error"] for e in scored if e["error"]})
        raise InputError(f"label-free selection failed at every grid point of {method.name} "
                         f"({'; '.join(reasons[:3])}); fix the parameters with --param", field="--param")
    best = max(valid, key=lambda e: e["score"])  # max keeps the first of equal scores: grid order
    return dict(best["params"]), {"rule": "label-free", "validator": DEFAULT_VALIDATOR, "given": given,
                                  "grid": points, "points": scored, "params": dict(best["params"]),
                                  "score": best["score"]}


def json_key(params):
    import json

    return json.dumps(params, sort_keys=True, default=str)
