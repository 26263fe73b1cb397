"""The skada-native layer (cdmer.da): Adapters, the DA classifier, make_method, interop with skada."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import skada
from skada.metrics import CircularValidation
from skada.model_selection import SourceTargetShuffleSplit

from cdmer.adaptation import (CORAL, DRLS, KLIEP, KMM, STM, TGSR, ULSIF, DRFSTClassifier, LinearSVM, SourceSVM, TSRG,
                              TKLClassifier, TSRGClassifier)
from cdmer.da import make_method
from cdmer.da.adapters import CORALAdapter, KMMAdapter, STMClassifier, TSRGAdapter
from cdmer.da.adapters import TKLClassifier as TKLDAClassifier
from cdmer.errors import InputError, NotFittedError


def shifted(seed=0, ns=36, nt=24, d=6):
    """Three classes (integer labels), target shifted from the source."""
    rng = np.random.default_rng(seed)
    ys = np.arange(ns) % 3
    Xs = rng.normal(size=(ns, d))
    Xs[ys == 1, 0] += 2.0
    Xs[ys == 2, 1] += 2.0
    Xt = rng.normal(size=(nt, d)) + 0.3
    Xt[: nt // 3, 0] += 2.0
    return Xs, ys, Xt


def da_inputs(Xs, ys, Xt):
    """skada's convention: one X, sample_domain 1 (source) / -1 (target), target labels masked -1."""
    X = np.vstack([Xs, Xt])
    y = np.concatenate([ys, -np.ones(len(Xt), dtype=int)])
    domain = np.concatenate([np.ones(len(Xs), dtype=int), -np.ones(len(Xt), dtype=int)])
    return X, y, domain


ARRAY_API = {
    "SVM": (SourceSVM, {}),
    "KMM": (KMM, {}),
    "KLIEP": (KLIEP, {}),
    "uLSIF": (ULSIF, {}),
    "STM": (STM, {"lam": 0.5}),
    "TSRG": (TSRGClassifier, {"lam": 1.0, "mu": 0.05}),
    "TSRG-exact": (TSRGClassifier, {"lam": 1.0, "mu": 0.05, "solver": "exact"}),
    "DRFS-T": (DRFSTClassifier, {"lam": 1.0, "mu": 0.05}),
    "DRFS-T-exact": (DRFSTClassifier, {"lam": 1.0, "mu": 0.05, "solver": "exact"}),
    "DRLS": (DRLS, {"lam": 1.0, "mu": 0.05}),
    "TGSR": (TGSR, {"lam": 1.0, "n_selected": 2, "n_regions": 2}),
    "TKL": (TKLClassifier, {"zeta": 2.0}),
    "TKL-rbf": (TKLClassifier, {"zeta": 1.5, "kernel": "rbf", "n_components": 10}),
}


@pytest.mark.parametrize("name", list(ARRAY_API))
def test_array_api_and_make_method_give_identical_predictions(name):
    Xs, ys, Xt = shifted()
    cls, params = ARRAY_API[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = cls(**params).fit(Xs, ys, Xt)
        est = make_method(name.removesuffix("-exact").removesuffix("-rbf"), **params)
        X, y, domain = da_inputs(Xs, ys, Xt)
        est.fit(X, y, sample_domain=domain)
    target = -np.ones(len(Xt), dtype=int)
    np.testing.assert_array_equal(est.predict(Xt, sample_domain=target), reference.predict(Xt))
    np.testing.assert_allclose(est.decision_function(Xt, sample_domain=target), reference.decision_function(Xt),
                               rtol=1e-10, atol=1e-10)
    # without sample_domain, rows are target rows (skada's rule at prediction)
    np.testing.assert_array_equal(est.predict(Xt), reference.predict(Xt))


@pytest.mark.parametrize("reg", [0.01, 0.5, 0.9])
def test_coral_array_api_and_make_method_give_identical_predictions(reg):
    # the array API: CORAL re-colours the source, the paper's SVM is trained on it and applied to the
    # centred target (skada's convention, also at predict)
    Xs, ys, Xt = shifted(seed=5)
    coral = CORAL(reg=reg).fit(Xs, Xt)
    svm = LinearSVM().fit(coral.transform(Xs), ys)
    est = make_method("CORAL", reg=reg)
    X, y, domain = da_inputs(Xs, ys, Xt)
    est.fit(X, y, sample_domain=domain)
    target = -np.ones(len(Xt), dtype=int)
    np.testing.assert_array_equal(est.predict(Xt, sample_domain=target), svm.predict(coral.transform_target(Xt)))
    np.testing.assert_allclose(est.decision_function(Xt, sample_domain=target),
                               svm.decision_function(coral.transform_target(Xt)), rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(est.predict(Xt), svm.predict(coral.transform_target(Xt)))


@pytest.mark.parametrize("reg", [0.01, 0.3, 0.9])
@pytest.mark.parametrize("assume_centered", [False, True])
def test_coral_adapter_equals_skadas_in_a_pipeline(reg, assume_centered):
    # d = 20 > ns: skada's dense d x d CORALAdapter is still cheap; same SVM after each adapter
    Xs, ys, Xt = shifted(seed=6, ns=15, nt=12, d=20)
    X, y, domain = da_inputs(Xs, ys, Xt)
    ours = skada.make_da_pipeline(CORALAdapter(reg=reg, assume_centered=assume_centered), LinearSVM())
    theirs = skada.make_da_pipeline(skada.CORALAdapter(reg=reg, assume_centered=assume_centered), LinearSVM())
    ours.fit(X, y, sample_domain=domain)
    theirs.fit(X, y, sample_domain=domain)
    target = -np.ones(len(Xt), dtype=int)
    for kwargs in ({"sample_domain": target}, {}):
        np.testing.assert_array_equal(ours.predict(Xt, **kwargs), theirs.predict(Xt, **kwargs))
        np.testing.assert_allclose(ours.decision_function(Xt, **kwargs), theirs.decision_function(Xt, **kwargs),
                                   rtol=1e-8, atol=1e-8)
    # the adapters themselves, row by row, with sample_domain (interleaved rows) and without
    order = np.random.default_rng(0).permutation(len(X))
    a = CORALAdapter(reg=reg, assume_centered=assume_centered)
    b = skada.CORALAdapter(reg=reg, assume_centered=assume_centered)
    Za = a.fit_transform(X[order], y[order], sample_domain=domain[order])
    Zb = b.fit_transform(X[order], y[order], sample_domain=domain[order])
    np.testing.assert_allclose(Za, Zb, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.transform(Xt), b.transform(Xt), rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.transform(X, sample_domain=domain, allow_source=True),
                               b.transform(X, sample_domain=domain, allow_source=True), rtol=0, atol=1e-10)
    with pytest.raises(InputError):           # source rows refused unless allowed, as skada
        a.transform(X, sample_domain=domain)
    with pytest.raises(ValueError):
        b.transform(X, sample_domain=domain)


def test_coral_and_tkl_da_estimators_params_and_errors():
    assert make_method("CORAL").get_params()["coraladapter__reg"] == 0.5
    assert clone(CORALAdapter(reg=0.1)).get_params() == {"reg": 0.1, "assume_centered": False}
    tkl = clone(make_method("TKL", zeta=3.0, C=2.0))
    assert isinstance(tkl, TKLDAClassifier) and tkl.get_params() == TKLClassifier(zeta=3.0, C=2.0).get_params()
    Xs, ys, Xt = shifted()
    X, y, domain = da_inputs(Xs, ys, Xt)
    for est, method in ((CORALAdapter(), "transform"), (TKLDAClassifier(), "predict")):
        with pytest.raises(NotFittedError):
            getattr(est, method)(Xt)
    with pytest.raises(InputError, match="low-rank") as err:
        CORALAdapter(reg="auto").fit(X, y, sample_domain=domain)
    assert err.value.field == "reg"
    with pytest.raises(InputError, match="zeta"):
        make_method("TKL", zeta=0.5).fit(X, y, sample_domain=domain)
    with pytest.raises(InputError, match="needs source rows"):
        CORALAdapter().fit(Xs, ys)
    fitted = CORALAdapter().fit(X, y, sample_domain=domain)
    with pytest.raises(InputError, match="X has 3 features, but CORALAdapter is expecting 6"):
        fitted.transform(Xt[:, :3])


@pytest.mark.parametrize("name", ["KMM", "TSRG"])
def test_identical_predictions_on_real_features(real_features, name):
    from cdmer.io.featureset import load_features

    src = load_features(real_features / "CASME2_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(real_features / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    names, ys = np.unique(src.labels, return_inverse=True)
    params = {"lam": 1.0, "mu": 0.5, "solver": "exact"} if name == "TSRG" else {}
    cls = TSRGClassifier if name == "TSRG" else KMM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = cls(**params).fit(src.X, src.labels, tgt.X).predict(tgt.X)
        est = make_method(name, **params).fit(*da_inputs(src.X, ys, tgt.X)[:2],
                                              sample_domain=da_inputs(src.X, ys, tgt.X)[2])
    np.testing.assert_array_equal(names[est.predict(tgt.X)], reference)


def test_tsrg_adapter_regenerates_target_rows_only():
    Xs, ys, Xt = shifted(seed=1)
    X, y, domain = da_inputs(Xs, ys, Xt)
    adapter = TSRGAdapter(lam=1.0, mu=0.05)
    Z = adapter.fit_transform(X, y, sample_domain=domain)
    reference = TSRG(lam=1.0, mu=0.05).fit(Xs, Xt)
    np.testing.assert_array_equal(Z[: len(Xs)], Xs)
    np.testing.assert_allclose(Z[len(Xs):], reference.transform(Xt), rtol=1e-12)
    # sample_domain read from the masked labels when not given
    np.testing.assert_allclose(TSRGAdapter(lam=1.0, mu=0.05).fit_transform(X, y), Z, rtol=1e-12)
    # new rows are target rows by default; source rows pass only when allowed
    np.testing.assert_allclose(adapter.transform(Xt), reference.transform(Xt), rtol=1e-12)
    with pytest.raises(InputError):
        adapter.transform(X, sample_domain=domain)
    np.testing.assert_allclose(adapter.transform(X, sample_domain=domain, allow_source=True), Z, rtol=1e-12)


def test_reweight_adapter_gives_weights_to_the_estimator():
    Xs, ys, Xt = shifted(seed=2)
    X, y, domain = da_inputs(Xs, ys, Xt)
    out, extra = KMMAdapter().fit_transform(X, y, sample_domain=domain)
    np.testing.assert_array_equal(out, X)
    weights = extra["sample_weight"]
    np.testing.assert_allclose(weights[: len(Xs)], KMM().fit_weights(Xs, Xt).weights_, rtol=1e-10)
    assert np.all(weights[len(Xs):] == 0)


def test_interop_make_da_pipeline_with_sklearn_steps():
    # skada.make_da_pipeline(StandardScaler(), TSRGAdapter(...), SVC(kernel="linear")), checked against
    # the same steps done by hand: the scaler sees every row, TSRG re-generates the scaled target,
    # the SVC is trained on the scaled source only (skada drops the masked target rows).
    Xs, ys, Xt = shifted(seed=3)
    X, y, domain = da_inputs(Xs, ys, Xt)
    pipe = skada.make_da_pipeline(StandardScaler(), TSRGAdapter(lam=1.0, mu=0.05), SVC(kernel="linear"))
    pipe.fit(X, y, sample_domain=domain)
    pred = pipe.predict(Xt, sample_domain=-np.ones(len(Xt), dtype=int))
    scaler = StandardScaler().fit(X)
    Zs, Zt = scaler.transform(Xs), scaler.transform(Xt)
    tsrg = TSRG(lam=1.0, mu=0.05).fit(Zs, Zt)
    expected = SVC(kernel="linear").fit(Zs, ys).predict(tsrg.transform(Zt))
    np.testing.assert_array_equal(pred, expected)


def test_grid_search_with_skada_splitter_and_scorer():
    from sklearn.model_selection import GridSearchCV

    Xs, ys, Xt = shifted(seed=4)
    X, y, domain = da_inputs(Xs, ys, Xt)
    search = GridSearchCV(make_method("TSRG"), {"tsrgadapter__mu": [0.01, 0.5], "linearsvm__C": [1.0]},
                          cv=SourceTargetShuffleSplit(n_splits=2, test_size=0.3, random_state=0),
                          scoring=CircularValidation(), error_score="raise")
    search.fit(X, y, sample_domain=domain)
    assert len(search.cv_results_["params"]) == 2
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.predict(Xt).shape == (len(Xt),)


def test_clone_get_set_params_nested():
    est = make_method("KMM", B=100.0, C=2.0)
    params = est.get_params()
    assert params["kmmadapter__B"] == 100.0 and params["papersvm__C"] == 2.0
    copy = clone(est).set_params(kmmadapter__B=10.0, papersvm__C=0.5)
    assert copy.get_params()["kmmadapter__B"] == 10.0 and est.get_params()["kmmadapter__B"] == 100.0
    tsrg = make_method("TSRG", lam=10.0, mu=0.2, solver="exact")
    assert tsrg.get_params()["tsrgadapter__solver"] == "exact"
    stm = clone(make_method("STM", lam=3.0))
    assert isinstance(stm, STMClassifier) and stm.get_params()["lam"] == 3.0


def test_not_fitted_and_bad_input():
    Xs, ys, Xt = shifted()
    for est, method in ((TSRGAdapter(), "transform"), (STMClassifier(), "predict"),
                        (STMClassifier(), "decision_function")):
        with pytest.raises(NotFittedError):
            getattr(est, method)(Xt)
    with pytest.raises(SklearnNotFittedError):  # skada's pipeline raises scikit-learn's (cdmer's subclasses it)
        make_method("KMM").predict(Xt)
    X, y, domain = da_inputs(Xs, ys, Xt)
    with pytest.raises(InputError, match="needs source rows .* and target rows") as err:
        TSRGAdapter().fit(Xs, ys)  # no target
    assert err.value.field == "sample_domain"
    with pytest.raises(InputError, match="Unknown label type") as err:
        STMClassifier().fit(X, np.where(y < 0, "?", "a").astype(object), sample_domain=domain)
    assert err.value.field == "y"
    with pytest.raises(InputError, match="could not convert string to float") as err:
        TSRGAdapter().fit(np.full(X.shape, "high"), y, sample_domain=domain)
    assert err.value.field == "X"
    with pytest.raises(InputError, match="lam must be") as err:
        make_method("STM", lam=-1.0).fit(X, y, sample_domain=domain)
    assert err.value.field == "lam"
    fitted = make_method("TSRG").fit(X, y, sample_domain=domain)
    with pytest.raises(InputError, match="X has 3 features, but TSRGAdapter is expecting 6"):
        fitted.predict(Xt[:, :3])


def test_not_fitted_error_is_scikit_learns():
    from cdmer.errors import CdmerError

    assert issubclass(NotFittedError, SklearnNotFittedError) and issubclass(NotFittedError, CdmerError)
