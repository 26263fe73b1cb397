"""STM (Chu, De la Torre, Cohn 2013/2017)."""

import itertools
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.svm import SVC

from cdmer.adaptation import stm as stm_module
from cdmer.adaptation.kmm import KMM
from cdmer.adaptation.stm import STM
from cdmer.errors import ConvergenceWarning, InputError


def data(classes=("negative", "positive", "surprise"), seed=0, ns=30, nt=20, d=40, offset=0.4):
    rng = np.random.default_rng(seed)
    ys = np.array(classes)[np.arange(ns) % len(classes)]
    Xs = rng.normal(size=(ns, d)) / np.sqrt(d)
    for k, c in enumerate(classes[1:]):
        Xs[ys == c, k] += offset
    Xs += 0.05 * rng.normal(size=Xs.shape)
    Xt = rng.normal(size=(nt, d)) / np.sqrt(d)
    Xt[:, 0] += 0.2
    return Xs, ys, Xt


def mismatch(Xs, Xt, s):
    """KMM's term 1/2 s'Ks - kappa's with the linear kernel, computed directly."""
    K = Xs @ Xs.T
    kappa = len(Xs) / len(Xt) * (Xs @ Xt.T).sum(1)
    return 0.5 * s @ K @ s - kappa @ s, K, kappa


def pairwise_hinge(Xs, ys, s, C=1.0):
    """Per-sample hinge losses summed over one binary SVC per pair of classes, and
    the sum of the machines' 1/2 ||w||^2, from SVCs trained here."""
    losses = np.zeros(len(ys))
    regulariser = 0.0
    for a, b in itertools.combinations(np.unique(ys), 2):
        sel = (ys == a) | (ys == b)
        svc = SVC(kernel="linear", C=C, tol=1e-10).fit(Xs[sel], ys[sel], sample_weight=s[sel])
        sign = np.where(ys[sel] == svc.classes_[1], 1.0, -1.0)
        losses[sel] += np.maximum(0, 1 - sign * svc.decision_function(Xs[sel]))
        regulariser += 0.5 * np.sum(svc.coef_**2)
    return losses, regulariser


def test_grid():
    lams = [p["lam"] for p in stm_module.PARAM_GRID]
    for paper in (4, 0.04, 8, 0.02, 15, 0.03):
        assert paper in lams
    assert min(lams) <= 0.01 and max(lams) >= 100
    assert stm_module.FIXED_PARAMS == {"lam": 1.0}


@pytest.mark.parametrize("classes", [("a", "b"), ("negative", "positive", "surprise")])
def test_objective_never_increases(classes):
    Xs, ys, Xt = data(classes)
    model = STM(lam=1e-3, svm_tol=1e-10, tol=1e-12, max_iter=8)
    with warnings.catch_warnings():
        # Here 'surprise' loses all weight in an s-step and comes back: the objective
        # must still only decrease.
        warnings.simplefilter("ignore")
        model.fit(Xs, ys, Xt)
    history = np.array(model.objective_history_)
    assert len(history) == 1 + 2 * model.n_iter_
    assert np.all(np.diff(history) <= 1e-7 * np.abs(history[:-1]).max())
    assert history[-1] < history[0]  # the weights did change something


def test_objective_is_the_papers():
    # objective_ = sum of the machines' 1/2||w||^2 + C sum s_i l_i + lambda (1/2 s'Ks - kappa's),
    # recomputed with pairwise SVCs trained here on the final weights.
    Xs, ys, Xt = data(offset=1.5)
    lam = 2e-3
    model = STM(lam=lam, svm_tol=1e-10).fit(Xs, ys, Xt)
    s = model.weights_
    losses, regulariser = pairwise_hinge(Xs, ys, s)
    np.testing.assert_allclose(model.losses_, losses, atol=1e-6)
    omega, _, _ = mismatch(Xs, Xt, s)
    assert model.objective_ == pytest.approx(regulariser + s @ losses + lam * omega, rel=1e-6)


def test_binary_s_step_is_the_papers_qp():
    # Binary: one alternation from s = 1 solves min lam (1/2 s'Ks - kappa's) + C sum s_i hinge_i
    # under the KMM constraints, with the hinge losses of the plain SVM.
    Xs, ys, Xt = data(("a", "b"), ns=16, nt=12, d=24)
    lam, B = 0.01, 1000.0
    ns = len(ys)
    eps = (np.sqrt(ns) - 1) / np.sqrt(ns)
    model = STM(lam=lam, max_iter=1, tol=0.0, svm_tol=1e-10)
    with pytest.warns(ConvergenceWarning):
        model.fit(Xs, ys, Xt)
    plain = SVC(kernel="linear", tol=1e-10).fit(Xs, ys)
    hinge = np.maximum(0, 1 - np.where(ys == plain.classes_[1], 1.0, -1.0) * plain.decision_function(Xs))
    _, K, kappa = mismatch(Xs, Xt, np.ones(ns))

    def f(s):
        return lam * (0.5 * s @ K @ s - kappa @ s) + s @ hinge

    result = minimize(f, np.ones(ns), jac=lambda s: lam * (K @ s - kappa) + hinge, method="SLSQP",
                      bounds=[(0, B)] * ns,
                      constraints=[{"type": "ineq", "fun": lambda s: ns * (1 + eps) - s.sum()},
                                   {"type": "ineq", "fun": lambda s: s.sum() - ns * (1 - eps)}],
                      options={"ftol": 1e-15, "maxiter": 2000})
    assert result.success
    np.testing.assert_allclose(model.weights_, result.x, atol=1e-4 * np.abs(result.x).max())
    assert f(model.weights_) == pytest.approx(result.fun, rel=1e-7)


def test_large_lambda_gives_kmm_weights():
    Xs, ys, Xt = data()
    stm = STM(lam=1e9).fit(Xs, ys, Xt)
    kmm = KMM().fit(Xs, ys, Xt)
    np.testing.assert_allclose(stm.weights_, kmm.weights_, atol=1e-5 * kmm.weights_.max())


def test_unit_weights_give_plain_svm():
    Xs, ys, Xt = data()
    model = STM(max_iter=0).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(model.weights_, np.ones(len(ys)))
    plain = SVC(kernel="linear", C=1.0, break_ties=True).fit(Xs, ys)
    np.testing.assert_array_equal(model.predict(Xt), plain.predict(Xt))
    np.testing.assert_allclose(model.decision_function(Xt), plain.decision_function(Xt), atol=1e-3)


def test_warm_start_and_kmm_init():
    Xs, ys, Xt = data(offset=1.5)
    model = STM(lam=0.01, warm_start=True).fit(Xs, ys, Xt)
    previous = model.weights_.copy()
    model.set_params(lam=0.02, max_iter=0).fit(Xs, ys, Xt)
    np.testing.assert_allclose(model.weights_, previous)
    kmm = KMM().fit(Xs, ys, Xt).weights_
    np.testing.assert_allclose(STM(init="kmm", max_iter=0).fit(Xs, ys, Xt).weights_, kmm, rtol=1e-9)


def test_deterministic():
    Xs, ys, Xt = data(seed=3)
    a, b = STM(lam=0.01).fit(Xs, ys, Xt), STM(lam=0.01).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    np.testing.assert_array_equal(a.decision_function(Xt), b.decision_function(Xt))


def test_bad_input():
    Xs, ys, Xt = data()
    with pytest.raises(InputError, match="STM: lam"):
        STM(lam=0).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="STM.*infeasible"):
        STM(B=0.1, eps=0.5).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="STM: init"):
        STM(init="random").fit(Xs, ys, Xt)
    with pytest.warns(UserWarning, match="STM: all source samples are identical"):
        model = STM(max_iter=1, tol=np.inf).fit(np.tile(Xs[:1], (len(ys), 1)), ys, Xt)
    assert np.all(np.isfinite(model.decision_function(Xt)))


def test_solver_not_converged_warns():
    Xs, ys, Xt = data()
    with pytest.warns(ConvergenceWarning, match="STM: the QP solver"):
        model = STM(lam=0.01, max_iter=1, tol=np.inf, solver_options={"max_iter": 2}).fit(Xs, ys, Xt)
    assert np.all(np.isfinite(model.decision_function(Xt)))


def test_real_features_smoke(real_features):
    from cdmer.io.featureset import load_features

    source = load_features(real_features / "CASME2_LBPTOP_R3P8_112x112.mat")
    target = load_features(real_features / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    model = STM(lam=8.0).fit(source.X, source.labels, target.X)
    assert model.weights_.shape == (source.n_samples,)
    assert set(model.predict(target.X)) <= set(source.labels)


def test_class_losing_all_weight_warns():
    Xs, ys, Xt = data()
    with pytest.warns(UserWarning, match="STM: every source sample of class 'surprise' got zero weight"):
        model = STM(lam=1e-3, svm_tol=1e-10).fit(Xs, ys, Xt)
    assert list(model.classes_) == ["negative", "positive"]
    assert np.all(np.isfinite(model.decision_function(Xt)))


def test_predict_is_argmax_of_decision_function_on_vote_ties():
    # Three classes in 2-D: the three one-vs-one lines do not meet in one point, so a small
    # triangle of the plane gets one vote per class (a 1-1-1 tie). The label must be the argmax
    # of decision_function (the documented tie rule), never LIBSVM's "first class listed".
    rng = np.random.default_rng(0)
    # Each class is a noisy segment along one side of a square; the machines of the three pairs
    # see different sides, and their boundaries leave a cycle region in the middle.
    sides = [np.c_[rng.uniform(0, 3, 15), np.zeros(15)], np.c_[np.full(15, 4.0), rng.uniform(0, 3, 15)],
             np.c_[rng.uniform(0, 3, 15), np.full(15, 4.0)]]
    Xs = np.vstack(sides) + rng.normal(scale=0.1, size=(45, 2))
    ys = np.repeat(["negative", "positive", "surprise"], 15)
    grid = np.stack(np.meshgrid(np.linspace(-3, 6, 181), np.linspace(-3, 6, 181)), -1).reshape(-1, 2)
    model = STM(lam=1.0, max_iter=2, tol=1e-6).fit(Xs, ys, grid[::50])
    # Votes computed here from the machines' primal weights: machine m = (i, j) votes i when positive.
    raw = grid @ model.svm_.coef_.T + model.svm_.intercept_
    votes = np.zeros((len(grid), 3), dtype=int)
    for m, (i, j) in enumerate(itertools.combinations(range(3), 2)):
        votes[:, i] += raw[:, m] > 0
        votes[:, j] += raw[:, m] <= 0
    tied = (votes == 1).all(axis=1)
    assert tied.sum() > 0, "the construction must produce 1-1-1 ties"
    scores = model.decision_function(grid)
    pred = model.predict(grid)
    np.testing.assert_array_equal(pred, model.classes_[np.argmax(scores, axis=1)])
    # away from ties, the label is the most voted class
    np.testing.assert_array_equal(pred[~tied], model.classes_[np.argmax(votes[~tied], axis=1)])
    # LIBSVM's own vote rule gives the first class to every tie, which disagrees with the scores
    libsvm = model.svm_.svc_.predict(grid[tied] @ model.svm_.X_fit_.T)
    assert np.any(libsvm != pred[tied])
