"""Tests of GFK (Gong et al., CVPR 2012) against the paper's geodesic flow integrated numerically here."""

import numpy as np
import pytest
from scipy.integrate import quad_vec
from scipy.linalg import null_space
from sklearn.base import clone

from cdmer.adaptation.gfk import GFK, flow_weights
from cdmer.errors import InputError, NotFittedError


def _subspaces(D=8, d=3, seed=0):
    rng = np.random.default_rng(seed)
    Ps = np.linalg.qr(rng.normal(size=(D, d)))[0]
    Pt = np.linalg.qr(rng.normal(size=(D, d)))[0]
    return Ps, Pt


def _flow(Ps, Pt):
    """Phi(t) of eq. (2) from the SVDs of eq. (3), with the full complement Rs (scipy's null_space)."""
    Rs = null_space(Ps.T)                                   # D x (D - d)
    U1, gamma, Vt = np.linalg.svd(Ps.T @ Pt)
    V = Vt.T
    M = -(Rs.T @ Pt) @ V                                    # = U2 Sigma
    sigma = np.linalg.norm(M, axis=0)
    U2 = M / sigma
    theta = np.arccos(np.clip(gamma, -1, 1))
    return lambda t: Ps @ U1 @ np.diag(np.cos(t * theta)) - Rs @ U2 @ np.diag(np.sin(t * theta)), V


@pytest.mark.parametrize("D,d,seed", [(8, 3, 0), (10, 4, 1), (6, 2, 2)])
def test_closed_form_equals_integral_of_the_flow(D, d, seed):
    Ps, Pt = _subspaces(D, d, seed)
    phi, V = _flow(Ps, Pt)
    np.testing.assert_allclose(phi(1.0), Pt @ V, atol=1e-12)               # the flow ends at the target
    G_num, err = quad_vec(lambda t: phi(t) @ phi(t).T, 0.0, 1.0, epsabs=1e-13, epsrel=1e-13)
    model = GFK(n_components=d).fit_subspaces(Ps, Pt)
    np.testing.assert_allclose(model.gfk_matrix(), G_num, atol=1e-11)
    X = np.random.default_rng(seed).normal(size=(5, D))
    np.testing.assert_allclose(model.kernel(X), X @ G_num @ X.T, atol=1e-10)   # eq. (5)
    Z = model.transform(X)
    np.testing.assert_allclose(Z @ Z.T, X @ G_num @ X.T, atol=1e-10)           # a square root of G


def test_identical_subspaces_give_the_projection():
    Ps, _ = _subspaces()
    model = GFK(n_components=3).fit_subspaces(Ps, Ps)
    np.testing.assert_allclose(model.angles_, 0.0, atol=1e-7)
    np.testing.assert_allclose(model.gfk_matrix(), Ps @ Ps.T, atol=1e-12)


def test_flow_weights_are_the_integrals():
    for theta in (1e-9, 0.3, 1.2, np.pi / 2):
        l1, l2, l3 = flow_weights(np.array([theta]))
        c2 = quad_vec(lambda t: np.cos(t * theta) ** 2, 0, 1)[0]
        cs = quad_vec(lambda t: np.cos(t * theta) * np.sin(t * theta), 0, 1)[0]
        s2 = quad_vec(lambda t: np.sin(t * theta) ** 2, 0, 1)[0]
        np.testing.assert_allclose([l1[0], l2[0], l3[0]], [c2, -cs, s2], atol=1e-12)


def test_fit_uses_pca_subspaces():
    rng = np.random.default_rng(3)
    Xs = rng.normal(size=(30, 12)) @ np.diag(np.linspace(3, 0.1, 12))
    Xt = rng.normal(size=(25, 12)) @ np.diag(np.linspace(0.1, 3, 12))
    model = GFK(n_components=4).fit(Xs, Xt)
    # Ps spans the leading eigenvectors of the source covariance, computed here
    w, U = np.linalg.eigh(np.cov(Xs.T))
    top = U[:, -4:]
    np.testing.assert_allclose(model.Ps_ @ model.Ps_.T, top @ top.T, atol=1e-10)
    assert model.transform(Xt).shape == (25, 8)
    K = model.kernel(Xs)
    np.testing.assert_allclose(K, K.T, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-9


def test_array_api_and_errors():
    Xs = np.random.default_rng(0).normal(size=(10, 6))
    Xt = np.random.default_rng(1).normal(size=(8, 6))
    model = GFK(n_components=2)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError):
        model.transform(Xs)
    with pytest.raises(InputError, match="n_components"):
        GFK(n_components=9).fit(Xs, Xt)
    with pytest.raises(InputError, match="n_components"):
        GFK(n_components=0).fit(Xs, Xt)
    with pytest.raises(InputError):
        GFK().fit(Xs, Xt[:, :3])
    model.fit(Xs, Xt)
    with pytest.raises(InputError):
        model.transform(Xs[:, :2])
