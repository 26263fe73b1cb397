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


def _kkt_violation(Xs_rows, Ks, dk, P, lam, mu):
    """Violation of the subgradient condition of eq. (7) per entry of P, and the rounding scale."""
    G = -2 * Ks @ (Xs_rows.T - P.T @ Ks).T + 2 * lam * np.outer(dk, dk @ P)   # gradient of the smooth part
    nz = P != 0
    # rounding scale of G: its size at P = 0
    scale = 2 * np.abs(Ks @ Xs_rows).max()
    # 0 in G + mu d|P|_1: G = -mu sign(p) on the support, |G| <= mu off it
    return np.where(nz, np.abs(G + mu * np.sign(P)), np.maximum(np.abs(G) - mu, 0.0)), scale


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (0.1, 1.0), (100.0, 0.002), (0.0, 0.01), (1000.0, 10.0)])
def test_exact_meets_optimality_conditions(kernel, lam, mu):
    Xs, Xt, _ = _data(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        exact = TSRG(lam=lam, mu=mu, kernel=kernel, solver="exact").fit(Xs, Xt)
    ialm = TSRG(lam=lam, mu=mu, kernel=kernel).fit(Xs, Xt)
    assert exact.converged_
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    P = exact.P_
    viol, scale = _kkt_violation(Xs, Ks, dk, P, lam, mu)
    assert viol.max() <= 1e-7 * mu + 1e-13 * scale          # column by column, every entry
    assert exact.kkt_violation_ == pytest.approx(viol.max() / mu, rel=1e-3, abs=1e-12 * scale / mu)
    f_exact = _objective(Xs, Ks, dk, P, lam, mu)
    f_ialm = _objective(Xs, Ks, dk, ialm.P_, lam, mu)
    assert f_exact <= f_ialm * (1 + 1e-12)
    assert exact.objective_ == pytest.approx(f_exact, rel=1e-10)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("lam,mu", [(1.0, 0.07), (10.0, 0.5)])
def test_exact_matches_scikit_learn(kernel, lam, mu):
    # eq. (7) column by column as ||y_j - Z p||^2 + mu |p|_1 with Z = [Ks^T; sqrt(lam) dk^T],
    # y_j = [x_j; 0]: scikit-learn's Lasso (coordinate descent on Z, objective
    # ||y - Z p||^2 / (2 N) + alpha |p|_1, so alpha = mu / (2 N)) and its
    # LARS on the Gram matrix (1/2 p^T A p - b^T p + alpha |p|_1, alpha = mu / 2).
    from sklearn.linear_model import Lasso, lars_path_gram
    Xs, Xt, _ = _data(seed=6)
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    Z = np.vstack([Ks.T, np.sqrt(lam) * dk[None, :]])
    Y = np.vstack([Xs, np.zeros((1, Xs.shape[1]))])
    lasso = Lasso(alpha=mu / (2 * Z.shape[0]), fit_intercept=False, tol=1e-14, max_iter=200000).fit(Z, Y)
    A, B = Z.T @ Z, Z.T @ Y
    P_lars = np.column_stack([lars_path_gram(Xy=B[:, j], Gram=A, n_samples=1, alpha_min=mu / 2, method="lasso",
                                             max_iter=5000)[2][:, -1] for j in range(B.shape[1])])
    exact = TSRG(lam=lam, mu=mu, kernel=kernel, solver="exact").fit(Xs, Xt)
    f_exact = _objective(Xs, Ks, dk, exact.P_, lam, mu)
    assert f_exact == pytest.approx(_objective(Xs, Ks, dk, P_lars, lam, mu), rel=1e-9)
    assert f_exact <= _objective(Xs, Ks, dk, lasso.coef_.T, lam, mu) * (1 + 1e-12)
    assert f_exact == pytest.approx(_objective(Xs, Ks, dk, lasso.coef_.T, lam, mu), rel=1e-6)


def test_no_penalty_reproduces_source():
    # lambda = 0, mu -> 0: P^T Ks = Xs is solvable exactly (Kss is invertible
    # here), and near mu = 0 the Lasso path is affine in mu, so the residual of
    # the exact solution is O(mu). (The inexact ALM is not used: with mu -> 0
    # it stops after two iterations, at kappa = 1.1e-3, on a kappa-regularised P.)
    Xs, Xt, _ = _data(ns=12, d=30, seed=3)
    model = TSRG(lam=0.0, mu=1e-8, solver="exact", tol_kkt=1e-4).fit(Xs, Xt)
    assert model.converged_
    Ks, _, _ = _kernels(Xs, Xt, "linear")
    np.testing.assert_allclose((model.P_.T @ Ks).T, Xs, rtol=0, atol=1e-7 * np.abs(Xs).max())
    np.testing.assert_allclose(model.transform(Xs), Xs, rtol=0, atol=1e-7 * np.abs(Xs).max())


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_exact_capped_path_is_polished(kernel):
    # max_iter=2 stops every path after two breakpoints: the remaining mu
    # comes from extending the last segment, far from optimal, and the
    # active-set Newton polish must bring every column to tol_kkt.
    Xs, Xt, _ = _data(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = TSRG(lam=1.0, mu=0.01, kernel=kernel, solver="exact", max_iter=2, tol_kkt=1e-8).fit(Xs, Xt)
    Ks, _, dk = _kernels(Xs, Xt, kernel)
    viol, scale = _kkt_violation(Xs, Ks, dk, model.P_, 1.0, 0.01)
    assert model.n_polished_ == Xs.shape[1] and model.converged_
    assert viol.max() <= 1e-8 * 0.01 + 1e-13 * scale


def test_exact_reports_unmet_tolerance():
    Xs, Xt, _ = _data(seed=7)
    with pytest.warns(ConvergenceWarning, match=r"columns still violate the optimality conditions of eq. \(7\)"):
        model = TSRG(lam=1.0, mu=0.01, solver="exact", tol_kkt=0.0).fit(Xs, Xt)
    Ks, _, dk = _kernels(Xs, Xt, "linear")
    viol, scale = _kkt_violation(Xs, Ks, dk, model.P_, 1.0, 0.01)
    assert not model.converged_ and model.kkt_violation_ > 0
    assert viol.max() <= 1e-6 * 0.01 + 1e-13 * scale          # still the exact minimiser, to rounding


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
    grid = [{"lam": 0.1, "mu": 0.05}, {"lam": 0.1, "mu": 0.5}, {"lam": 10.0, "mu": 0.01}, {"lam": 0.1, "mu": 0.002}]
    calls = []
    out = list(TSRGClassifier.grid_predict(Xs, ys, Xt, grid, solver=solver, progress=lambda: calls.append(1)))
    assert len(out) == len(grid) == len(calls)
    assert sorted((p["lam"], p["mu"]) for p, _, _ in out) == sorted((p["lam"], p["mu"]) for p in grid)
    Ks, _, dk = _kernels(Xs, Xt, "linear")
    for params, y_pred, info in out:
        clf = TSRGClassifier(solver=solver, **params).fit(Xs, ys, Xt)
        assert info["solver"] == solver and info["converged"]
        np.testing.assert_array_equal(y_pred, clf.predict(Xt))
        if solver == "ialm":
            assert info["n_iter"] == clf.tsrg_.n_iter_
            assert info["objective"] == pytest.approx(clf.tsrg_.objective_, rel=1e-12)
        else:
            # one path per lambda for all its mus: the same minimiser as a single fit
            f = _objective(Xs, Ks, dk, clf.tsrg_.P_, params["lam"], params["mu"])
            assert info["objective"] == pytest.approx(f, rel=1e-9)
            viol, scale = _kkt_violation(Xs, Ks, dk, clf.tsrg_.P_, params["lam"], params["mu"])
            assert info["kkt_violation"] <= 1e-6 and viol.max() <= 1e-6 * params["mu"] + 1e-13 * scale
            assert info["time_s"] > 0


def test_grid_predict_honours_a_points_solver():
    # the evaluation protocol's overrides put {"solver": "exact"} into every point
    Xs, Xt, ys = _data(seed=8)
    grid = [{"lam": 1.0, "mu": 0.07, "solver": "exact"}, {"lam": 1.0, "mu": 0.07}]
    out = list(TSRGClassifier.grid_predict(Xs, ys, Xt, grid))
    assert sorted(info["solver"] for _, _, info in out) == ["exact", "ialm"]
    for params, y_pred, info in out:
        clf = TSRGClassifier(**params).fit(Xs, ys, Xt)
        np.testing.assert_array_equal(y_pred, clf.predict(Xt))
        assert info["objective"] == pytest.approx(clf.tsrg_.objective_, rel=1e-9)


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
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        exact = TSRG(lam=1.0, mu=0.07, solver="exact").fit(src.X, tgt.X)
    Ks, _, dk = _kernels(src.X, tgt.X, "linear")
    viol, scale = _kkt_violation(src.X, Ks, dk, exact.P_, 1.0, 0.07)
    assert exact.converged_ and viol.max() <= 1e-6 * 0.07 + 1e-13 * scale
    assert _objective(src.X, Ks, dk, exact.P_, 1.0, 0.07) <= _objective(src.X, Ks, dk, clf.tsrg_.P_, 1.0, 0.07)
