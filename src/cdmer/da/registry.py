"""The registry of methods: name -> estimator, grid, fixed setting, citation.

One :class:`MethodSpec` per method (the columns of the paper's Tables 2-3,
and the subspace methods of the later cross-database benchmark, Zhang, Zong
et al., TKDE 2022). Adding a method = one ``register(MethodSpec(...))`` here
and its module (its ``build`` is typically ``lambda **p:
paper_pipeline("NAME", SomeAdapter(), p)``, or the DA classifier with
:func:`assign_params`); everything else (the protocol, ``cdmer.da.make_method``,
the command line) reads the registry.

skada is not imported by this module: the ``build`` functions import it when
called (importing skada switches scikit-learn's metadata routing on for the
whole process; see docs/ecosystem.md).

Grid evaluation, :func:`evaluate_points`, yields one :class:`PointOutput` per
grid point: it uses the entry's ``path`` when there is one (TSRG: one
homotopy path per lambda serves all its mus), else fits each point with the
array API (``estimator``), or with the DA estimator for skada-only methods.
"""

import time
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Callable, Mapping, Optional

import numpy as np

from cdmer.errors import CdmerError, InputError

__all__ = ["MethodSpec", "PointOutput", "METHODS", "register", "get_method", "make_method", "evaluate_points",
           "task_groups", "work_key", "sharing", "coerce_param",
           "decision_matrix", "fitted_classes", "paper_pipeline", "assign_params"]


@dataclass(frozen=True)
class MethodSpec:
    """A method of the comparison.

    Attributes
    ----------
    name : str
        Table column, e.g. ``"TSRG"``.
    citation : str
    build : callable
        ``build(**params) -> DA estimator`` (a skada DA pipeline, or a DA
        classifier), ``fit(X, y, sample_domain=...)``; imports skada lazily.
        ``params`` are the method's flat parameters (those of the array-API
        class when there is one); unknown names raise :class:`InputError`.
    grid : tuple of dict
        The protocol's grid.
    fixed : Mapping
        The label-free default setting.
    estimator : type or None
        The array-API class (``fit(Xs, ys, Xt)``); None for skada-only methods.
    path : callable or None
        ``path(Xs, ys, Xt, points, **common) -> iterator of PointOutput``:
        fast evaluation of several points sharing work.
    task_key : callable or None
        ``task_key(params, **common) -> hashable``: points with equal keys
        are best evaluated in one call of :func:`evaluate_points` (one task);
        None: every point is its own task.
    work_key : callable or None
        ``work_key(points, source, target, **common) -> hashable or None``:
        names, by content, the costly intermediate result that evaluating
        ``points`` (one task) on the experiment ``source -> target`` computes
        (``source``, ``target``: the caller's content keys of the two feature
        sets). Tasks with equal keys, of any methods and experiments, are run
        together inside :func:`sharing`, so it is computed once (TSRG on
        A -> B and DRFS-T on B -> A: the same homotopy paths). A scheduling
        hint only: what is reused is decided by the content of the actual
        computation. None: nothing to share.
    outputs : callable or None
        ``outputs(fitted_array_estimator, Xs, Xt) -> dict`` with any of
        ``Zs``, ``Zt``, ``source_weights``, ``info``: what a fitted
        array-API estimator contributes to its :class:`PointOutput`.
    notes : str
        The fixed settings and choices of the entry, for the reports.
    """

    name: str
    citation: str
    build: Callable
    grid: tuple
    fixed: Mapping
    estimator: Optional[type] = None
    path: Optional[Callable] = None
    task_key: Optional[Callable] = None
    work_key: Optional[Callable] = None
    outputs: Optional[Callable] = None
    notes: str = ""


@dataclass
class PointOutput:
    """The outcome of one grid point (see docs/architecture.md).

    ``y_pred``: target predictions in the caller's label coding (None when
    the point failed); ``decision``: ``nt x c`` decision values on the target
    in ``classes`` order (two classes: ``[-f, f]``), or None; ``Zs``, ``Zt``:
    the source / target representation the final classifier sees (None: the
    original ``Xs`` / ``Xt``); ``source_weights``: the weights the final
    classifier was trained with (None: unweighted); ``info``: JSON-able
    (``time_s`` and the method's diagnostics); ``error``: why the point
    failed for a reason of the method (e.g. a weighting that leaves one
    class), else None.
    """

    params: dict
    y_pred: Optional[np.ndarray]
    decision: Optional[np.ndarray] = None
    classes: Optional[np.ndarray] = None
    Zs: Optional[np.ndarray] = None
    Zt: Optional[np.ndarray] = None
    source_weights: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)
    error: Optional[str] = None


METHODS: dict = {}


def register(spec):
    """Add ``spec`` to :data:`METHODS` (replacing an entry of the same name); return it."""
    METHODS[spec.name] = spec
    return spec


def get_method(name):
    """The :class:`MethodSpec` called ``name`` (case-insensitive); InputError naming the known ones."""
    for key, spec in METHODS.items():
        if key.lower() == str(name).lower():
            return spec
    raise InputError(f"unknown method {name!r} (expected one of {', '.join(METHODS)})", field="method")


def make_method(name, **params):
    """The DA estimator of method ``name`` with ``params``: ``get_method(name).build(**params)``."""
    return get_method(name).build(**params)


def decision_matrix(values, n_classes):
    """Decision values as ``n x c`` (a two-class SVM's ``f`` becomes ``[-f, f]``)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.column_stack([-values, values]) if n_classes == 2 else values[:, None]
    return values


def evaluate_points(spec, Xs, ys, Xt, points, **common):
    """Yield one :class:`PointOutput` per point of ``points`` (in their order).

    ``common`` holds settings shared by the points (e.g. ``solver`` or
    ``kernel``); a point's own keys take precedence. Uses ``spec.path`` when
    present, else fits each point: the array API when ``spec.estimator``,
    else the DA estimator (``spec.build``). Target labels never enter here.
    A point failing for a reason of the method (a :class:`CdmerError` that
    is not an :class:`InputError`) yields ``error`` and ``y_pred=None``; bad
    input raises.
    """
    points = [dict(p) for p in points]
    if spec.path is not None:
        yield from spec.path(Xs, ys, Xt, points, **common)
        return
    for point in points:
        params = {**common, **point}
        start = time.perf_counter()
        try:
            if spec.estimator is not None:
                out = _fit_array_point(spec, Xs, ys, Xt, params)
            else:
                out = _fit_da_point(spec, Xs, ys, Xt, params)
        except InputError:
            raise
        except CdmerError as exc:
            yield PointOutput(params=point, y_pred=None, info={"time_s": time.perf_counter() - start},
                              error=str(exc))
            continue
        out.params = point
        out.info = {"time_s": time.perf_counter() - start, **out.info}
        yield out


def _fit_array_point(spec, Xs, ys, Xt, params):
    est = spec.estimator(**params).fit(Xs, ys, Xt)
    classes = np.asarray(est.classes_)
    extra = spec.outputs(est, Xs, Xt) if spec.outputs is not None else {}
    return PointOutput(params=params, y_pred=est.predict(Xt), classes=classes,
                       decision=decision_matrix(est.decision_function(Xt), classes.size), **extra)


def _fit_da_point(spec, Xs, ys, Xt, params):
    """Fit the DA estimator on ``[Xs; Xt]`` (target labels masked) and read its outputs."""
    from sklearn.pipeline import Pipeline

    Xs, Xt = np.asarray(Xs, dtype=np.float64), np.asarray(Xt, dtype=np.float64)
    names, codes = np.unique(np.asarray(ys), return_inverse=True)
    ns, nt = Xs.shape[0], Xt.shape[0]
    X = np.vstack([Xs, Xt])
    y = np.concatenate([codes, -np.ones(nt, dtype=int)])
    domain = np.concatenate([np.ones(ns, dtype=int), -np.ones(nt, dtype=int)])
    est = spec.build(**params)
    try:
        est.fit(X, y, sample_domain=domain)
    except (ValueError, np.linalg.LinAlgError) as exc:  # the method cannot handle this setting
        if isinstance(exc, InputError):
            raise
        raise CdmerError(f"{spec.name}: {type(exc).__name__}: {exc}") from exc
    target = -np.ones(nt, dtype=int)
    classes = names[np.asarray(fitted_classes(est))]
    out = PointOutput(params=params, y_pred=names[np.asarray(est.predict(Xt, sample_domain=target))],
                      classes=classes,
                      decision=decision_matrix(est.decision_function(Xt, sample_domain=target), classes.size))
    if isinstance(est, Pipeline) and len(est.steps) > 1:
        Z = est[:-1].transform(X, sample_domain=domain, allow_source=True)
        out.Zs, out.Zt = np.asarray(Z[:ns]), np.asarray(Z[ns:])
    return out


def fitted_classes(estimator):
    """``classes_`` of a fitted DA estimator (for a skada pipeline: of its final estimator)."""
    from sklearn.pipeline import Pipeline

    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        return getattr(final, "base_estimator_", final).classes_
    return estimator.classes_


# ---------------------------------------------------------------- parameters and tasks


def task_groups(spec, points):
    """``points`` grouped into tasks by ``spec.task_key`` (one point per task without one), in grid order.

    Points of one group share work when evaluated by one call of
    :func:`evaluate_points` (TSRG's exact solver: one lambda's path).
    """
    groups = {}
    for i, p in enumerate(points):
        key = spec.task_key(p) if spec.task_key is not None else i
        groups.setdefault(key, []).append(p)
    return list(groups.values())


def work_key(spec, points, source, target, **common):
    """``spec.work_key(points, source, target, **common)``, or None when the method declares none."""
    return None if spec.work_key is None else spec.work_key(points, source, target, **common)


def sharing():
    """Context in which tasks with equal :attr:`MethodSpec.work_key` reuse each other's shared result."""
    from cdmer.adaptation.tsrg import shared_paths

    return shared_paths()


def coerce_param(spec, name, text):
    """A command-line value for parameter ``name`` of a method, typed as its estimator declares.

    The types come from the array-API estimator's ``_parameter_constraints``
    (scikit-learn's parameter validation): an integer parameter gets an
    ``int``, a real one a ``float``, an option its string, ``none`` gives
    ``None`` where allowed. Errors name the method and the parameter. For a
    method without an array-API estimator (skada-only), a number is read as
    an int when integral, else a float, else the text is kept.
    """
    from sklearn.utils._param_validation import InvalidParameterError, make_constraint

    text = str(text).strip()
    estimator = getattr(spec, "estimator", None)
    if estimator is None:
        return _plain_value(text)
    declared = getattr(estimator, "_parameter_constraints", {})
    if name not in declared:
        raise InputError(f"{spec.name} has no parameter {name!r} (its parameters: {', '.join(sorted(declared))})",
                         field="--param")
    for raw in declared[name]:
        constraint = make_constraint(raw)
        for candidate in _candidates(raw, text):
            try:
                if constraint.is_satisfied_by(candidate):
                    return candidate
            except (TypeError, ValueError):
                continue
    from sklearn.utils._param_validation import validate_parameter_constraints

    try:
        validate_parameter_constraints({name: declared[name]}, {name: _plain_value(text)}, caller_name=spec.name)
    except InvalidParameterError as exc:
        raise InputError(f"{spec.name}.{name}={text}: {exc}", field="--param") from None
    raise InputError(f"{spec.name}.{name}={text}: not a value of the declared types", field="--param")


def _plain_value(text):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _candidates(raw, text):
    from sklearn.utils._param_validation import Interval, StrOptions

    low = text.lower()
    if raw is None:
        return [None] if low in ("none", "null") else []
    if raw == "boolean":
        return {"true": [True], "false": [False], "yes": [True], "no": [False]}.get(low, [])
    number_type = raw.type if isinstance(raw, Interval) else raw if isinstance(raw, type) else None
    if number_type is not None and issubclass(number_type, (Integral, Real)) and not issubclass(number_type, bool):
        try:
            value = float(text)
        except ValueError:
            return []
        if issubclass(number_type, Integral):
            return [int(value)] if value.is_integer() else []
        return [value]
    if isinstance(raw, StrOptions) or raw is str:
        return [text]
    return []


# ---------------------------------------------------------------- build helpers


def assign_params(method, estimators, params):
    """Set each of ``params`` on the estimators that have it; InputError for unknown names."""
    for key, value in params.items():
        owners = [e for e in estimators if key in e.get_params(deep=False)]
        if not owners:
            known = sorted({k for e in estimators for k in e.get_params(deep=False)})
            raise InputError(f"{method}: unknown parameter {key!r}; expected one of {', '.join(known)}", field=key)
        for e in owners:
            e.set_params(**{key: value})
    return estimators


def paper_pipeline(method, adapter, params, weighted=False):
    """``skada.make_da_pipeline(adapter, paper SVM)`` with the flat ``params`` split between the steps.

    The helper for a new entry's ``build``: ``adapter`` is a skada Adapter
    (or None: the SVM alone); each parameter goes to the step that has it
    (``C`` to the SVM), an unknown one raises :class:`InputError`. The SVM
    is :class:`~cdmer.adaptation.base.LinearSVM`, or with ``weighted=True``
    :class:`~cdmer.adaptation._weighted.PaperSVM` requesting ``sample_weight``
    (for reweighting adapters).
    """
    import skada

    from cdmer.adaptation._weighted import PaperSVM
    from cdmer.adaptation.base import LinearSVM

    svm = PaperSVM() if weighted else LinearSVM()
    steps = [adapter, svm] if adapter is not None else [svm]
    assign_params(method, steps, params)
    if weighted:
        svm.set_fit_request(sample_weight=True)
    return skada.make_da_pipeline(*steps)


def _build_svm(**params):
    return paper_pipeline("SVM", None, params)


def _build_tsrg(**params):
    from cdmer.da.adapters import TSRGAdapter

    return paper_pipeline("TSRG", TSRGAdapter(), params)


def _build_kmm(**params):
    from cdmer.da.adapters import KMMAdapter

    return paper_pipeline("KMM", KMMAdapter(), params, weighted=True)


def _build_kliep(**params):
    from cdmer.da.adapters import KLIEPAdapter

    return paper_pipeline("KLIEP", KLIEPAdapter(), params, weighted=True)


def _build_ulsif(**params):
    from cdmer.da.adapters import ULSIFAdapter

    return paper_pipeline("uLSIF", ULSIFAdapter(), params, weighted=True)


def _build_stm(**params):
    from cdmer.da.adapters import STMClassifier

    return assign_params("STM", [STMClassifier()], params)[0]


def _build_drfst(**params):
    from cdmer.da.adapters import DRFSTAdapter

    return paper_pipeline("DRFS-T", DRFSTAdapter(), params)


def _build_drls(**params):
    from cdmer.da.adapters import DRLSClassifier

    return assign_params("DRLS", [DRLSClassifier()], params)[0]


def _build_tgsr(**params):
    from cdmer.da.adapters import TGSRClassifier

    return assign_params("TGSR", [TGSRClassifier()], params)[0]


def _build_gfk(**params):
    from cdmer.da.adapters import GFKAdapter

    return paper_pipeline("GFK", GFKAdapter(), params)


def _build_tca(**params):
    from skada import TransferComponentAnalysisAdapter

    return paper_pipeline("TCA", TransferComponentAnalysisAdapter(kernel="linear", n_components=50, mu=0.1), params)


def _build_sa(**params):
    from skada import SubspaceAlignmentAdapter

    return paper_pipeline("SA", SubspaceAlignmentAdapter(n_components=50, random_state=0), params)


def _build_coral(**params):
    from cdmer.da.adapters import CORALAdapter

    return paper_pipeline("CORAL", CORALAdapter(), params)


def _build_tkl(**params):
    from cdmer.da.adapters import TKLClassifier

    return assign_params("TKL", [TKLClassifier()], params)[0]


# ---------------------------------------------------------------- outputs of fitted array estimators


def _weighting_outputs(est, Xs, Xt):
    info = {"objective": float(est.objective_)}
    for name in ("solver_status_", "sigma_", "lam_", "eps_"):
        value = getattr(est, name, None)
        if value is not None:
            info[name.rstrip("_")] = value if isinstance(value, str) else float(value)
    return {"source_weights": est.svm_weights(), "info": info}


def _stm_outputs(est, Xs, Xt):
    return {"source_weights": est.weights_,
            "info": {"n_iter": int(est.n_iter_), "objective": float(est.objective_)}}


def _tsrg_outputs(est, Xs, Xt):
    return {"Zt": est.transform(Xt), "info": est.tsrg_.info()}


# ---------------------------------------------------------------- TSRG's path


def _tsrg_solver(params, common):
    return params.get("solver", common.get("solver", "ialm"))


def _tsrg_task_key(params, **common):
    """Exact solver: lambda (one homotopy path per lambda serves all its mus); ialm: the point itself."""
    solver = _tsrg_solver(params, common)
    if solver == "exact":
        return ("exact", float(params["lam"]))
    return ("ialm", float(params["lam"]), float(params["mu"]))


def _tsrg_path(Xs, ys, Xt, points, **common):
    """Evaluate TSRG points with :func:`~cdmer.adaptation.tsrg.tsrg_path`, one call per (lambda, solver).

    The SVM is trained once on the source; each point's re-generated targets
    go through it. Results equal ``TSRGClassifier(**point).fit(Xs, ys, Xt)``.
    """
    from cdmer.adaptation.base import check_domains, make_svm, validate_params
    from cdmer.adaptation.tsrg import TSRGClassifier, tsrg_path

    Xs, ys, Xt = check_domains(Xs, ys, Xt, "TSRG")
    settings = {k: v for k, v in common.items() if k not in ("lam", "mu")}
    for p in points:  # every point's parameters checked before any work
        try:
            validate_params(TSRGClassifier(**{**settings, **p}))
        except TypeError as exc:  # an unknown parameter name
            raise InputError(f"TSRG: {exc}", field="params") from None
    C = settings.pop("C", 1.0)
    svm = make_svm(C).fit(Xs, ys)
    classes = np.asarray(svm.classes_)
    groups = {}
    for i, p in enumerate(points):
        merged = {**settings, **p}
        key = (float(merged["lam"]), merged.get("solver", "ialm"),
               tuple(sorted((k, v) for k, v in merged.items() if k not in ("lam", "mu", "solver", "C"))))
        groups.setdefault(key, []).append(i)
    results = [None] * len(points)
    for (lam, solver, rest), index in groups.items():
        Zt, info = tsrg_path(Xs, Xt, lam, [float(points[i]["mu"]) for i in index], solver=solver, **dict(rest))
        for i, z, inf in zip(index, Zt, info):
            results[i] = PointOutput(params=points[i], y_pred=svm.predict(z), classes=classes,
                                     decision=decision_matrix(svm.decision_function(z), classes.size), Zt=z,
                                     info=inf)
    yield from results


def _tsrg_path_calls(estimator, swapped):
    """A ``work_key`` for methods whose work is :func:`~cdmer.adaptation.tsrg.tsrg_path` per lambda.

    The key lists the calls ``tsrg_path(rows, rows, lam, mus, **settings)``
    the task makes, with the source and target keys in call order: TSRG
    passes (source, target), DRFS-T (``swapped``) (target, source).
    """
    def key(points, source, target, **common):
        defaults = estimator().get_params()
        calls = {}
        for p in points:
            merged = {**defaults, **common, **p}
            settings = tuple(sorted((k, repr(v)) for k, v in merged.items() if k not in ("mu", "C")))
            calls.setdefault(settings, []).append(float(merged["mu"]))
        rows = (target, source) if swapped else (source, target)
        return ("tsrg_path", rows, tuple((settings, tuple(mus)) for settings, mus in calls.items()))
    return key


def _lambda_task_key(axis):
    """Task key of a method whose path shares one lambda's work across ``axis`` (mu, n_selected).

    The inexact ALM (the default solver of the TSRG family) solves every mu on
    its own: such points are their own tasks, so they stream back one by one.
    """
    def task_key(params, **common):
        merged = {**common, **params}
        if merged.get("solver", "ialm") == "ialm" and axis == "mu":
            return ("ialm", float(merged["lam"]), float(merged["mu"]))   # independent points: stream them
        return ("path", float(merged["lam"]))
    return task_key


def _lambda_path(method, estimator, path, axis, outputs):
    """A ``path`` for the registry: group points by (lambda, other settings), run ``path`` per group.

    ``path(Xs, ys, Xt, lam, values, **settings)`` yields ``(value, y_pred,
    decision, ...)`` per value of ``axis``; ``outputs(item)`` maps the rest of
    an item to PointOutput fields. Parameters are validated for every point
    before any work.
    """
    def run(Xs, ys, Xt, points, **common):
        from cdmer.adaptation.base import check_domains, validate_params

        Xs, ys, Xt = check_domains(Xs, ys, Xt, method)
        # the estimator's default solver, not the path's
        defaults = {k: v for k, v in estimator().get_params().items() if k == "solver"}
        for p in points:
            try:
                validate_params(estimator(**{**common, **p}))
            except TypeError as exc:  # an unknown parameter name
                raise InputError(f"{method}: {exc}", field="params") from None
        groups = {}
        for i, p in enumerate(points):
            merged = {**defaults, **common, **p}
            rest = tuple(sorted((k, v) for k, v in merged.items() if k not in ("lam", axis)))
            groups.setdefault((float(merged["lam"]), rest), []).append(i)
        results = [None] * len(points)
        for (lam, rest), index in groups.items():
            values = [points[i][axis] if axis in points[i] else common[axis] for i in index]
            where = {}
            for i, v in zip(index, values):
                where.setdefault(v, []).append(i)
            for item in path(Xs, ys, Xt, lam, list(dict.fromkeys(values)), **dict(rest)):
                value, y_pred, decision = item[0], item[1], item[2]
                extra = outputs(item)
                info = dict(extra.pop("info", {}))
                classes = np.asarray(info.pop("classes", np.unique(ys)))
                for i in where[value]:
                    results[i] = PointOutput(params=points[i], y_pred=np.asarray(y_pred), classes=classes,
                                             decision=decision_matrix(decision, classes.size), info=dict(info),
                                             **extra)
        yield from results
    return run


def _drfst_outputs(item):
    return {"Zs": item[3], "info": item[4]}


def _label_outputs(item):
    return {"info": item[3]}


# ---------------------------------------------------------------- the entries

from cdmer.adaptation.base import SourceSVM  # noqa: E402  (array API: no skada)
from cdmer.adaptation import kliep as _kliep, kmm as _kmm, stm as _stm, tsrg as _tsrg, ulsif as _ulsif  # noqa: E402
from cdmer.adaptation import drfst as _drfst, drls as _drls, gfk as _gfk, tgsr as _tgsr  # noqa: E402
from cdmer.adaptation import coral as _coral, tkl as _tkl  # noqa: E402

register(MethodSpec(
    "SVM", "linear SVM, C = 1, LIBSVM one-vs-one (Zong et al., ACM MM 2017, section 4.1 (2))",
    _build_svm, ({},), {}, estimator=SourceSVM,
    notes="trained on the source only"))
register(MethodSpec(
    "KMM", "Huang et al., NIPS 2006", _build_kmm, _kmm.PARAM_GRID, _kmm.FIXED_PARAMS, estimator=_kmm.KMM,
    outputs=_weighting_outputs, notes="B = 1000, eps = (sqrt(ns) - 1)/sqrt(ns), linear kernel (paper 4.1 (3))"))
register(MethodSpec(
    "KLIEP", "Sugiyama et al., NIPS 2007", _build_kliep, _kliep.PARAM_GRID, _kliep.FIXED_PARAMS,
    estimator=_kliep.KLIEP, outputs=_weighting_outputs,
    notes="width by likelihood cross-validation, 100 centres, seed 0 (paper 4.1 (4): no parameter)"))
register(MethodSpec(
    "uLSIF", "Kanamori et al., JMLR 2009", _build_ulsif, _ulsif.PARAM_GRID, _ulsif.FIXED_PARAMS,
    estimator=_ulsif.ULSIF, outputs=_weighting_outputs,
    notes="grid over lambda (paper 4.1 (4)(a)); fixed: lambda and width by leave-one-out"))
register(MethodSpec(
    "STM", "Chu, De la Torre and Cohn, CVPR 2013", _build_stm, _stm.PARAM_GRID, _stm.FIXED_PARAMS,
    estimator=_stm.STM, outputs=_stm_outputs,
    notes="B, eps as KMM; grid over lambda (paper 4.1 (4)(b)); fixed lambda = 1"))
register(MethodSpec(
    "TSRG", "Zong et al., ACM MM 2017", _build_tsrg, _tsrg.PARAM_GRID, _tsrg.FIXED_PARAMS,
    estimator=_tsrg.TSRGClassifier, path=_tsrg_path, task_key=_tsrg_task_key,
    work_key=_tsrg_path_calls(_tsrg.TSRGClassifier, swapped=False), outputs=_tsrg_outputs,
    notes="the authors' 7 x 37 grid; fixed lambda = 1, mu = 0.01; linear kernel"))

register(MethodSpec(
    "DRFS-T", "Zong, Zheng, Huang, Shi, Cui and Zhao, IEEE TIP 2018 (Domain Regeneration, source re-generated)",
    _build_drfst, tuple(_tsrg.PARAM_GRID), _tsrg.FIXED_PARAMS, estimator=_drfst.DRFSTClassifier,
    path=_lambda_path("DRFS-T", _drfst.DRFSTClassifier, _drfst.drfst_path, "mu", _drfst_outputs),
    task_key=_lambda_task_key("mu"), work_key=_tsrg_path_calls(_drfst.DRFSTClassifier, swapped=True),
    notes="TSRG with source and target swapped; the SVM is trained on the re-generated source and predicts "
          "the original target; TSRG's grid, fixed setting and solvers"))
register(MethodSpec(
    "DRLS", "Zong, Zheng, Huang, Shi, Cui and Zhao, IEEE TIP 2018 (Domain Regeneration in the Label Space)",
    _build_drls, tuple(_tsrg.PARAM_GRID), _tsrg.FIXED_PARAMS, estimator=_drls.DRLS,
    path=_lambda_path("DRLS", _drls.DRLS, _drls.drls_path, "mu", _label_outputs),
    task_key=_lambda_task_key("mu"),
    notes="TSRG's objective with the one-hot source labels in place of the source features; predicts the "
          "argmax of the re-generated label vector; TSRG's grid, fixed setting and solvers"))
register(MethodSpec(
    "TGSR", "Jiang, Zong, Zheng, Liu and Wei, ICPR 2022 (and the authors' released code)",
    _build_tgsr, tuple(_tgsr.PARAM_GRID), _tgsr.FIXED_PARAMS, estimator=_tgsr.TGSR,
    path=_lambda_path("TGSR", _tgsr.TGSR, _tgsr.tgsr_path, "n_selected", _label_outputs),
    task_key=_lambda_task_key("n_selected"),
    notes="the released ALM (start B = ones, T = 0, mu = 1e-3, rho = 1.1); regions: 85 consecutive equal "
          "groups (the released code); grid: 271 lambdas x n_selected 1..85; fixed: lambda = 1, all 85 regions "
          "(one ALM step, see docs/new-methods.md)"))
register(MethodSpec(
    "GFK", "Gong, Shi, Sha and Grauman, CVPR 2012 (geodesic flow kernel, closed form)",
    _build_gfk, tuple(_gfk.PARAM_GRID), _gfk.FIXED_PARAMS,
    notes="PCA subspaces of dimension n_components, rows mapped through a square root of G, then the paper's "
          "linear SVM; grid 5..70; fixed 20"))

#: Subspace dimensions searched by SA and TCA (capped by the data: SA's PCA needs
#: n_components <= min(ns, nt, d); larger points fail and are reported as errors).
_DIMS = tuple(range(10, 101, 10))
register(MethodSpec(
    "TCA", "Pan, Tsang, Kwok and Yang, IEEE TNN 2011 (skada TransferComponentAnalysisAdapter)",
    _build_tca, tuple({"n_components": k, "mu": mu} for k in _DIMS for mu in (0.01, 0.1, 1.0)),
    {"n_components": 50, "mu": 0.1},
    notes="linear kernel (as the cross-database benchmark of Zhang, Zong et al., TKDE 2022), then the paper's "
          "linear SVM; grid: dimension 10..100 x mu in {0.01, 0.1, 1}; fixed: dimension 50 (grid middle), "
          "mu = 0.1 (skada's default)"))
register(MethodSpec(
    "SA", "Fernando, Habrard, Sebban and Tuytelaars, ICCV 2013 (skada SubspaceAlignmentAdapter)",
    _build_sa, tuple({"n_components": k} for k in _DIMS), {"n_components": 50},
    notes="PCA subspaces of source and target aligned, then the paper's linear SVM; grid: dimension 10..100 "
          "(points above min(ns, nt) fail); fixed: 50 (grid middle); PCA seed 0"))
register(MethodSpec(
    "CORAL", "Sun, Feng and Saenko, AAAI 2016 (correlation alignment; cdmer's CORALAdapter, equal to skada's)",
    _build_coral, tuple(_coral.PARAM_GRID), _coral.FIXED_PARAMS,
    notes="source rows centred, whitened with the shrunk source covariance and re-coloured with the shrunk target "
          "covariance, target rows centred (skada's CORALAdapter, also at predict), then the paper's linear SVM; "
          "reg is skada's shrinkage coefficient in (0, 1], C = (1 - reg) S + reg trace(S)/d I (not the paper's "
          "cov + I; reg = 1 reduces CORAL to a scalar rescaling, reg = 10 is invalid); cdmer's exact low-rank "
          "form, no d x d matrix (skada's adapter is infeasible at d = 15045); grid reg 0.01, 0.1, 0.3, 0.5, 0.7, "
          "0.9; fixed reg = 0.5 (our choice, mid-range; skada's default 'auto', Ledoit-Wolf, has no exact "
          "low-rank form)"))
register(MethodSpec(
    "TKL", "Long, Wang, Sun and Yu, IEEE TKDE 2015 (transfer kernel learning)",
    _build_tkl, tuple(_tkl.PARAM_GRID), _tkl.FIXED_PARAMS, estimator=_tkl.TKLClassifier,
    notes="linear kernel; r = min(nt - 10, 200) target eigenpairs extrapolated to the source (Nystrom), "
          "eigenspectrum fitted to the source kernel under the damping constraint lambda_i >= zeta lambda_(i+1) "
          "(a QP, Clarabel), then an SVM (C = 1) on the learned kernel; grid zeta 1.0 .. 5.0 (9 points, our "
          "choice); fixed zeta = 2 (the released TKL.m's default)"))
