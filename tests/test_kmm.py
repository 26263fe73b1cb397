"""KMM (Huang et al. 2006) and the shared weighted-SVM helpers."""

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.svm import SVC

from cdmer.adaptation._weighted import fit_weighted_svm, solve_kmm_qp
from cdmer.adaptation.base import LinearSVM
from cdmer.adaptation.kmm import FIXED_PARAMS, KMM, PARAM_GRID
from cdmer.errors import CdmerError, ConvergenceWarning, InputError


def shifted(seed=0, ns=30, nt=25, d=40, shift=0.4):
    """Three-class source N(class offset, I) and a target shifted along the first axis."""
    rng = np.random.default_rng(seed)
    ys = np.repeat(["negative", "positive", "surprise"], ns // 3)
    Xs = rng.normal(size=(ns, d)) / np.sqrt(d)
    Xs[ys == "positive", 1] += 0.5
    Xs[ys == "surprise", 2] += 0.5
    Xt = rng.normal(size=(nt, d)) / np.sqrt(d)
    Xt[:, 0] += shift
    return Xs, ys, Xt


def kmm_problem(Xs, Xt, gamma=None):
    """K and kappa of Huang et al. (2006), computed directly."""
    if gamma is None:
        K = Xs @ Xs.T
        cross = Xs @ Xt.T
    else:
        def rbf(A, B):
            return np.exp(-gamma * ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
        K, cross = rbf(Xs, Xs), rbf(Xs, Xt)
    kappa = Xs.shape[0] / Xt.shape[0] * cross.sum(axis=1)
    return K, kappa


def slsqp_kmm(K, kappa, B, eps):
    ns = K.shape[0]
    result = minimize(lambda b: 0.5 * b @ K @ b - kappa @ b, np.ones(ns), jac=lambda b: K @ b - kappa,
                      method="SLSQP", bounds=[(0, B)] * ns,
                      constraints=[{"type": "ineq", "fun": lambda b: ns * (1 + eps) - b.sum(),
                                    "jac": lambda b: -np.ones(ns)},
                                   {"type": "ineq", "fun": lambda b: b.sum() - ns * (1 - eps),
                                    "jac": lambda b: np.ones(ns)}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    assert result.success, result.message
    return result.x


def test_grid_and_fixed_params():
    assert PARAM_GRID == ({},)
    assert FIXED_PARAMS == {}
    model = KMM()
    assert (model.B, model.eps, model.kernel, model.gamma) == (1000, None, "linear", None)


@pytest.mark.parametrize("B, eps", [(1000.0, None), (3.0, 0.05)])
def test_constraints_and_kkt(B, eps):
    Xs, ys, Xt = shifted()
    ns = Xs.shape[0]
    model = KMM(B=B, eps=eps).fit(Xs, ys, Xt)
    b = model.weights_
    e = (np.sqrt(ns) - 1) / np.sqrt(ns) if eps is None else eps
    assert model.eps_ == pytest.approx(e)
    assert model.solver_status_ == "Solved"
    # Feasibility (Huang et al. 2006, section 3.1).
    assert b.min() >= 0 and b.max() <= B
    assert abs(b.sum() - ns) <= ns * e * (1 + 1e-8)
    # KKT: gradient g = K b - kappa; with the multiplier nu of the sum constraint,
    # g_i + nu = 0 on free weights, >= 0 at 0, <= 0 at B.
    K, kappa = kmm_problem(Xs, Xt)
    g = K @ b - kappa
    scale = np.abs(kappa).max()
    tol = 1e-5 * B
    free = (b > tol) & (b < B - tol)
    assert free.any()
    nu = -np.median(g[free])
    assert np.abs(g[free] + nu).max() <= 1e-5 * scale
    assert np.all(g[b <= tol] + nu >= -1e-5 * scale)
    assert np.all(g[b >= B - tol] + nu <= 1e-5 * scale)
    slack_hi, slack_lo = ns * (1 + e) - b.sum(), b.sum() - ns * (1 - e)
    if min(slack_hi, slack_lo) > 1e-6 * ns:
        assert abs(nu) <= 1e-5 * scale  # inactive sum constraint: no multiplier
    elif slack_hi <= 1e-6 * ns:
        assert nu >= -1e-5 * scale
    else:
        assert nu <= 1e-5 * scale
    if B == 3.0:  # the small bound is active somewhere
        assert np.any(b >= B - tol)


@pytest.mark.parametrize("kernel, gamma", [("linear", None), ("rbf", 0.7)])
def test_matches_slsqp(kernel, gamma):
    # d > ns: K is positive definite, the solution unique.
    Xs, ys, Xt = shifted(seed=3, ns=15, nt=12, d=20)
    B, eps = 5.0, 0.2
    model = KMM(B=B, eps=eps, kernel=kernel, gamma=gamma).fit(Xs, ys, Xt)
    K, kappa = kmm_problem(Xs, Xt, None if kernel == "linear" else gamma)
    expected = slsqp_kmm(K, kappa, B, eps)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)
    assert model.objective_ == pytest.approx(0.5 * expected @ K @ expected - kappa @ expected, rel=1e-7)


def test_factored_form_same_optimum():
    # d <= ns / 4: the QP is solved in the factored form K = F^T F with F = Xs^T.
    # K is singular (rank 4), so compare the optimal value, which is unique.
    Xs, ys, Xt = shifted(seed=5, ns=30, nt=20, d=4)
    B, eps = 4.0, 0.3
    model = KMM(B=B, eps=eps).fit(Xs, ys, Xt)
    K, kappa = kmm_problem(Xs, Xt)
    expected = slsqp_kmm(K, kappa, B, eps)
    b = model.weights_
    assert b.min() >= 0 and b.max() <= B and abs(b.sum() - 30) <= 30 * eps * (1 + 1e-8)
    ours = 0.5 * b @ K @ b - kappa @ b
    best = 0.5 * expected @ K @ expected - kappa @ expected
    assert ours == pytest.approx(best, rel=1e-6, abs=1e-8)


def test_weights_move_mass_toward_target():
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(200, 2))
    ys = np.where(Xs[:, 1] > 0, "positive", "negative")
    Xt = rng.normal(size=(150, 2)) + np.array([1.0, 0.0])
    for model in (KMM(), KMM(kernel="rbf", gamma=0.5)):
        b = model.fit(Xs, ys, Xt).weights_
        weighted_mean = b @ Xs / b.sum()
        assert np.linalg.norm(weighted_mean - Xt.mean(0)) < 0.5 * np.linalg.norm(Xs.mean(0) - Xt.mean(0))
        # The source samples on the target's side carry more of the mass.
        side = Xs[:, 0] > 0.5
        assert b[side].sum() / b.sum() > 1.5 * side.mean()


def test_deterministic():
    Xs, ys, Xt = shifted(seed=2)
    a = KMM().fit(Xs, ys, Xt)
    b = KMM().fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    np.testing.assert_array_equal(a.decision_function(Xt), b.decision_function(Xt))


def test_svm_is_the_papers_weighted_svm():
    # The weighted SVM is LIBSVM's linear SVC (make_svm) with sample_weight: the same
    # solution up to LIBSVM's stopping tolerance (1e-3).
    Xs, ys, Xt = shifted(seed=4, ns=45)
    model = KMM().fit(Xs, ys, Xt)
    reference = SVC(kernel="linear", C=1.0, break_ties=True).fit(Xs, ys, sample_weight=model.weights_)
    np.testing.assert_array_equal(model.predict(Xt), reference.predict(Xt))
    np.testing.assert_allclose(model.decision_function(Xt), reference.decision_function(Xt), atol=1e-3)


@pytest.mark.parametrize("labels", [("a", "b"), ("a", "b", "c")])
def test_linear_svm_equals_linear_svc(labels):
    # LinearSVM runs LIBSVM on the precomputed Gram matrix: the same problem as the
    # linear kernel; coef_, intercept_ and decision values agree when both solve tightly.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6))
    y = np.array(labels)[np.argmax(X[:, : len(labels)] + 0.5 * rng.normal(size=(60, len(labels))), axis=1)]
    w = rng.uniform(0.2, 2, 60)
    ours = LinearSVM(tol=1e-10).fit(X, y, sample_weight=w)
    reference = SVC(kernel="linear", tol=1e-10, break_ties=True).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(ours.coef_, reference.coef_, atol=1e-7)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, atol=1e-7)
    np.testing.assert_allclose(ours.decision_function(X), reference.decision_function(X), atol=1e-7)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))


def test_infeasible_parameters():
    Xs, ys, Xt = shifted()
    with pytest.raises(InputError, match="KMM.*infeasible") as info:
        KMM(B=0.5, eps=0.1).fit(Xs, ys, Xt)
    assert info.value.field == "B"
    with pytest.raises(InputError, match="KMM"):
        KMM(B=-1).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="KMM.*kernel"):
        KMM(kernel="poly").fit(Xs, ys, Xt)


def test_solver_reports_infeasible():
    # Bypass the parameter check: the solver itself must report infeasibility.
    K = np.eye(5)
    with pytest.raises(CdmerError, match="KMM.*infeasible"):
        solve_kmm_qp(-np.ones(5), 0.5, 0.1, "KMM", K=K)


def test_solver_not_converged_warns_and_predicts():
    Xs, ys, Xt = shifted()
    with pytest.warns(ConvergenceWarning, match="KMM.*MaxIterations"):
        model = KMM(solver_options={"max_iter": 2}).fit(Xs, ys, Xt)
    assert model.solver_status_ == "MaxIterations"
    assert np.all(np.isfinite(model.weights_)) and model.weights_.min() >= 0
    assert np.all(np.isfinite(model.decision_function(Xt)))


def test_degenerate_identical_source_samples():
    rng = np.random.default_rng(0)
    Xs = np.tile(rng.random(8), (12, 1))
    ys = np.repeat(["negative", "positive"], 6)
    Xt = rng.random((10, 8))
    with pytest.warns(UserWarning, match="KMM: all source samples are identical"):
        model = KMM().fit(Xs, ys, Xt)
    np.testing.assert_allclose(model.weights_, model.weights_[0], rtol=1e-6)
    assert np.all(np.isfinite(model.decision_function(Xt)))
    assert set(model.predict(Xt)) <= {"negative", "positive"}


def test_class_with_zero_weight():
    # The 'surprise' source samples lie far from the target: with the RBF kernel their
    # kernel values vanish, and KMM gives them no weight.
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(60, 30)) * 0.1
    ys = np.repeat(["negative", "positive", "surprise"], 20)
    Xs[ys == "positive", 0] += 0.3
    Xs[ys == "surprise", 1] -= 50.0
    Xt = rng.normal(size=(30, 30)) * 0.1
    with pytest.warns(UserWarning, match="KMM: every source sample of class 'surprise' got zero weight"):
        model = KMM(kernel="rbf", gamma=1.0).fit(Xs, ys, Xt)
    assert list(model.classes_) == ["negative", "positive"]
    assert np.all(np.isfinite(model.decision_function(Xt)))
    assert set(model.predict(Xt)) <= {"negative", "positive"}


def test_weighted_svm_with_one_class_left():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(9, 3))
    ys = np.repeat(["negative", "positive", "surprise"], 3)
    weights = np.r_[np.ones(3), np.zeros(6)]
    with pytest.raises(CdmerError, match="KMM: after weighting, only 1 source class"):
        fit_weighted_svm(Xs, ys, weights, "KMM")
    with pytest.raises(CdmerError, match="not finite"):
        fit_weighted_svm(Xs, ys, np.full(9, np.nan), "KMM")


def test_bad_input():
    Xs, ys, Xt = shifted()
    with pytest.raises(InputError, match="KMM"):
        KMM().fit(Xs, ys, Xt[:, :5])
    Xs[0, 0] = np.nan
    with pytest.raises(InputError, match="KMM"):
        KMM().fit(Xs, ys, Xt)


def test_real_features_smoke(real_features):
    from cdmer.io.featureset import load_features

    source = load_features(real_features / "CASME2_LBPTOP_R3P8_112x112.mat")
    target = load_features(real_features / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = KMM().fit(source.X, source.labels, target.X)
    assert model.solver_status_ == "Solved"
    assert model.weights_.shape == (source.n_samples,)
    assert abs(model.weights_.sum() - source.n_samples) <= source.n_samples * model.eps_ * (1 + 1e-8)
    assert set(model.predict(target.X)) <= set(source.labels)


def test_gamma_none_is_the_one_scale_rule():
    # gamma=None: 1 / (d var([Xs; Xt])) for KMM and STM as for TSRG (cdmer.adaptation.kernels)
    from cdmer.adaptation.stm import STM

    Xs, ys, Xt = shifted(seed=5)
    Xs, Xt = 4.0 * Xs, 4.0 * Xt
    expected = 1.0 / (Xs.shape[1] * np.var(np.vstack([Xs, Xt])))
    assert KMM(kernel="rbf").fit(Xs, ys, Xt).gamma_ == pytest.approx(expected, rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert STM(kernel="rbf", max_iter=1).fit(Xs, ys, Xt).gamma_ == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("make, params", [("KMM", {}), ("KLIEP", {"sigma": 5.0}), ("ULSIF", {"lam": 1.0, "sigma": 5.0}),
                                          ("STM", {"max_iter": 1}), ("SourceSVM", {})])
def test_not_fitted_string_features_and_n_features(make, params):
    import cdmer.adaptation as adaptation
    from cdmer.errors import NotFittedError

    Xs, ys, Xt = shifted(seed=6)
    est = getattr(adaptation, make)(**params)
    for method in ("predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(Xt)
    with pytest.raises(InputError, match="could not convert string to float") as err:
        est.fit(np.full(Xs.shape, "a"), ys, Xt)
    assert err.value.field == "Xs"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(Xs, ys, Xt)
    assert est.n_features_in_ == Xs.shape[1]
    with pytest.raises(InputError, match=f"X has 2 features, but .* is expecting {Xs.shape[1]}"):
        est.predict(Xt[:, :2])
