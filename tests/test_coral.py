"""Tests of the low-rank CORAL against skada's CORALAdapter and against dense scipy matrix powers."""

import numpy as np
import pytest
from scipy.linalg import fractional_matrix_power
from sklearn.base import clone

from cdmer.adaptation.coral import CORAL, FIXED_PARAMS, PARAM_GRID
from cdmer.errors import InputError, NotFittedError

REGS = (0.01, 0.1, 0.5, 0.9, 1.0)


def _data(d, ns, nt, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.normal(size=(ns, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + rng.normal(size=d)
    Xt = 2.0 * rng.normal(size=(nt, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) - 1.0
    return Xs, Xt


def _shrunk(X, reg, assume_centered=False):
    """skada's covariance for a numeric reg, written out: (1 - reg) S + reg trace(S)/d I, S biased."""
    S = X.T @ X / len(X) if assume_centered else np.cov(X.T, bias=True)
    return (1.0 - reg) * S + reg * np.trace(S) / S.shape[0] * np.eye(S.shape[0])


@pytest.mark.parametrize("d,ns,nt", [(30, 12, 9), (8, 12, 9)])
@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("assume_centered", [False, True])
def test_equals_skada_coral_adapter(d, ns, nt, reg, assume_centered):
    from skada import CORALAdapter

    Xs, Xt = _data(d, ns, nt, seed=d)
    # skada's convention: one matrix, sample_domain > 0 source rows, < 0 target rows (interleaved here)
    order = np.random.default_rng(1).permutation(ns + nt)
    X = np.vstack([Xs, Xt])[order]
    sample_domain = np.r_[np.ones(ns, dtype=int), -np.ones(nt, dtype=int)][order]
    adapter = CORALAdapter(reg=reg, assume_centered=assume_centered)
    Z_skada = adapter.fit_transform(X, sample_domain=sample_domain)

    model = CORAL(reg=reg, assume_centered=assume_centered).fit(Xs, Xt)
    Z = np.empty_like(X)
    Z[sample_domain > 0] = model.transform(X[sample_domain > 0])
    Z[sample_domain < 0] = model.transform_target(X[sample_domain < 0])
    np.testing.assert_allclose(Z, Z_skada, rtol=0, atol=1e-10)
    # skada's transform without sample_domain (a pipeline's predict): rows are target rows
    np.testing.assert_allclose(model.transform_target(Xt), adapter.transform(Xt), rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.cov_source_inv_sqrt(), adapter.cov_source_inv_sqrt_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.cov_target_sqrt(), adapter.cov_target_sqrt_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.mean_source_, adapter.mean_source_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.mean_target_, adapter.mean_target_, rtol=0, atol=1e-12)


@pytest.mark.parametrize("d,ns,nt", [(30, 12, 9), (8, 12, 9), (25, 6, 14)])
@pytest.mark.parametrize("reg", REGS)
def test_equals_dense_fractional_powers(d, ns, nt, reg):
    Xs, Xt = _data(d, ns, nt, seed=ns)
    Cs, Ct = _shrunk(Xs, reg), _shrunk(Xt, reg)
    expected = (Xs - Xs.mean(0)) @ fractional_matrix_power(Cs, -0.5) @ fractional_matrix_power(Ct, 0.5)
    model = CORAL(reg=reg).fit(Xs, Xt)
    np.testing.assert_allclose(model.transform(Xs), expected.real, rtol=0, atol=1e-10)
    assert np.max(np.abs(expected.imag)) < 1e-12
    np.testing.assert_allclose(model.transform_target(Xt), Xt - Xt.mean(0), rtol=0, atol=1e-12)
    # the defining property: the whitened-and-coloured shrunk source covariance is the target's
    A = model.cov_source_inv_sqrt() @ model.cov_target_sqrt()
    np.testing.assert_allclose(A.T @ Cs @ A, Ct, rtol=0, atol=1e-10)


def test_reg_one_is_a_scalar_rescaling():
    Xs, Xt = _data(20, 10, 7)
    model = CORAL(reg=1.0).fit(Xs, Xt)
    factor = np.sqrt(np.var(Xt, axis=0).sum() / np.var(Xs, axis=0).sum())
    np.testing.assert_allclose(model.transform(Xs), factor * (Xs - Xs.mean(0)), rtol=0, atol=1e-12)
    assert model.source_basis_.shape == (20, 0)


def test_high_dimension_matches_closed_form_on_the_data_span():
    """d = 2000, ns = 20: fit and transform without d x d matrices; compare with a dense reduced closed form.

    Cs and Ct act as ``iso I`` on the orthogonal complement of the span of the centred source and
    target rows, so that span (basis Q, m <= ns + nt columns) is invariant under both and, for rows x
    in it, ``x Cs^(-1/2) Ct^(1/2) = x Q (Q^T Cs Q)^(-1/2) (Q^T Ct Q)^(1/2) Q^T`` exactly; the m x m
    matrices are small and their powers come from scipy (Schur-based, independent of the SVD here).
    """
    d, ns, nt, reg = 2000, 20, 15, 0.1
    Xs, Xt = _data(d, ns, nt, seed=3)
    Xsc, Xtc = Xs - Xs.mean(0), Xt - Xt.mean(0)
    Q = np.linalg.qr(np.vstack([Xsc, Xtc]).T)[0]                   # d x (ns + nt)

    def reduced(Xc):
        B = Xc @ Q
        mu = np.vdot(Xc, Xc) / Xc.size
        return (1.0 - reg) * B.T @ B / len(Xc) + reg * mu * np.eye(Q.shape[1])

    rows = Xsc[:4]
    expected = (rows @ Q) @ fractional_matrix_power(reduced(Xsc), -0.5) @ fractional_matrix_power(reduced(Xtc), 0.5)
    expected = expected.real @ Q.T
    model = CORAL(reg=reg).fit(Xs, Xt)
    assert model.source_basis_.shape == (d, ns - 1)                # centred rows: rank ns - 1
    assert model.target_basis_.shape == (d, nt - 1)
    Z = model.transform(Xs[:4])
    assert np.max(np.abs(Z - expected)) <= 1e-10 * max(1.0, np.max(np.abs(expected)))


def test_grid_and_params():
    assert PARAM_GRID == tuple({"reg": r} for r in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9))
    assert FIXED_PARAMS == {"reg": 0.5} and CORAL().reg == 0.5
    model = CORAL(reg=0.1)
    assert clone(model).get_params() == {"reg": 0.1, "assume_centered": False}


def test_errors():
    Xs, Xt = _data(6, 10, 8)
    model = CORAL(reg=0.1)
    with pytest.raises(NotFittedError):
        model.transform(Xs)
    with pytest.raises(NotFittedError):
        model.transform_target(Xt)
    with pytest.raises(NotFittedError):
        model.cov_target_sqrt()
    for bad in (10.0, 0.0, -0.1, None, "ledoit"):
        with pytest.raises(InputError, match="reg"):
            CORAL(reg=bad).fit(Xs, Xt)
    with pytest.raises(InputError, match="low-rank") as info:
        CORAL(reg="auto").fit(Xs, Xt)
    assert info.value.field == "reg"
    with pytest.raises(InputError):
        model.fit(Xs, Xt[:, :3])                                     # domains differ in dimension
    bad = Xs.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InputError):
        model.fit(bad, Xt)
    with pytest.raises(InputError):
        model.fit(Xs, np.where(Xt > 0, np.inf, Xt))
    with pytest.raises(InputError, match="zero variance"):
        model.fit(np.ones((5, 6)), Xt)
    model.fit(Xs, Xt)
    with pytest.raises(InputError):
        model.transform(Xs[:, :4])                                   # wrong number of features
    with pytest.raises(InputError):
        model.transform_target(Xt[:, :4])
    with pytest.raises(InputError):
        model.transform(bad)                                         # NaN at transform
