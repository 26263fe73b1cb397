"""Tests of DRFS-T (Zong et al., IEEE TIP 2018): TSRG with the domains swapped."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.svm import SVC

from cdmer.adaptation.drfst import DRFST, DRFSTClassifier, drfst_path
from _literal import literal_alm
from cdmer.adaptation.tsrg import TSRG
from cdmer.errors import InputError, NotFittedError

GAMMA = 0.05


def _data(ns=12, nt=9, d=15, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(ns, d))
    Xt = rng.normal(loc=0.5, size=(nt, d))
    ys = np.array(["a", "b", "c"] * (ns // 3))
    return Xs, Xt, ys


def _literal_drfst(Xs, Xt, lam, mu, kernel):
    """MM 2017 section 3.3 with the domains swapped: re-generate the target, from [Xt; Xs] (columns = samples)."""
    k = linear_kernel if kernel == "linear" else (lambda a, b: rbf_kernel(a, b, gamma=GAMMA))
    Xall = np.vstack([Xt, Xs])                           # target first, then source
    Kt_ = k(Xall, Xt)                                    # plays Ks of eq. (7)
    Ks_ = k(Xall, Xs)
    dk = Kt_.mean(axis=1) - Ks_.mean(axis=1)
    P, _ = literal_alm(Kt_, dk, Xt, lam, mu)
    return P, (P.T @ Ks_).T                              # P and the re-generated source rows


@pytest.mark.parametrize("solver", ["ialm", "exact"])
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_equals_tsrg_with_domains_swapped(solver, kernel):
    Xs, Xt, _ = _data()
    a = DRFST(lam=1.0, mu=0.07, kernel=kernel, gamma=GAMMA, solver=solver).fit(Xs, Xt)
    b = TSRG(lam=1.0, mu=0.07, kernel=kernel, gamma=GAMMA, solver=solver).fit(Xt, Xs)
    np.testing.assert_array_equal(a.P_, b.P_)
    np.testing.assert_array_equal(a.transform(Xs), b.transform(Xs))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_transform_matches_literal_transcription(kernel):
    Xs, Xt, _ = _data(seed=1)
    P_ref, Zs_ref = _literal_drfst(Xs, Xt, 0.5, 0.1, kernel)
    model = DRFST(lam=0.5, mu=0.1, kernel=kernel, gamma=GAMMA).fit(Xs, Xt)
    assert np.max(np.abs(model.P_ - P_ref)) <= 1e-8 * np.max(np.abs(P_ref))
    np.testing.assert_allclose(model.transform(Xs), Zs_ref, rtol=1e-7, atol=1e-8)


def test_classifier_trains_on_regenerated_source_predicts_original_target():
    Xs, Xt, ys = _data(seed=2)
    clf = DRFSTClassifier(lam=1.0, mu=0.05).fit(Xs, ys, Xt)
    _, Zs = _literal_drfst(Xs, Xt, 1.0, 0.05, "linear")
    svc = SVC(kernel="linear", C=1.0).fit(Zs, ys)             # LIBSVM, the paper's classifier
    np.testing.assert_array_equal(clf.predict(Xt), svc.predict(Xt))
    np.testing.assert_allclose(clf.decision_function(Xt), svc.decision_function(Xt), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("solver", ["ialm", "exact"])
def test_path_equals_single_fits(solver):
    Xs, Xt, ys = _data(seed=3)
    mus = [0.5, 0.02]
    out = list(drfst_path(Xs, ys, Xt, 1.0, mus, solver=solver))
    assert [o[0] for o in out] == mus
    for mu, y_pred, dec, Zs, info in out:
        clf = DRFSTClassifier(lam=1.0, mu=mu, solver=solver).fit(Xs, ys, Xt)
        np.testing.assert_allclose(Zs, clf.Zs_, rtol=1e-9, atol=1e-10)
        np.testing.assert_array_equal(y_pred, clf.predict(Xt))
        np.testing.assert_allclose(dec, clf.decision_function(Xt), rtol=1e-6, atol=1e-8)
        assert info["solver"] == solver


def test_array_api_and_errors():
    Xs, Xt, ys = _data()
    model = DRFST()
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.transform(Xs)
    with pytest.raises(NotFittedError):
        DRFSTClassifier().predict(Xt)
    with pytest.raises(InputError, match="lam"):
        DRFST(lam=-1).fit(Xs, Xt)
    with pytest.raises(InputError):
        DRFST().fit(Xs, Xt[:, :4])
    with pytest.raises(InputError):
        DRFSTClassifier().fit(Xs, ys[:-1], Xt)
    model.fit(Xs, Xt)
    with pytest.raises(InputError):
        model.transform(Xs[:, :3])
