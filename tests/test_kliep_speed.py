"""The compiled KLIEP ascent gives the results of the plain NumPy ascent to the bit."""

import warnings

import numpy as np
import pytest

from cdmer.adaptation import kliep as kliep_module
from cdmer.adaptation.kliep import KLIEP, kliep_ascent


def numpy_ascent(b, A):
    """The ascent of ``kliep_ascent`` written with NumPy operations on whole arrays."""
    first_step, smallest_step, gain_tol, max_iter = 1e3, 1e-12, 1e-9, 20000
    c = float(b @ b)
    if not c > 0:
        return np.zeros(A.shape[1]), -np.inf
    b_unit = b / c

    def project(alpha):
        alpha = alpha + (1.0 - b @ alpha) * b_unit
        alpha = np.maximum(alpha, 0.0)
        total = b @ alpha
        if not total > 0:
            return None
        alpha = alpha / total
        fitted = A @ alpha
        return alpha, fitted, float(np.log(fitted).sum() / A.shape[0])

    with np.errstate(all="ignore"):
        state = project(np.ones(A.shape[1]))
        if state is None:
            return np.zeros(A.shape[1]), -np.inf
        alpha, fitted, score = state
        step, successes, iteration = first_step, 0, 0
        while iteration < max_iter and step >= smallest_step:
            iteration += 1
            proposal = project(alpha + step * (A.T @ (1.0 / fitted)))
            if proposal is None or not proposal[2] > score:
                step, successes = step / 10.0, 0
                continue
            gain = proposal[2] - score
            alpha, fitted, score = proposal
            if gain <= gain_tol * abs(score):
                break
            successes += 1
            if successes == 3:
                step, successes = step * 10.0, 0
    return alpha, score


def random_problem(rng, n, m, zero_rows=0, fortran=False):
    """A Gaussian-basis-like problem: nonnegative ``A`` with many zeros, ``b`` its source mean."""
    A = rng.random((n, m)) ** 4
    A[rng.random((n, m)) < 0.4] = 0.0
    A[rng.choice(n, zero_rows, replace=False)] = 0.0  # target samples far from every centre: fitted value 0
    b = (rng.random((n + 5, m)) ** 4).mean(axis=0)
    return b, (np.asfortranarray(A) if fortran else A)


def assert_same(result, expected):
    alpha, score = result
    alpha_ref, score_ref = expected
    assert alpha.shape == alpha_ref.shape
    assert np.array_equal(alpha, alpha_ref)
    assert score == score_ref or (np.isnan(score) and np.isnan(score_ref))


CASES = [(20, 8, 0), (40, 25, 0), (57, 57, 0), (30, 12, 1), (50, 30, 3), (9, 40, 2), (300, 20, 0), (150, 60, 5),
         (1, 6, 0), (15, 1, 0), (15, 1, 2), (1, 1, 0), (2, 2, 1)]


@pytest.mark.parametrize("fortran", [False, True], ids=["C", "F"])
@pytest.mark.parametrize("n, m, zero_rows", CASES)
def test_ascent_equals_numpy_to_the_bit(n, m, zero_rows, fortran):
    rng = np.random.default_rng(1000 * n + 10 * m + zero_rows)
    for _ in range(3):
        b, A = random_problem(rng, n, m, zero_rows, fortran)
        assert_same(kliep_ascent(b, A), numpy_ascent(b, A))


def test_zero_fitted_value_gives_minus_infinity_as_numpy():
    rng = np.random.default_rng(7)
    b, A = random_problem(rng, 20, 10, zero_rows=2)
    alpha, score = kliep_ascent(b, A)
    assert score == -np.inf and np.all(np.isfinite(alpha))
    assert_same((alpha, score), numpy_ascent(b, A))


def test_degenerate_inputs_as_numpy():
    rng = np.random.default_rng(3)
    b, A = random_problem(rng, 10, 6)
    assert_same(kliep_ascent(np.zeros(6), A), numpy_ascent(np.zeros(6), A))  # b = 0: nothing feasible
    b_sparse = np.zeros(6)
    b_sparse[2] = 0.3
    A_sparse = A.copy()
    A_sparse[:, 2] = 0.0  # the only column with source mass vanishes on the target
    assert_same(kliep_ascent(b_sparse, A_sparse), numpy_ascent(b_sparse, A_sparse))
    assert_same(kliep_ascent(b, A[::2]), numpy_ascent(b, np.ascontiguousarray(A[::2])))  # strided: copied to C


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 130, 255, 256, 257, 1000, 4099, 70001])
def test_pairwise_sum_is_numpy_sum(n):
    x = np.random.default_rng(n).normal(size=n) * 10.0 ** np.random.default_rng(n + 1).normal(size=n)
    assert kliep_module._pairwise_sum(x, n) == x.sum()


def test_kliep_fit_equals_numpy_ascent(monkeypatch):
    """The whole fit (width search on Fortran-ordered fold matrices, final model) with either ascent."""
    rng = np.random.default_rng(5)
    ys = np.repeat(["negative", "positive", "surprise"], 20)
    Xs = rng.normal(size=(60, 4))
    Xs[ys == "positive", 0] += 2.0
    Xt = rng.normal(size=(45, 4)) + 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = KLIEP(random_state=2).fit(Xs, ys, Xt)
        monkeypatch.setattr(kliep_module, "kliep_ascent", numpy_ascent)
        reference = KLIEP(random_state=2).fit(Xs, ys, Xt)
    assert compiled.sigma_ == reference.sigma_
    assert list(compiled.cv_scores_.items()) == list(reference.cv_scores_.items())
    assert np.array_equal(compiled.alpha_, reference.alpha_)
    assert np.array_equal(compiled.weights_, reference.weights_)
    assert compiled.objective_ == reference.objective_
    assert np.array_equal(compiled.predict(Xt), reference.predict(Xt))
