"""Tests of TGSR (Jiang et al., ICPR 2022; the authors' released ALM) against a plain transcription here."""

import numpy as np
import pytest
from sklearn.base import clone

from cdmer.adaptation._tgsr_solver import _group_step
from cdmer.adaptation.tgsr import LAMBDAS, PARAM_GRID, TGSR, region_groups, tgsr_path
from cdmer.errors import InputError, NotFittedError
from cdmer.features.lbptop import lbp_top_layout
from cdmer.io.featureset import MICRO_EXTRACTION


def _data(ns=20, nt=15, d=24, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.random((ns, d))
    Xt = rng.random((nt, d)) + 0.1
    ys = rng.integers(1, 4, ns)
    return Xs, Xt, ys


def _released(Xs_rows, ys, Xt_rows, lam, k, groups):
    """TransferISLSR.m + ALM_ISLSR_fixednum.m transcribed with plain NumPy (columns = samples, d x d solve)."""
    Xs, Xt = Xs_rows.T, Xt_rows.T
    classes = np.unique(ys)
    Ls = (ys[None, :] == classes[:, None]).astype(float)
    d, c = Xs.shape[0], Ls.shape[0]
    L = np.hstack([Ls, np.zeros((c, 1))])
    Y = np.hstack([Xs, np.sqrt(lam) * (Xs.mean(1) - Xt.mean(1))[:, None]])
    G = groups.max() + 1
    B = np.ones((d, c))
    T = np.zeros((d, c))
    mu = 1e-3
    for it in range(1, 10 ** 6):
        P = np.linalg.solve(2 * Y @ Y.T / mu + np.eye(d), B + (2 * Y @ L.T - T) / mu)
        W = P + T / mu
        norms = np.array([np.linalg.norm(W[groups == g]) for g in range(G)])
        tau = np.sort(norms)[::-1][k] if k < G else 0.0
        B = np.zeros_like(W)
        for g in range(G):
            if norms[g] - tau > 0:
                B[groups == g] = W[groups == g] * ((norms[g] - tau) / norms[g])
        if np.max(np.abs(P - B)) < 1e-8:
            break
        T = T + mu * (P - B)
        mu = min(1e15, 1.1 * mu)
    return B, it, classes


@pytest.mark.parametrize("lam", [0.001, 100.0])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_matches_released_algorithm(lam, k):
    Xs, Xt, ys = _data()
    groups = np.repeat(np.arange(8), 3)
    C_ref, it_ref, classes = _released(Xs, ys, Xt, lam, k, groups)
    model = TGSR(lam=lam, n_selected=k, n_regions=8).fit(Xs, ys, Xt)
    assert model.converged_
    assert model.n_iter_ == it_ref
    assert np.max(np.abs(model.coef_ - C_ref)) <= 1e-8 * np.max(np.abs(C_ref))
    np.testing.assert_array_equal(model.classes_, classes)
    np.testing.assert_array_equal(model.predict(Xt), classes[np.argmax(Xt @ C_ref, axis=1)])
    # exactly k groups survive (random data: no ties)
    assert len(model.selected_) == min(k, 8)


def test_explicit_groups_match_released_algorithm():
    Xs, Xt, ys = _data(seed=1)
    rng = np.random.default_rng(5)
    groups = rng.permutation(np.repeat(np.arange(6), 4))       # scattered, equal sizes
    C_ref, it_ref, _ = _released(Xs, ys, Xt, 2.0, 2, groups)
    model = TGSR(lam=2.0, n_selected=2, n_regions=6, groups=groups).fit(Xs, ys, Xt)
    assert model.n_iter_ == it_ref
    assert np.max(np.abs(model.coef_ - C_ref)) <= 1e-8 * np.max(np.abs(C_ref))
    kept = np.unique(groups[np.any(model.coef_ != 0, axis=1)])
    np.testing.assert_array_equal(kept, model.selected_)
    assert len(kept) == 2


def test_all_regions_is_one_step_closed_form():
    Xs, Xt, ys = _data(seed=2)
    model = TGSR(lam=0.3, n_selected=8, n_regions=8).fit(Xs, ys, Xt)
    assert model.n_iter_ == 1
    Y = np.hstack([Xs.T, np.sqrt(0.3) * (Xs.mean(0) - Xt.mean(0))[:, None]])
    Ls = (ys[None, :] == np.unique(ys)[:, None]).astype(float)
    L = np.hstack([Ls, np.zeros((3, 1))])
    mu = 1e-3
    C = np.linalg.solve(2 * Y @ Y.T / mu + np.eye(24), np.ones((24, 3)) + 2 * Y @ L.T / mu)
    assert np.max(np.abs(model.coef_ - C)) <= 1e-9 * np.max(np.abs(C))


def test_group_step_ties_keep_fewer():
    # group norms 3, 2, 2, 1 (one class column): k = 2 gives tau = 2 (the 3rd largest), so only the
    # group of norm 3 passes the strict test, shrunk to norm 1
    W = np.array([[3.0, 0.0, 2.0, 0.0, 1.0, 0.0, 0.0, 2.0]])   # (c * q, d) = (1, 8), groups of 2
    B = np.array([[1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, -1.0]])  # the current B, added by the pass
    T = np.zeros_like(W)
    stop = np.empty(1)
    offsets = np.array([0, 2, 4, 6, 8])
    _group_step(W - B, B, T, offsets, np.array([2]), 1, 1.0, stop)   # given Z w = W - B
    np.testing.assert_allclose(B, [[1.0, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(T, W - B)                    # T + mu (P - B), P = W - T/mu, T = 0
    assert stop[0] == 2.0


@pytest.mark.parametrize("lam", [0.5])
def test_path_equals_single_fits(lam):
    Xs, Xt, ys = _data(seed=3)
    ks = [8, 1, 4, 2, 7]
    out = list(tgsr_path(Xs, ys, Xt, lam, ks, n_regions=8))
    assert sorted(o[0] for o in out) == sorted(ks)
    for k, y_pred, dec, info in out:
        model = TGSR(lam=lam, n_selected=k, n_regions=8).fit(Xs, ys, Xt)
        np.testing.assert_allclose(dec, model.decision_function(Xt), rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(y_pred, model.predict(Xt))
        assert info["n_iter"] == model.n_iter_
        assert info["classes"] == model.classes_.tolist()


def test_grid():
    assert len(LAMBDAS) == 271
    assert LAMBDAS[0] == 0.001 and LAMBDAS[-1] == 1000.0
    assert 0.0012 in LAMBDAS and 1.2 in LAMBDAS and 980.0 in LAMBDAS and 1.1 not in LAMBDAS
    decade = [x for x in LAMBDAS if 1.0 <= x <= 10.0]
    assert len(decade) == 46
    np.testing.assert_allclose(np.diff(decade), 0.2)
    assert len(PARAM_GRID) == 23035


def test_region_groups_follow_the_layout():
    layout = lbp_top_layout()
    groups = region_groups(layout)
    assert groups.shape == (15045,)
    np.testing.assert_array_equal(np.bincount(groups), np.full(85, 177))
    np.testing.assert_array_equal(groups[:177], 0)                 # 1x1 level: all three planes
    # 2x2 level: plane XY holds blocks 0..3 (59 values each), then plane XT blocks 0..3, ...
    np.testing.assert_array_equal(groups[177:177 + 59], 1)
    np.testing.assert_array_equal(groups[177 + 59:177 + 118], 2)
    np.testing.assert_array_equal(groups[177 + 4 * 59:177 + 5 * 59], 1)   # XT plane, block 0
    np.testing.assert_array_equal(groups[-59:], 84)                 # YT plane, last 8x8 block
    np.testing.assert_array_equal(region_groups(MICRO_EXTRACTION), groups)
    np.testing.assert_array_equal(region_groups({"layout": layout}), groups)
    with pytest.raises(InputError):
        region_groups({"layout": "block, then plane"})


def test_region_groups_on_real_features(real_features):
    # every region owns three 59-bin histograms (one per plane) that each sum to 1
    from cdmer.io.featureset import load_features
    fs = load_features(real_features / "SMIC_VIS_LBPTOP_R3P8_112x112.mat")
    groups = region_groups(fs.extraction)
    sums = np.stack([fs.X[:, groups == g].sum(axis=1) for g in range(85)], axis=1)
    np.testing.assert_allclose(sums, 3.0, atol=1e-6)


def test_array_api_and_errors():
    Xs, Xt, ys = _data()
    model = TGSR(lam=1.0, n_selected=2, n_regions=8)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.predict(Xt)
    with pytest.raises(InputError, match="equal size"):
        TGSR(n_regions=5).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="n_selected"):
        TGSR(n_selected=0, n_regions=8).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="groups"):
        TGSR(n_regions=8, groups=np.zeros(5, dtype=int)).fit(Xs, ys, Xt)
    with pytest.raises(InputError, match="groups"):
        TGSR(n_regions=8, groups=np.repeat(np.arange(4), 6)).fit(Xs, ys, Xt)
    model.fit(Xs, ys, Xt)
    assert model.decision_function(Xt).shape == (len(Xt), 3)
    with pytest.raises(InputError):
        model.predict(Xt[:, :3])


def test_threaded_batch_equals_serial():
    from cdmer.adaptation._tgsr_solver import TGSRProblem, solve_batch
    Xs, Xt, ys = _data(seed=4)
    Ls = (ys[None, :] == np.unique(ys)[:, None]).astype(float)
    problem = TGSRProblem(Xs, Ls, Xt, np.arange(0, 25, 3))
    ks = [1, 2, 3, 5, 7]
    serial = {i: (sol.coef(), sol.n_iter) for i, sol in solve_batch(problem, 0.7, ks)}
    threaded = {i: (sol.coef(), sol.n_iter) for i, sol in solve_batch(problem, 0.7, ks, threads=True)}
    for i in range(len(ks)):
        assert serial[i][1] == threaded[i][1]
        np.testing.assert_allclose(serial[i][0], threaded[i][0], rtol=1e-12, atol=1e-14)


def _problem(Xs, ys, Xt, offsets):
    from cdmer.adaptation._tgsr_solver import TGSRProblem
    Ls = (ys[None, :] == np.unique(ys)[:, None]).astype(float)
    return TGSRProblem(Xs, Ls, Xt, np.asarray(offsets))


@pytest.mark.parametrize("lam", [0.01, 3.0])
def test_batched_path_equals_single_fits_and_released(lam):
    # all n_selected of one lambda advanced together (group-Gram form, runs leaving the batch as they stop)
    # against independent single fits and the plain d x d transcription, including k = n_regions (one step)
    Xs, Xt, ys = _data(seed=6)
    ks = [1, 2, 3, 5, 6, 7, 8]
    out = {k: (dec, info) for k, _, dec, info in tgsr_path(Xs, ys, Xt, lam, ks, n_regions=8)}
    assert sorted(out) == ks
    groups = np.repeat(np.arange(8), 3)
    for k in ks:
        dec, info = out[k]
        C_ref, it_ref, _ = _released(Xs, ys, Xt, lam, k, groups)
        assert info["n_iter"] == it_ref
        np.testing.assert_allclose(dec, Xt @ C_ref, rtol=0, atol=1e-9 * np.abs(Xt @ C_ref).max())
        single = TGSR(lam=lam, n_selected=k, n_regions=8).fit(Xs, ys, Xt)
        assert single.n_iter_ == it_ref
        assert np.max(np.abs(single.coef_ - C_ref)) <= 1e-9 * np.max(np.abs(C_ref))
        np.testing.assert_allclose(dec, single.decision_function(Xt), rtol=1e-10, atol=1e-13)
    assert out[8][1]["n_iter"] == 1


def test_gram_form_equals_direct_form():
    from cdmer.adaptation._tgsr_solver import solve_batch
    Xs, Xt, ys = _data(ns=25, nt=12, d=30, seed=7)
    offsets = [0, 4, 9, 12, 20, 24, 30]                                  # unequal groups
    problem = _problem(Xs, ys, Xt, offsets)
    ks = [1, 2, 3, 4, 5, 6, 7]
    direct = {i: (sol.coef(), sol.n_iter) for i, sol in solve_batch(problem, 0.2, ks, method="direct")}
    gram = {i: (sol.coef(), sol.n_iter, sol.converged) for i, sol in solve_batch(problem, 0.2, ks, method="gram")}
    threaded = {i: (sol.coef(), sol.n_iter) for i, sol in solve_batch(problem, 0.2, ks, method="gram", threads=True)}
    assert sorted(gram) == list(range(len(ks)))
    for i in range(len(ks)):
        assert gram[i][2]
        assert gram[i][1] == direct[i][1] == threaded[i][1]
        scale = np.max(np.abs(direct[i][0]))
        assert np.max(np.abs(gram[i][0] - direct[i][0])) <= 1e-10 * scale
        assert np.max(np.abs(threaded[i][0] - gram[i][0])) <= 1e-12 * scale


def test_batched_path_at_ties():
    # regions 0 and 3 hold the same features: equal group norms at every step, so a k whose boundary falls
    # between them keeps fewer than k regions (strict '>'; here k = 2 keeps one); batched, single and
    # direct-form runs agree there
    from cdmer.adaptation._tgsr_solver import solve_batch
    Xs, Xt, ys = _data(seed=8)
    Xs[:, 0:3], Xt[:, 0:3] = Xs[:, 9:12], Xt[:, 9:12]
    ks = list(range(1, 9))
    out = {k: (dec, info) for k, _, dec, info in tgsr_path(Xs, ys, Xt, 0.4, ks, n_regions=8)}
    fewer = []
    for k in ks:
        single = TGSR(lam=0.4, n_selected=k, n_regions=8).fit(Xs, ys, Xt)
        np.testing.assert_allclose(out[k][0], single.decision_function(Xt), rtol=1e-10, atol=1e-13)
        assert out[k][1]["n_iter"] == single.n_iter_
        assert out[k][1]["n_selected_regions"] == len(single.selected_)
        assert (0 in single.selected_) == (3 in single.selected_)     # tied regions stay or go together
        if len(single.selected_) < k:
            fewer.append(k)
    assert 2 in fewer                                                 # the tie was at the boundary
    problem = _problem(Xs, ys, Xt, np.arange(0, 25, 3))
    direct = {ks[i]: (sol.coef(), sol.n_iter) for i, sol in solve_batch(problem, 0.4, ks,
                                                            method="direct")}
    for k in ks:
        assert direct[k][1] == out[k][1]["n_iter"]
        np.testing.assert_allclose(Xt @ direct[k][0], out[k][0], rtol=1e-9, atol=1e-12)
        C_ref, it_ref, _ = _released(Xs, ys, Xt, 0.4, k, np.repeat(np.arange(8), 3))   # the transcription too
        assert it_ref == out[k][1]["n_iter"]
        np.testing.assert_allclose(Xt @ C_ref, out[k][0], rtol=0, atol=1e-9 * np.abs(Xt @ C_ref).max())


def test_history_replay_and_decisions(monkeypatch):
    # runs keep no H until they reach the stopping test; it is replayed from the recorded w and factors
    # (forced for every run at iteration _HISTORY): a tiny history gives the same iterates as the default,
    # and decision() from the group coefficients equals rows @ coef()
    import cdmer.adaptation._tgsr_solver as solver
    Xs, Xt, ys = _data(ns=25, nt=12, d=30, seed=11)
    problem = _problem(Xs, ys, Xt, [0, 4, 9, 12, 20, 24, 30])
    ks = [1, 2, 3, 4, 5, 6]
    full = {i: sol for i, sol in solver.solve_batch(problem, 0.3, ks, rows=Xt)}
    for cap in (1, 2, 5):
        monkeypatch.setattr(solver, "_HISTORY", cap)
        short = {i: sol for i, sol in solver.solve_batch(problem, 0.3, ks, rows=Xt)}
        for i in range(len(ks)):
            assert short[i].n_iter == full[i].n_iter
            np.testing.assert_array_equal(short[i].coef(), full[i].coef())
    direct = {i: sol for i, sol in solver.solve_batch(problem, 0.3, ks, method="direct", rows=Xt)}
    for i in range(len(ks)):
        sol = full[i]
        np.testing.assert_allclose(sol.decision(), Xt @ sol.coef(), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(direct[i].decision(), Xt @ direct[i].coef(), rtol=0, atol=0)
        assert list(sol.selected()) == list(direct[i].selected())
        assert direct[i].n_iter == sol.n_iter


def test_max_iter_stops_unconverged_runs_alike():
    # a run cut at max_iter returns the B of its last step, converged=False, in both forms
    from cdmer.adaptation._tgsr_solver import solve_batch
    Xs, Xt, ys = _data(seed=9)
    problem = _problem(Xs, ys, Xt, np.arange(0, 25, 3))
    ks = [1, 3, 8]
    direct, gram = ({i: (sol.coef(), sol.n_iter, sol.converged)
                     for i, sol in solve_batch(problem, 1.0, ks, max_iter=5, method=method)}
                    for method in ("direct", "gram"))
    assert [gram[i][1:] for i in range(3)] == [(5, False), (5, False), (1, True)]
    assert [direct[i][1:] for i in range(3)] == [(5, False), (5, False), (1, True)]
    for i in range(3):
        np.testing.assert_allclose(gram[i][0], direct[i][0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("c", [1, 3, 4])
def test_packed_quadratic_forms_equal_the_gram_products(c):
    # the packed norm product: row j of the packing, dotted with the packed upper triangle of a symmetric G,
    # is sum over the run's c columns of w^T G w (computed here with full matrices)
    from cdmer.adaptation._tgsr_solver import _gram_kernels
    rng = np.random.default_rng(c)
    q, m = 5, 7
    w = rng.standard_normal((q * c, m))
    A = rng.standard_normal((m, m))
    G = A @ A.T
    iu, ju = np.triu_indices(m)
    for threads in (False, True):
        packed = np.full((q, m * (m + 1) // 2), np.nan)
        _gram_kernels[threads][0](w, c, q, packed)
        expected = [sum(w[j * c + cc] @ G @ w[j * c + cc] for cc in range(c)) for j in range(q)]
        np.testing.assert_allclose(packed @ G[iu, ju], expected, rtol=1e-12)
