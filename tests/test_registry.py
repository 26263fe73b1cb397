"""The registry of methods (cdmer.da.registry): entries, look-up, evaluate_points, PointOutput."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from cdmer.adaptation import coral, kliep, kmm, stm, tkl, tsrg, ulsif
from cdmer.adaptation.tsrg import TSRGClassifier
from cdmer.da.registry import METHODS, MethodSpec, PointOutput, evaluate_points, get_method, make_method, register
from cdmer.errors import InputError


def shifted(seed=0, ns=36, nt=24, d=6):
    rng = np.random.default_rng(seed)
    ys = np.array(["negative", "positive", "surprise"])[np.arange(ns) % 3]
    Xs = rng.normal(size=(ns, d))
    Xs[ys == "positive", 0] += 2.0
    Xs[ys == "surprise", 1] += 2.0
    Xt = rng.normal(size=(nt, d)) + 0.3
    Xt[: nt // 3, 0] += 2.0
    return Xs, ys, Xt


def test_registry_import_does_not_import_skada():
    # importing skada switches scikit-learn's metadata routing on for the whole process
    code = ("import sys; import cdmer.da, cdmer.da.registry as r; r.get_method('TSRG').grid; "
            "assert 'skada' not in sys.modules, 'skada imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_entries():
    assert list(METHODS)[:6] == ["SVM", "KMM", "KLIEP", "uLSIF", "STM", "TSRG"]
    assert {"TCA", "SA", "CORAL", "TKL"} <= set(METHODS)
    assert get_method("CORAL").grid == coral.PARAM_GRID and get_method("CORAL").fixed == {"reg": 0.5}
    assert get_method("CORAL").estimator is None
    assert type(make_method("CORAL").steps[0][1].base_estimator).__module__ == "cdmer.da.adapters"  # not skada's
    assert get_method("TKL").grid == tkl.PARAM_GRID and get_method("TKL").fixed == {"zeta": 2.0}
    assert get_method("TKL").estimator is tkl.TKLClassifier
    # grids and fixed settings are the modules' (one place)
    assert get_method("TSRG").grid is tsrg.PARAM_GRID and len(tsrg.PARAM_GRID) == 259
    assert get_method("KMM").grid is kmm.PARAM_GRID and get_method("KLIEP").grid is kliep.PARAM_GRID
    assert get_method("uLSIF").grid is ulsif.PARAM_GRID and get_method("STM").grid is stm.PARAM_GRID
    assert get_method("TSRG").estimator is TSRGClassifier
    for spec in METHODS.values():
        assert isinstance(spec, MethodSpec) and spec.citation
        assert isinstance(spec.grid, tuple) and all(isinstance(p, dict) for p in spec.grid)
        json.dumps([spec.grid, dict(spec.fixed)])  # plain values
        # every grid point and the fixed setting build an estimator
        spec.build(**spec.fixed)
        spec.build(**spec.grid[0])
    tca = get_method("TCA")
    assert {p["n_components"] for p in tca.grid} == set(range(10, 101, 10))
    assert {p["mu"] for p in tca.grid} == {0.01, 0.1, 1.0}
    assert make_method("TCA").steps[0][1].base_estimator.kernel == "linear"
    assert get_method("TCA").estimator is None


def test_get_method_case_insensitive_and_errors():
    assert get_method("ulsif") is METHODS["uLSIF"] and get_method("tsrg") is METHODS["TSRG"]
    with pytest.raises(InputError, match="unknown method 'nope'.*TSRG") as err:
        get_method("nope")
    assert err.value.field == "method"
    with pytest.raises(InputError, match="TSRG: unknown parameter 'lambda'") as err:
        make_method("TSRG", **{"lambda": 1.0})
    assert err.value.field == "lambda"


def test_register_adds_one_entry():
    spec = MethodSpec("DUMMY", "none", METHODS["SVM"].build, ({},), {}, estimator=METHODS["SVM"].estimator)
    try:
        assert register(spec) is spec and get_method("dummy") is spec
        Xs, ys, Xt = shifted()
        (out,) = evaluate_points(spec, Xs, ys, Xt, spec.grid)
        assert out.error is None and out.y_pred.shape == (len(Xt),)
    finally:
        METHODS.pop("DUMMY")


@pytest.mark.parametrize("name", ["SVM", "KMM", "KLIEP", "uLSIF", "STM", "TSRG", "DRFS-T", "DRLS", "TGSR", "GFK",
                                  "TCA", "SA", "CORAL", "TKL"])
def test_point_output_contract(name):
    Xs, ys, Xt = shifted()
    spec = get_method(name)
    point = {"n_components": 4} if name in ("TCA", "SA", "GFK") else dict(spec.fixed)
    if name == "TGSR":
        point = {"lam": 1.0, "n_selected": 1, "n_regions": Xs.shape[1]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (out,) = evaluate_points(spec, Xs, ys, Xt, [point])
    assert isinstance(out, PointOutput) and out.error is None and out.params == point
    assert out.y_pred.shape == (len(Xt),) and set(out.y_pred) <= set(ys)
    # decision: nt x c in classes order; the label is its argmax (the tie rule of LinearSVM)
    assert out.decision.shape == (len(Xt), len(out.classes))
    np.testing.assert_array_equal(out.y_pred, out.classes[np.argmax(out.decision, axis=1)])
    json.dumps(out.info)
    assert out.info["time_s"] >= 0
    if name in ("KMM", "KLIEP", "uLSIF", "STM"):
        assert out.source_weights.shape == (len(Xs),) and out.source_weights.min() >= 0
    else:
        assert out.source_weights is None
    if name == "TSRG":
        assert out.Zs is None and out.Zt.shape == Xt.shape
    if name in ("TCA", "SA", "CORAL", "GFK"):
        assert out.Zs.shape[0] == len(Xs) and out.Zt.shape[0] == len(Xt)
    if name == "DRFS-T":
        assert out.Zs.shape == Xs.shape and out.Zt is None


def test_weights_are_those_the_svm_was_trained_with():
    Xs, ys, Xt = shifted(seed=1)
    (out,) = evaluate_points(get_method("uLSIF"), Xs, ys, Xt, [{"lam": 1e4}])
    model = ulsif.ULSIF(lam=1e4).fit(Xs, ys, Xt)
    np.testing.assert_allclose(out.source_weights, model.weights_ / model.weights_.mean())
    assert out.source_weights.mean() == pytest.approx(1.0)


@pytest.mark.parametrize("solver", ["exact", "ialm"])
def test_tsrg_path_points_equal_pointwise_fits(solver):
    Xs, ys, Xt = shifted(seed=2)
    points = [{"lam": 10.0, "mu": 0.5}, {"lam": 0.1, "mu": 0.05}, {"lam": 10.0, "mu": 0.01}]
    outs = list(evaluate_points(get_method("TSRG"), Xs, ys, Xt, points, solver=solver))
    assert [o.params for o in outs] == points  # in the order given
    for point, out in zip(points, outs):
        clf = TSRGClassifier(solver=solver, **point).fit(Xs, ys, Xt)
        np.testing.assert_array_equal(out.y_pred, clf.predict(Xt))
        assert out.info["solver"] == solver and out.info["converged"]
        np.testing.assert_allclose(out.decision, clf.decision_function(Xt), rtol=1e-6, atol=1e-6)


def test_tsrg_task_key():
    key = get_method("TSRG").task_key
    # exact: one homotopy path per lambda serves all its mus
    assert key({"lam": 1.0, "mu": 0.1, "solver": "exact"}) == key({"lam": 1.0, "mu": 0.5, "solver": "exact"})
    assert key({"lam": 1.0, "mu": 0.1}, solver="exact") == key({"lam": 1.0, "mu": 0.7}, solver="exact")
    assert key({"lam": 1.0, "mu": 0.1}, solver="exact") != key({"lam": 10.0, "mu": 0.1}, solver="exact")
    # ialm (the default): every point is its own task
    assert key({"lam": 1.0, "mu": 0.1}) != key({"lam": 1.0, "mu": 0.5})
    assert get_method("KMM").task_key is None


def test_failed_point_is_reported_not_raised():
    # SA's subspace cannot exceed the number of target samples: the point fails, the others go on
    Xs, ys, Xt = shifted()
    outs = list(evaluate_points(get_method("SA"), Xs, ys, Xt, [{"n_components": 50}, {"n_components": 3}]))
    assert outs[0].y_pred is None and "n_components" in outs[0].error
    assert outs[1].error is None and outs[1].y_pred is not None


def test_bad_input_raises():
    Xs, ys, Xt = shifted()
    with pytest.raises(InputError):
        list(evaluate_points(get_method("KMM"), Xs, ys, Xt[:, :3], [{}]))
    with pytest.raises(InputError, match="TSRG: mu must be"):
        list(evaluate_points(get_method("TSRG"), Xs, ys, Xt, [{"lam": 1.0, "mu": -1.0}]))


def test_built_estimators_have_plain_parameters():
    # a model can be stored as JSON + arrays: every leaf parameter of the built estimator is plain
    from sklearn.base import BaseEstimator

    for name in METHODS:
        params = make_method(name).get_params(deep=True)
        leaves = {k: v for k, v in params.items()
                  if not isinstance(v, BaseEstimator) and k not in ("steps", "memory", "verbose", "transform_input")}
        json.dumps(leaves)
        rebuilt = make_method(name).set_params(**leaves)
        assert rebuilt.get_params(deep=True).keys() == params.keys()


def test_tsrg_points_own_solver_overrides_common():
    # the protocol's overrides put {"solver": "exact"} into points; a point's key wins over `common`
    Xs, ys, Xt = shifted(seed=8)
    points = [{"lam": 1.0, "mu": 0.07, "solver": "exact"}, {"lam": 1.0, "mu": 0.07}]
    outs = list(evaluate_points(get_method("TSRG"), Xs, ys, Xt, points, solver="ialm"))
    assert [o.info["solver"] for o in outs] == ["exact", "ialm"]
    for point, out in zip(points, outs):
        clf = TSRGClassifier(**{"solver": "ialm", **point}).fit(Xs, ys, Xt)
        np.testing.assert_array_equal(out.y_pred, clf.predict(Xt))
        assert out.info["objective"] == pytest.approx(clf.tsrg_.objective_, rel=1e-9)
