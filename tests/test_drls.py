"""Tests of DRLS (Zong et al., IEEE TIP 2018) against independent computations written here."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Lasso
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel

from cdmer.adaptation.drls import DRLS, drls_path
from _literal import literal_alm
from cdmer.errors import ConvergenceWarning, InputError, NotFittedError

GAMMA = 0.05


def _data(ns=12, nt=9, d=15, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(ns, d))
    Xt = rng.normal(loc=0.5, size=(nt, d))
    ys = np.array(["neg", "pos", "sur"] * (ns // 3))
    return Xs, Xt, ys


def _kernels(Xs, Xt, kernel):
    k = linear_kernel if kernel == "linear" else (lambda a, b: rbf_kernel(a, b, gamma=GAMMA))
    Ks = np.vstack([k(Xs, Xs), k(Xt, Xs)])
    Kt = np.vstack([k(Xs, Xt), k(Xt, Xt)])
    dk = Ks.mean(axis=1) - Kt.mean(axis=1)
    return Ks, Kt, dk


def _onehot(ys):
    classes = np.unique(ys)
    return (ys[None, :] == classes[:, None]).astype(float)            # Ls, c x ns


def _literal_alm(Xs, Xt, ys, lam, mu, kernel):
    """TSRG's ALM (MM 2017 section 3.3) with Ls in place of Xs, transcribed literally (columns = samples)."""
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    return literal_alm(Ks, dk, _onehot(ys).T, lam, mu)


def _objective(Xs, Xt, ys, P, lam, mu, kernel):
    Ls = _onehot(ys)
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    return np.sum((Ls - P.T @ Ks) ** 2) + lam * np.sum((P.T @ dk) ** 2) + mu * np.abs(P).sum()


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (0.01, 0.5), (100.0, 0.002)])
def test_ialm_matches_literal_transcription(kernel, lam, mu):
    Xs, Xt, ys = _data()
    P_ref, it_ref = _literal_alm(Xs, Xt, ys, lam, mu, kernel)
    model = DRLS(lam=lam, mu=mu, kernel=kernel, gamma=GAMMA).fit(Xs, ys, Xt)
    assert model.converged_
    assert model.n_iter_ == it_ref
    assert np.max(np.abs(model.P_ - P_ref)) <= 1e-8 * max(1.0, np.max(np.abs(P_ref)))
    assert model.objective_ == pytest.approx(_objective(Xs, Xt, ys, P_ref, lam, mu, kernel), rel=1e-9)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_decision_function_is_regenerated_labels(kernel):
    Xs, Xt, ys = _data(seed=1)
    model = DRLS(lam=1.0, mu=0.05, kernel=kernel, gamma=GAMMA).fit(Xs, ys, Xt)
    _, Kt, _ = _kernels(Xs, Xt, kernel)
    dec = model.decision_function(Xt)
    np.testing.assert_allclose(dec, (model.P_.T @ Kt).T, rtol=1e-10, atol=1e-12)
    assert dec.shape == (len(Xt), 3)
    assert list(model.classes_) == ["neg", "pos", "sur"]
    np.testing.assert_array_equal(model.predict(Xt), model.classes_[np.argmax(dec, axis=1)])


@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (10.0, 0.5), (0.0, 0.01)])
def test_exact_is_optimal(lam, mu):
    # each class column of (DRLS) as a Lasso on the stacked design Z = [Ks^T; sqrt(lam) dk^T]:
    # ||y_j - Z p||^2 + mu |p|_1, scikit-learn's objective ||y - Z p||^2/(2N) + alpha |p|_1, alpha = mu/(2N)
    Xs, Xt, ys = _data(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        exact = DRLS(lam=lam, mu=mu, solver="exact").fit(Xs, ys, Xt)
    Ks, _, dk = _kernels(Xs, Xt, "linear")
    Ls = _onehot(ys)
    Z = np.vstack([Ks.T, np.sqrt(lam) * dk[None, :]])
    N = Z.shape[0]
    P_cd = np.column_stack([
        Lasso(alpha=mu / (2 * N), fit_intercept=False, tol=1e-14, max_iter=1_000_000)
        .fit(Z, np.concatenate([Ls[j], [0.0]])).coef_ for j in range(Ls.shape[0])])
    f_exact = _objective(Xs, Xt, ys, exact.P_, lam, mu, "linear")
    f_cd = _objective(Xs, Xt, ys, P_cd, lam, mu, "linear")
    assert f_exact <= f_cd * (1 + 1e-9)
    assert f_exact == pytest.approx(f_cd, rel=1e-6)
    # subgradient condition of every entry, computed here
    G = -2 * Ks @ (Ls - exact.P_.T @ Ks).T + 2 * lam * np.outer(dk, dk @ exact.P_)
    viol = np.where(exact.P_ != 0, np.abs(G + mu * np.sign(exact.P_)), np.maximum(np.abs(G) - mu, 0))
    assert viol.max() <= 1e-6 * mu + 1e-12 * np.abs(Ks).max() ** 2
    ialm = DRLS(lam=lam, mu=mu).fit(Xs, ys, Xt)
    assert f_exact <= _objective(Xs, Xt, ys, ialm.P_, lam, mu, "linear") * (1 + 1e-12)


@pytest.mark.parametrize("solver", ["ialm", "exact"])
def test_path_equals_single_fits(solver):
    Xs, Xt, ys = _data(seed=4)
    mus = [0.5, 0.01, 0.07]
    out = list(drls_path(Xs, ys, Xt, 1.0, mus, solver=solver))
    assert [o[0] for o in out] == mus
    for mu, y_pred, dec, info in out:
        model = DRLS(lam=1.0, mu=mu, solver=solver).fit(Xs, ys, Xt)
        np.testing.assert_allclose(dec, model.decision_function(Xt), rtol=1e-9, atol=1e-10)
        np.testing.assert_array_equal(y_pred, model.predict(Xt))
        assert info["classes"] == ["neg", "pos", "sur"]


def test_array_api_and_errors():
    Xs, Xt, ys = _data()
    model = DRLS(lam=1.0, mu=0.1)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(Xt)
    with pytest.raises(InputError, match="mu"):
        DRLS(mu=-1.0).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="solver"):
        DRLS(solver="nope").fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="one class"):
        DRLS().fit(Xs, np.array(["a"] * len(Xs)), Xt)
    with pytest.raises(InputError):
        DRLS().fit(Xs, ys, Xt[:, :5])
    model.fit(Xs, ys, Xt)
    with pytest.raises(InputError):
        model.predict(Xt[:, :3])
