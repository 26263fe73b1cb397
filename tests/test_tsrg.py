"""Tests of TSRG (paper section 3) against independent computations written here."""

import warnings

import numpy as np
import pytest
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.svm import SVC

from cdmer.adaptation.tsrg import FIXED_PARAMS, PARAM_GRID, TSRG, TSRGClassifier
from cdmer.errors import ConvergenceWarning, InputError


def _data(ns=12, nt=9, d=15, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(ns, d))
    Xt = rng.normal(loc=0.5, size=(nt, d))
    ys = np.array(["a", "b", "c"] * (ns // 3) + ["a"] * (ns % 3))
    return Xs, Xt, ys


def _kernels(Xs, Xt, kernel):
    """Paper notation (columns): Ks = [Kss; Kts], Kt = [Kst; Ktt], dk."""
    k = linear_kernel if kernel == "linear" else (lambda a, b: rbf_kernel(a, b, gamma=1.0 / Xs.shape[1]))
    Ks = np.vstack([k(Xs, Xs), k(Xt, Xs)])
    Kt = np.vstack([k(Xs, Xt), k(Xt, Xt)])
    dk = Ks @ np.ones(len(Xs)) / len(Xs) - Kt @ np.ones(len(Xt)) / len(Xt)
    return Ks, Kt, dk


def _literal_ialm(Xs_rows, Xt_rows, lam, mu, kernel="linear"):
    """Section 3.3 transcribed literally (paper notation, lambda in the Q step)."""
    Xs = Xs_rows.T                                     # d x ns
    Ks, Kt, dk = _kernels(Xs_rows, Xt_rows, kernel)
    n, d = Ks.shape[0], Xs.shape[0]
    P = np.ones((n, d))
    T = np.ones((n, d))
    kappa = 1e-3
    for it in range(1, 100000):
        Q = np.linalg.solve(Ks @ Ks.T + lam * np.outer(dk, dk) + kappa / 2 * np.eye(n),
                            Ks @ Xs.T + (kappa * P + T) / 2)
        W = Q - T / kappa
        P = np.where(W > mu / kappa, W - mu / kappa, np.where(W < -mu / kappa, W + mu / kappa, 0.0))
        if np.max(np.abs(P - Q)) < 1e-8:
            break
        T = T + kappa * (P - Q)
        kappa = min(1.1 * kappa, 1e15)
    return P, it


def _objective(Xs_rows, Ks, dk, P, lam, mu):
    """Eq. (7) in the paper's notation."""
    return (np.sum((Xs_rows.T - P.T @ Ks) ** 2) + lam * np.sum((P.T @ dk) ** 2) + mu * np.abs(P).sum())


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (0.01, 0.5)])
def test_ialm_matches_literal_transcription(kernel, lam, mu):
    Xs, Xt, _ = _data()
    P_ref, it_ref = _literal_ialm(Xs, Xt, lam, mu, kernel)
    model = TSRG(lam=lam, mu=mu, kernel=kernel).fit(Xs, Xt)
    assert model.converged_
    assert model.n_iter_ == it_ref
    assert np.max(np.abs(model.P_ - P_ref)) <= 1e-8 * np.max(np.abs(P_ref))
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    assert model.objective_ == pytest.approx(_objective(Xs, Ks, dk, P_ref, lam, mu), rel=1e-9)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_transform_is_PT_Kt(kernel):
    Xs, Xt, _ = _data(seed=1)
    model = TSRG(lam=1.0, mu=0.05, kernel=kernel).fit(Xs, Xt)
    Ks, Kt, _ = _kernels(Xs, Xt, kernel)
    np.testing.assert_allclose(model.transform(Xt), (model.P_.T @ Kt).T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.transform(Xs), (model.P_.T @ Ks).T, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (0.1, 1.0)])
def test_exact_meets_optimality_conditions(lam, mu):
    Xs, Xt, _ = _data(seed=2)
    exact = TSRG(lam=lam, mu=mu, solver="exact", tol_gap=1e-9, max_iter=100000).fit(Xs, Xt)
    ialm = TSRG(lam=lam, mu=mu).fit(Xs, Xt)
    assert exact.converged_
    Ks, _, dk = _kernels(Xs, Xt, "linear")
    P = exact.P_
    G = -2 * Ks @ (Xs - Ks.T @ P) + 2 * lam * np.outer(dk, dk @ P)     # gradient of the smooth part
    scale = np.abs(G).max()
    nz = P != 0
    # subgradient conditions, column by column: G + mu sign(p) = 0 on the support, |G| <= mu off it
    viol_on = np.abs(G[nz] + mu * np.sign(P[nz]))
    viol_off = np.maximum(np.abs(G[~nz]) - mu, 0.0)
    assert max(viol_on.max(initial=0), viol_off.max(initial=0)) <= 1e-3 * mu + 1e-9 * scale
    f_exact = _objective(Xs, Ks, dk, P, lam, mu)
    f_ialm = _objective(Xs, Ks, dk, ialm.P_, lam, mu)
    assert f_exact <= f_ialm * (1 + 1e-10)
    assert exact.objective_ == pytest.approx(f_exact, rel=1e-9)


def test_no_penalty_reproduces_source():
    # lambda = 0, mu -> 0: P^T Ks = Xs is solvable exactly (Kss is invertible
    # here), so the minimum of eq. (7) is ~ mu ||P||_1 and the exact solver's
    # residual is bounded by sqrt(objective) ~ 1e-5 |Xs|. (The inexact ALM is
    # not used: with mu -> 0 it stops after two iterations, at kappa = 1.1e-3,
    # on a kappa-regularised P.)
    Xs, Xt, _ = _data(ns=12, d=30, seed=3)
    model = TSRG(lam=0.0, mu=1e-10, solver="exact", tol_gap=1e-9, max_iter=100000).fit(Xs, Xt)
    Ks, _, _ = _kernels(Xs, Xt, "linear")
    np.testing.assert_allclose((model.P_.T @ Ks).T, Xs, rtol=0, atol=1e-4 * np.abs(Xs).max())
    np.testing.assert_allclose(model.transform(Xs), Xs, rtol=0, atol=1e-4 * np.abs(Xs).max())


def test_iteration_cap_warns():
    Xs, Xt, _ = _data()
    with pytest.warns(ConvergenceWarning, match="iteration cap"):
        model = TSRG(max_iter=5).fit(Xs, Xt)
    assert not model.converged_ and model.n_iter_ == 5


@pytest.mark.parametrize("Xs,Xt,field", [
    (np.zeros((5, 3)), np.zeros((4, 2)), "Xt"),
    (np.full((5, 3), np.nan), np.zeros((4, 3)), "Xs"),
    (np.zeros((5, 3)), np.array([[0.0, np.inf, 0.0]]), "Xt"),
    (np.zeros((5, 3)), np.zeros((0, 3)), "Xt"),
])
def test_bad_domains(Xs, Xt, field):
    with pytest.raises(InputError) as err:
        TSRG().fit(Xs, Xt)
    assert err.value.field == field
    assert "TSRG" in str(err.value)


@pytest.mark.parametrize("kwargs,field,text", [
    ({"kernel": "sigmoid"}, "kernel", "unknown kernel 'sigmoid'"),
    ({"solver": "admm"}, "solver", "unknown solver 'admm'"),
    ({"mu": -1.0}, "mu", "mu must be"),
])
def test_bad_parameters(kwargs, field, text):
    Xs, Xt, _ = _data()
    with pytest.raises(InputError, match=text) as err:
        TSRG(**kwargs).fit(Xs, Xt)
    assert err.value.field == field


def test_classifier_trains_svm_on_original_source():
    Xs, Xt, ys = _data(seed=4)
    clf = TSRGClassifier(lam=1.0, mu=0.05).fit(Xs, ys, Xt)
    _, Kt, _ = _kernels(Xs, Xt, "linear")
    svm = SVC(kernel="linear", C=1.0).fit(Xs, ys)
    Z = (clf.tsrg_.P_.T @ Kt).T
    np.testing.assert_array_equal(clf.predict(Xt), svm.predict(Z))
    np.testing.assert_allclose(clf.decision_function(Xt), svm.decision_function(Z), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["ialm", "exact"])
def test_grid_predict_equals_pointwise_fit(solver):
    Xs, Xt, ys = _data(seed=5)
    grid = [{"lam": 0.1, "mu": 0.05}, {"lam": 0.1, "mu": 0.5}, {"lam": 10.0, "mu": 0.01}]
    calls = []
    extra = {"max_iter": 100000} if solver == "exact" else {}
    out = list(TSRGClassifier.grid_predict(Xs, ys, Xt, grid, solver=solver, progress=lambda: calls.append(1),
                                           **extra))
    assert len(out) == len(grid) == len(calls)
    assert sorted((p["lam"], p["mu"]) for p, _, _ in out) == sorted((p["lam"], p["mu"]) for p in grid)
    for params, y_pred, info in out:
        clf = TSRGClassifier(solver=solver, **params, **extra).fit(Xs, ys, Xt)
        assert info["solver"] == solver and info["converged"]
        if solver == "ialm":
            np.testing.assert_array_equal(y_pred, clf.predict(Xt))
            assert info["n_iter"] == clf.tsrg_.n_iter_
            assert info["objective"] == pytest.approx(clf.tsrg_.objective_, rel=1e-12)
        else:
            # warm-started: a (possibly different) minimiser, same objective to the gap tolerance
            assert info["objective"] == pytest.approx(clf.tsrg_.objective_, rel=1e-5)
            assert info["kkt_violation"] >= 0


def test_param_grid():
    assert len(PARAM_GRID) == 259
    lams = sorted({p["lam"] for p in PARAM_GRID})
    mus = sorted({p["mu"] for p in PARAM_GRID})
    assert lams == [0.001, 0.01, 0.1, 1, 10, 100, 1000]
    assert len(mus) == 37
    assert mus[:3] == [0.001, 0.002, 0.003] and mus[9:11] == [0.01, 0.02] and mus[-1] == 10
    assert "0.07" in {repr(m) for m in mus} and "0.3" in {repr(m) for m in mus}
    assert FIXED_PARAMS in PARAM_GRID


@pytest.mark.slow
def test_real_features_paper_setting(real_features):
    from cdmer.io.featureset import load_features
    src = load_features(real_features / "CASME2_LBPTOP_R3P8_112x112.mat")
    tgt = load_features(real_features / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = TSRGClassifier(lam=1.0, mu=0.07).fit(src.X, src.labels, tgt.X)
    assert clf.tsrg_.converged_
    y = clf.predict(tgt.X)
    assert y.shape == (tgt.n_samples,) and set(y) <= set(src.labels)
