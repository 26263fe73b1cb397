"""Tests of TSRG (paper section 3) against independent computations written here."""

import warnings

import numpy as np
import pytest
from sklearn.metrics.pairwise import linear_kernel, rbf_kernel
from sklearn.svm import SVC

from cdmer.adaptation.tsrg import FIXED_PARAMS, PARAM_GRID, TSRG, TSRGClassifier, tsrg_path
from _literal import literal_alm
from cdmer.errors import ConvergenceWarning, InputError, NotFittedError


def _data(ns=12, nt=9, d=15, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(ns, d))
    Xt = rng.normal(loc=0.5, size=(nt, d))
    ys = np.array(["a", "b", "c"] * (ns // 3) + ["a"] * (ns % 3))
    return Xs, Xt, ys


def _kernels(Xs, Xt, kernel):
    """Paper notation (columns): Ks = [Kss; Kts], Kt = [Kst; Ktt], dk."""
    # gamma=None: 1 / (d var) of the pooled samples (the rule of cdmer.adaptation.kernels)
    gamma = 1.0 / (Xs.shape[1] * np.concatenate([Xs, Xt]).var())
    k = linear_kernel if kernel == "linear" else (lambda a, b: rbf_kernel(a, b, gamma=gamma))
    Ks = np.vstack([k(Xs, Xs), k(Xt, Xs)])
    Kt = np.vstack([k(Xs, Xt), k(Xt, Xt)])
    dk = Ks @ np.ones(len(Xs)) / len(Xs) - Kt @ np.ones(len(Xt)) / len(Xt)
    return Ks, Kt, dk


def _literal_ialm(Xs_rows, Xt_rows, lam, mu, kernel="linear"):
    """Section 3.3 transcribed literally (paper notation, lambda in the Q step)."""
    Ks, _, dk = _kernels(Xs_rows, Xt_rows, kernel)
    return literal_alm(Ks, dk, Xs_rows, lam, mu)


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
    ({"kernel": "sigmoid"}, "kernel", "TSRG: kernel must be a str among .*; got 'sigmoid'"),
    ({"solver": "admm"}, "solver", "TSRG: solver must be a str among .*; got 'admm'"),
    ({"mu": -1.0}, "mu", "TSRG: mu must be"),
    ({"max_iter": 5.0}, "max_iter", "TSRG: max_iter must be an int"),
    ({"degree": 0}, "degree", "TSRG: degree must be"),
    ({"gamma": 0.0}, "gamma", "TSRG: gamma must be"),
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
    svm = SVC(kernel="linear", C=1.0, break_ties=True).fit(Xs, ys)
    Z = (clf.tsrg_.P_.T @ Kt).T
    np.testing.assert_array_equal(clf.predict(Xt), svm.predict(Z))
    np.testing.assert_allclose(clf.decision_function(Xt), svm.decision_function(Z), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["ialm", "exact"])
def test_path_equals_pointwise_fit(solver):
    # tsrg_path: one call for one lambda and several mus gives, for every mu, what
    # TSRG(lam, mu).fit(Xs, Xt).transform(Xt) gives (same minimiser for "exact").
    Xs, Xt, ys = _data(seed=5)
    lam, mus = 0.1, [0.05, 0.5, 0.002]
    Zt, info = tsrg_path(Xs, Xt, lam, mus, solver=solver)
    assert len(Zt) == len(info) == len(mus)
    Ks, Kt, dk = _kernels(Xs, Xt, "linear")
    for mu, z, inf in zip(mus, Zt, info):
        model = TSRG(lam=lam, mu=mu, solver=solver).fit(Xs, Xt)
        assert inf["solver"] == solver and inf["converged"] and inf["time_s"] > 0
        if solver == "ialm":
            np.testing.assert_allclose(z, model.transform(Xt), rtol=1e-10, atol=1e-12)
            assert inf["n_iter"] == model.n_iter_
        else:
            # the path's P is not returned; its objective and KKT check against the single fit's P
            f = _objective(Xs, Ks, dk, model.P_, lam, mu)
            assert inf["objective"] == pytest.approx(f, rel=1e-9)
            viol, scale = _kkt_violation(Xs, Ks, dk, model.P_, lam, mu)
            assert inf["kkt_violation"] <= 1e-6 and viol.max() <= 1e-6 * mu + 1e-13 * scale
            np.testing.assert_allclose(z, (model.P_.T @ Kt).T, rtol=1e-6, atol=1e-8 * np.abs(z).max())


def test_path_validates_every_mu():
    Xs, Xt, _ = _data()
    with pytest.raises(InputError, match="TSRG: mu must be") as err:
        tsrg_path(Xs, Xt, 1.0, [0.1, -1.0])
    assert err.value.field == "mu"


def test_gamma_none_is_the_scale_rule():
    # gamma=None: 1 / (d var([Xs; Xt])), computed here independently.
    Xs, Xt, _ = _data(seed=2)
    Xs = 3.0 * Xs
    model = TSRG(kernel="rbf", lam=1.0, mu=0.1).fit(Xs, Xt)
    expected = 1.0 / (Xs.shape[1] * np.var(np.vstack([Xs, Xt])))
    assert model.gamma_ == pytest.approx(expected, rel=1e-12)
    explicit = TSRG(kernel="rbf", gamma=expected, lam=1.0, mu=0.1).fit(Xs, Xt)
    np.testing.assert_allclose(model.transform(Xt), explicit.transform(Xt), rtol=1e-12)
    assert TSRG().fit(Xs, Xt).gamma_ is None  # linear kernel: no gamma


def test_not_fitted_and_n_features():
    Xs, Xt, ys = _data()
    for est, method in ((TSRG(), "transform"), (TSRGClassifier(), "predict"), (TSRGClassifier(), "decision_function")):
        with pytest.raises(NotFittedError):
            getattr(est, method)(Xt)
    model = TSRG().fit(Xs, Xt)
    assert model.n_features_in_ == Xs.shape[1]
    with pytest.raises(InputError, match="X has 4 features, but TSRG is expecting 15") as err:
        model.transform(Xt[:, :4])
    assert err.value.field == "X"


def test_string_features_raise_input_error():
    Xs, Xt, _ = _data()
    with pytest.raises(InputError, match="TSRG") as err:
        TSRG().fit(Xs.astype(str).astype(object) + "x", Xt)
    assert err.value.field == "Xs"


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


def test_exact_cholesky_updates():
    # The kernels of the LARS path on a random Gram: rows appended with
    # _chol_column, removed with _chol_delete, L and LT = L^T kept in step, and
    # the forward substitution resumed from the first changed row equal (to the
    # bit) to the one from row 0; u, w solve A_SS u = b_S, A_SS w = s_S.
    from cdmer.adaptation._tsrg_solvers import _chol_backward2, _chol_column, _chol_delete, _chol_forward2
    rng = np.random.default_rng(11)
    n = 30
    Z = rng.normal(size=(n, 40))
    A = Z @ Z.T
    b, sgn = rng.normal(size=n), np.sign(rng.normal(size=n))
    L, LT = np.full((n, n), np.nan), np.full((n, n), np.nan)   # entries not written must never be read
    S = np.empty(n, dtype=np.int64)
    y1, y2, u, w, z = (np.empty(n) for _ in range(5))
    m, lo = 0, 0
    for step, who in enumerate(list(rng.permutation(n)[:20]) + [-1, -1, -1, -1, -1, -1, -1, -1]):
        if who >= 0:                                      # append variable `who`
            z[:m] = A[S[:m], who]
            _chol_column(LT, m, z)
            piv = A[who, who] - np.sum(z[:m] ** 2)
            L[m, :m], LT[:m, m] = z[:m], z[:m]
            L[m, m] = LT[m, m] = np.sqrt(piv)
            S[m] = who
            m += 1
        else:                                             # remove a random position
            q = int(rng.integers(m))
            _chol_delete(L, LT, m, q)
            S[q:m - 1] = S[q + 1:m].copy()
            m -= 1
            lo = min(lo, q)
        Lm = np.tril(L[:m, :m])
        np.testing.assert_allclose(Lm @ Lm.T, A[np.ix_(S[:m], S[:m])], rtol=0, atol=1e-10 * np.abs(A).max())
        assert np.array_equal(np.triu(LT[:m, :m]), Lm.T)
        _chol_forward2(L, LT, lo, m, S, b, sgn, y1, y2)
        f1, f2 = np.empty(n), np.empty(n)
        _chol_forward2(L, LT, 0, m, S, b, sgn, f1, f2)
        assert np.array_equal(y1[:m], f1[:m]) and np.array_equal(y2[:m], f2[:m])
        _chol_backward2(L, m, y1, y2, u, w)
        A_SS = A[np.ix_(S[:m], S[:m])]
        np.testing.assert_allclose(A_SS @ u[:m], b[S[:m]], rtol=0, atol=1e-8 * np.abs(b).max())
        np.testing.assert_allclose(A_SS @ w[:m], sgn[S[:m]], rtol=0, atol=1e-8)
        lo = m
