"""Tests of TKL (Long, Wang, Sun and Yu, IEEE TKDE 2015) against its QP solved independently here."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone

from cdmer.adaptation import tkl as tkl_module
from cdmer.adaptation.base import make_svm
from cdmer.adaptation.tkl import (
    FIXED_PARAMS,
    PARAM_GRID,
    TKL,
    TKLClassifier,
    damping_constraints,
    default_n_components,
    solve_spectrum_qp,
    spectrum_qp_terms,
)
from cdmer.errors import CdmerError, InputError, NotFittedError


def _qp(seed, ns=9, r=5):
    """A random instance of the eigenspectrum QP: ``Phi_Z`` (ns x r) and a PSD ``K_Z``."""
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(ns, r))
    F = rng.normal(size=(ns, ns))
    return Phi, F @ F.T


def _active_set_solution(Q, b, zeta):
    """Exact minimiser of ``l'Ql - 2b'l`` s.t. ``l_i >= zeta l_(i+1)``, ``l_r >= 0`` (which imply ``l >= 0``).

    Every subset of the r constraints is tried as the active set: the KKT
    system with those constraints as equalities is solved exactly; among the
    feasible candidates (primal and dual) the one of least objective is the
    optimum (Q is positive definite, so it is unique).
    """
    r = b.shape[0]
    C = np.zeros((r, r))                       # rows c_k with c_k . l >= 0
    for i in range(r - 1):
        C[i, i], C[i, i + 1] = 1.0, -zeta
    C[r - 1, r - 1] = 1.0
    best = None
    for k in range(r + 1):
        for active in itertools.combinations(range(r), k):
            Ca = C[list(active)]
            # stationarity 2Ql - 2b - Ca^T mu = 0, Ca l = 0
            M = np.block([[2 * Q, -Ca.T], [Ca, np.zeros((k, k))]])
            sol = np.linalg.solve(M, np.concatenate([2 * b, np.zeros(k)]))
            lam, mu = sol[:r], sol[r:]
            if np.all(C @ lam >= -1e-12) and np.all(mu >= -1e-12):
                value = lam @ Q @ lam - 2 * b @ lam
                if best is None or value < best[1]:
                    best = (lam, value)
    return best[0]


@pytest.mark.parametrize("seed,zeta", [(0, 1.0), (1, 1.5), (2, 2.0), (3, 3.0)])
def test_qp_matches_independent_solutions(seed, zeta):
    Phi, K = _qp(seed)
    Q, b = spectrum_qp_terms(Phi, K)
    # the QP terms are the Frobenius objective
    lam0 = np.abs(np.random.default_rng(seed).normal(size=b.shape[0]))
    direct = np.linalg.norm(Phi @ np.diag(lam0) @ Phi.T - K, "fro") ** 2
    np.testing.assert_allclose(lam0 @ Q @ lam0 - 2 * b @ lam0 + np.sum(K * K), direct, rtol=1e-12)

    lam, status = solve_spectrum_qp(Q, b, zeta)
    assert status == "Solved"
    scale = np.abs(lam).max()
    # constraints: lambda_i >= zeta lambda_(i+1), lambda >= 0
    assert np.all(lam >= 0)
    assert np.all(lam[:-1] - zeta * lam[1:] >= -1e-7 * scale)
    assert np.all(damping_constraints(lam.size, zeta) @ lam <= 1e-7 * scale)

    exact = _active_set_solution(Q, b, zeta)
    np.testing.assert_allclose(lam, exact, atol=1e-6 * scale, rtol=0)

    # SLSQP on the same QP, normalised (l = s m, objective / max|b| s) so its tolerance is meaningful
    qmax, bmax = np.abs(Q).max(), np.abs(b).max()
    Qn, bn, s = Q / qmax, b / bmax, bmax / qmax
    eye = np.eye(b.size)
    cons = [{"type": "ineq", "fun": lambda m, i=i: m[i] - zeta * m[i + 1],
             "jac": lambda m, i=i: eye[i] - zeta * eye[i + 1]}
            for i in range(b.size - 1)]
    res = minimize(lambda m: m @ Qn @ m - 2 * bn @ m, np.zeros(b.size), jac=lambda m: 2 * Qn @ m - 2 * bn,
                   method="SLSQP", bounds=[(0, None)] * b.size, constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    np.testing.assert_allclose(lam, s * res.x, atol=1e-6 * scale, rtol=0)


def test_some_damping_constraint_is_active():
    # the instances above are not all trivial: with zeta = 3 the chain binds
    Phi, K = _qp(3)
    Q, b = spectrum_qp_terms(Phi, K)
    lam, _ = solve_spectrum_qp(Q, b, 3.0)
    unconstrained = np.linalg.solve(Q, b)
    assert np.any(unconstrained[:-1] < 3.0 * unconstrained[1:])
    assert np.any(np.isclose(lam[:-1], 3.0 * lam[1:], rtol=1e-6))


def test_qp_is_scale_invariant():
    Phi, K = _qp(5)
    Q, b = spectrum_qp_terms(Phi, K)
    lam, _ = solve_spectrum_qp(Q, b, 1.5)
    for s in (1e-6, 1e6):
        lam_s, _ = solve_spectrum_qp(Q, b * s, 1.5)
        np.testing.assert_allclose(lam_s / s, lam, rtol=1e-6, atol=1e-7 * lam.max())


def _domains(seed=0, ns=30, nt=25, d=12):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(ns, d)), rng.normal(size=(nt, d)) + 0.3


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_nystrom_extrapolation(kernel):
    Xs, Xt = _domains()
    model = TKL(kernel=kernel, n_components=20).fit(Xs, Xt)
    Phi_X, lam_X, c = model.target_features_, model.target_eigenvalues_, model.ridge_
    gamma = model.gamma_
    k = (lambda A, B: A @ B.T) if kernel == "linear" else (
        lambda A, B: np.exp(-gamma * ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)))
    Kt = k(Xt, Xt) + c * np.eye(len(Xt))
    # Phi_X are orthonormal eigenvectors of K_X, eigenvalues decreasing
    np.testing.assert_allclose(Phi_X.T @ Phi_X, np.eye(20), atol=1e-10)
    np.testing.assert_allclose(Kt @ Phi_X, Phi_X * lam_X, atol=1e-9 * lam_X[0])
    assert np.all(np.diff(lam_X) <= 0)
    # the identity: the Nystrom formula on the target rows reproduces Phi_X
    np.testing.assert_allclose(Kt @ Phi_X / lam_X, Phi_X, atol=1e-10)
    np.testing.assert_allclose(model.extrapolate(Xt), Phi_X, atol=1e-12)
    # the source rows: Phi_Z = K_ZX Phi_X Lambda^-1, the same formula
    np.testing.assert_allclose(model.source_features_, k(Xs, Xt) @ Phi_X / lam_X, atol=1e-10)
    np.testing.assert_allclose(model.extrapolate(Xs), model.source_features_, atol=1e-12)
    # new rows: the formula without the fitted samples' ridge
    Xn = Xt[:5] + 1e-3
    np.testing.assert_allclose(model.extrapolate(Xn), k(Xn, Xt) @ Phi_X / lam_X, atol=1e-10)


def test_learned_kernel_blocks():
    Xs, Xt = _domains(1)
    model = TKL(zeta=1.5, n_components=15).fit(Xs, Xt)
    lam = model.eigenspectrum_
    Phi = np.vstack([model.source_features_, model.target_features_])
    K = model.kernel_matrix()
    np.testing.assert_allclose(K, Phi @ np.diag(lam) @ Phi.T, atol=1e-10)
    np.testing.assert_allclose(K[:30, :30], model.train_kernel_, atol=1e-12)
    np.testing.assert_allclose(K[30:, :30], model.test_kernel_, atol=1e-12)
    np.testing.assert_allclose(model.learned_kernel(Xt, Xs), model.test_kernel_, atol=1e-12)
    np.testing.assert_allclose(model.learned_kernel(Xs), model.train_kernel_, atol=1e-10)
    Z = model.transform(Xs)
    np.testing.assert_allclose(Z @ Z.T, model.train_kernel_, atol=1e-10)
    assert np.linalg.eigvalsh(K).min() > -1e-9 * lam[0]
    # the reported objective is the Frobenius error of the source kernel (with the ridge)
    Kz = Xs @ Xs.T + model.ridge_ * np.eye(30)
    np.testing.assert_allclose(model.objective_, np.linalg.norm(model.train_kernel_ - Kz, "fro") ** 2,
                               rtol=1e-9)


def test_hand_case_zeta_inactive_and_active():
    # Target rows a e1 and b e2 (a^2 = 4, b^2 = 2), source = target, no ridge:
    # K_X = diag(4, 2), Phi_X = I, Phi_Z = K_ZX Phi_X Lambda^-1 = I, so the QP is
    # min ||l - (4, 2)||^2 s.t. l1 >= zeta l2.
    X = np.array([[2.0, 0.0], [0.0, np.sqrt(2.0)]])
    # zeta = 1: (4, 2) is feasible, the learned kernel is the base kernel
    model = TKL(zeta=1.0, n_components=2, ridge=0.0).fit(X, X)
    np.testing.assert_allclose(model.target_eigenvalues_, [4.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(model.eigenspectrum_, [4.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(model.kernel_matrix(), np.tile(X @ X.T, (2, 2)), atol=1e-6)
    np.testing.assert_allclose(model.objective_, 0.0, atol=1e-10)
    # zeta = 3: 4 < 3 * 2, projection on l1 = 3 l2: l2 = (3*4 + 2) / (1 + 9) = 1.4, l1 = 4.2
    model = TKL(zeta=3.0, n_components=2, ridge=0.0).fit(X, X)
    np.testing.assert_allclose(model.eigenspectrum_, [4.2, 1.4], atol=1e-6)
    np.testing.assert_allclose(model.objective_, (4.2 - 4) ** 2 + (1.4 - 2) ** 2, atol=1e-6)


def _spurious_shift(seed, ns=100, nt=80, d=8):
    """Feature 0 carries the class in both domains; feature 1 is a clean class cue in the
    source only (2 - y) and is 0 on the whole target, which spans the other features."""
    rng = np.random.default_rng(seed)
    ys, yt = np.repeat([-1, 1], ns // 2), np.repeat([-1, 1], nt // 2)
    Xs, Xt = rng.normal(size=(ns, d)), rng.normal(size=(nt, d))
    Xs[:, 0] = ys + 0.8 * rng.normal(size=ns)
    Xt[:, 0] = yt + 0.8 * rng.normal(size=nt)
    Xs[:, 1] = 2.0 - ys + 0.1 * rng.normal(size=ns)
    Xt[:, 1] = 0.0
    return Xs, ys, Xt, yt


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tkl_beats_source_svm_under_shift(seed):
    # The source SVM leans on feature 1, which is 0 on the target: it predicts one class.
    # TKL's kernel lives in the target eigenspace (feature 1 is not in it) and keeps feature 0.
    Xs, ys, Xt, yt = _spurious_shift(seed)
    clf = TKLClassifier(n_components=7).fit(Xs, ys, Xt)
    acc_tkl = np.mean(clf.predict(Xt) == yt)
    acc_svm = np.mean(make_svm().fit(Xs, ys).predict(Xt) == yt)
    assert acc_tkl >= acc_svm + 0.2
    assert acc_tkl >= 0.75
    # predict on the fitted target = the released code's K(target, source) block
    np.testing.assert_array_equal(clf.predict(Xt[::-1]), clf.predict(Xt)[::-1])
    np.testing.assert_allclose(clf.decision_function(Xt),
                               clf.svc_.decision_function(clf.tkl_.test_kernel_), atol=1e-12)


def test_classifier_multiclass_and_tie_rule():
    rng = np.random.default_rng(4)
    Xs, Xt = rng.normal(size=(45, 10)), rng.normal(size=(30, 10))
    ys = np.repeat(["a", "b", "c"], 15)
    Xs[:, 0] += np.repeat([-2.0, 0.0, 2.0], 15)
    clf = TKLClassifier(zeta=1.1).fit(Xs, ys, Xt)
    scores = clf.decision_function(Xt)
    assert scores.shape == (30, 3)
    np.testing.assert_array_equal(clf.predict(Xt), clf.classes_[np.argmax(scores, axis=1)])
    votes = clf.set_params(break_ties=False).fit(Xs, ys, Xt).predict(Xt)
    assert set(votes) <= set(clf.classes_)
    # rows other than the fitted target: the Nystrom extension
    assert clf.predict(Xt[:3] + 0.01).shape == (3,)


def test_grid_and_defaults():
    assert 1 <= len(PARAM_GRID) <= 10
    assert all(set(p) == {"zeta"} and p["zeta"] >= 1 for p in PARAM_GRID)
    assert FIXED_PARAMS == {"zeta": 2.0} and TKL().zeta == 2.0
    assert default_n_components(71) == 61 and default_n_components(130) == 120
    assert default_n_components(500) == 200 and default_n_components(8) == 8
    Xs, Xt = _domains(nt=25)
    assert TKL().fit(Xs, Xt).n_components_ == 15


def test_errors_and_unfitted_use():
    Xs, Xt = _domains()
    model = TKL()
    assert clone(model).get_params() == model.get_params()
    for call in (lambda: model.extrapolate(Xt), model.kernel_matrix, lambda: model.learned_kernel(Xs)):
        with pytest.raises(NotFittedError):
            call()
    with pytest.raises(NotFittedError):
        TKLClassifier().predict(Xt)
    with pytest.raises(InputError, match="zeta"):
        TKL(zeta=0.5).fit(Xs, Xt)
    with pytest.raises(InputError, match="kernel"):
        TKL(kernel="poly").fit(Xs, Xt)
    with pytest.raises(InputError, match="n_components"):
        TKL(n_components=26).fit(Xs, Xt)
    with pytest.raises(InputError, match="n_components"):
        TKL(n_components=0).fit(Xs, Xt)
    with pytest.raises(InputError):
        TKL().fit(Xs, Xt[:, :5])
    bad = Xt.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError):
        TKL().fit(Xs, bad)
    with pytest.raises(InputError, match="zero"):
        TKL().fit(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(InputError, match="n_components"):
        # rank-2 target, no ridge: its 4th eigenvalue is 0
        TKL(n_components=4, ridge=0.0).fit(Xs, np.repeat(Xt[:2], 3, axis=0))
    model.fit(Xs, Xt)
    with pytest.raises(InputError):
        model.extrapolate(Xs[:, :3])
    ys = np.repeat([0, 1], 15)
    with pytest.raises(InputError, match="ys"):
        TKLClassifier().fit(Xs, np.zeros(30), Xt)
    with pytest.raises(InputError, match="ys"):
        TKLClassifier().fit(Xs, ys[:10], Xt)
    with pytest.raises(InputError, match="C"):
        TKLClassifier(C=0).fit(Xs, ys, Xt)
    clf = TKLClassifier().fit(Xs, ys, Xt)
    with pytest.raises(InputError):
        clf.predict(Xt[:, :4])


def test_solver_failure_is_reported(monkeypatch):
    Phi, K = _qp(0)
    Q, b = spectrum_qp_terms(Phi, K)

    failed = SimpleNamespace(x=None, extras={"status": "SolverStatus.NumericalError"})
    monkeypatch.setattr(tkl_module.qpsolvers, "solve_problem", lambda *a, **k: failed)
    with pytest.raises(CdmerError, match="NumericalError"):
        solve_spectrum_qp(Q, b, 2.0)
    with pytest.raises(CdmerError, match="Clarabel"):
        TKL().fit(*_domains())
