"""GFK: the geodesic flow kernel (Gong, Shi, Sha, Grauman, CVPR 2012), closed form.

The source and target are each summarised by a d-dimensional PCA subspace,
``Ps`` and ``Pt`` (D x d, orthonormal columns; ``Rs`` (D x (D - d)) spans the
orthogonal complement of ``Ps``). The geodesic between them on the
Grassmannian is (paper eq. (2), with the SVDs of eq. (3))::

    Phi(t) = Ps U1 Gamma(t) - Rs U2 Sigma(t),  t in [0, 1],
    Ps^T Pt = U1 Gamma V^T,  Rs^T Pt = -U2 Sigma V^T,
    Gamma(t) = diag(cos(t theta_i)),  Sigma(t) = diag(sin(t theta_i)),

``theta_i`` the principal angles. Projecting x onto every subspace of the
flow and integrating gives the kernel (eqs. (5)-(6))::

    <z_i, z_j> = int_0^1 (Phi(t)^T x_i)^T (Phi(t)^T x_j) dt = x_i^T G x_j,
    G = [Ps U1, Rs U2] [[L1, L2], [L2, L3]] [Ps U1, Rs U2]^T,
    L1 = diag(1/2 + sin(2 theta)/(4 theta)),  L2 = diag((cos(2 theta) - 1)/(4 theta)),
    L3 = diag(1/2 - sin(2 theta)/(4 theta)),

which is the integral computed exactly (``int cos^2 = 1/2 + sin(2 theta)/(4
theta)`` etc.). The paper prints the diagonal entries without the common
factor 1/2 (``1 + sin(2 theta)/(2 theta)``, ...): a global scale of G, which
does not change its 1-NN classifier but does change an SVM with fixed C, so
the integral's own scale is used here. At ``theta = 0`` the entries are the
limits 1, 0, 0.

Thin computation (D is 15045 for LBP-TOP, so neither ``Rs`` nor G is formed):
``Rs U2 Sigma = -(I - Ps Ps^T) Pt V`` (from eq. (3)), whose columns are
orthogonal with norms ``sin(theta_i)``, so ``Rs U2`` is that matrix with
normalised columns and ``theta_i = atan2(sin, cos)`` is read from it and from
``Gamma`` without loss of precision. With ``Q = [Ps U1, Rs U2]`` (D x 2d,
orthonormal columns) and ``Omega`` the 2d x 2d middle matrix,
``transform(X) = X Q Omega^(1/2)`` satisfies ``transform(x) . transform(y) =
x^T G y``: it is the map through a square root of G (restricted to the 2d
directions where G is not zero) that the paper's linear SVM is applied to.

PCA: each domain is centred and its leading ``n_components`` principal
directions form ``Ps`` / ``Pt`` (scikit-learn's PCA); ``transform`` and
:meth:`GFK.kernel` apply G to the samples as given (not centred), as the
paper's kernel ``x_i^T G x_j`` does.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.utils._param_validation import Interval

from cdmer.adaptation.base import check_domains, check_features, validate_params
from cdmer.errors import InputError

#: Subspace dimensions searched (bounded by the 71 samples of a SMIC camera).
PARAM_GRID = tuple({"n_components": d} for d in (5, 10, 20, 30, 40, 50, 60, 70))
#: Label-free default (our choice; the paper picks d by its subspace disagreement measure).
FIXED_PARAMS = {"n_components": 20}


def flow_weights(theta):
    """Diagonals ``(L1, L2, L3)`` of eq. (6) as the exact integral, for principal angles ``theta``."""
    theta = np.asarray(theta, dtype=np.float64)
    sinc2 = np.sinc(2.0 * theta / np.pi)                 # sin(2 theta) / (2 theta), 1 at theta = 0
    l1 = 0.5 * (1.0 + sinc2)                             # int_0^1 cos^2(t theta) dt
    l3 = 0.5 * (1.0 - sinc2)                             # int_0^1 sin^2(t theta) dt
    safe = np.where(theta > 0, theta, 1.0)
    l2 = np.where(theta > 0, -np.sin(theta) ** 2 / (2.0 * safe), 0.0)   # -int cos sin = (cos 2theta - 1)/(4 theta)
    return l1, l2, l3


def pca_basis(X, n_components):
    """Orthonormal D x d basis of the leading principal directions of the rows of ``X`` (centred)."""
    return PCA(n_components=n_components, svd_solver="full").fit(X).components_.T


class GFK(BaseEstimator):
    """Geodesic flow kernel transformer; see the module docstring.

    ``GFK(n_components).fit(Xs, Xt)``; ``transform(X)`` (n, 2d) maps through a
    square root of G (a linear SVM on it uses the kernel ``x^T G y``);
    ``kernel(X, Y)`` is ``X G Y^T``; ``gfk_matrix()`` forms the D x D matrix G (small D only).

    Attributes
    ----------
    Ps_, Pt_ : ndarray (D, d)
        PCA bases of the source and the target.
    angles_ : ndarray (d,)
        Principal angles ``theta_i`` between them.
    basis_ : ndarray (D, 2d)
        ``[Ps U1, Rs U2]`` (a column of ``Rs U2`` is zero where ``theta_i = 0``).
    omega_ : ndarray (2d, 2d)
        The middle matrix of eq. (6).
    """

    _parameter_constraints = {"n_components": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, n_components=20):
        self.n_components = n_components

    def fit(self, Xs, Xt):
        """Subspaces of source rows ``Xs`` and target rows ``Xt``, then the closed form of G."""
        validate_params(self)
        Xs, _, Xt = check_domains(Xs, None, Xt, "GFK")
        d, D = int(self.n_components), Xs.shape[1]
        if d > min(Xs.shape[0], Xt.shape[0], D):
            raise InputError(f"GFK: n_components={d} exceeds min(source samples {Xs.shape[0]}, target samples "
                             f"{Xt.shape[0]}, features {D})", field="n_components")
        Ps, Pt = pca_basis(Xs, d), pca_basis(Xt, d)
        self.fit_subspaces(Ps, Pt)
        self.n_features_in_ = D
        return self

    def fit_subspaces(self, Ps, Pt):
        """Closed form of G for given orthonormal bases ``Ps``, ``Pt`` (D x d); returns self."""
        Ps = np.asarray(Ps, dtype=np.float64)
        Pt = np.asarray(Pt, dtype=np.float64)
        U1, gamma, Vt = np.linalg.svd(Ps.T @ Pt)           # eq. (3), first SVD
        V = Vt.T
        A = Ps @ U1
        R = A * gamma - Pt @ V                              # = -(I - Ps Ps^T) Pt V = Rs U2 Sigma  (eq. (3))
        sigma = np.linalg.norm(R, axis=0)
        theta = np.arctan2(sigma, np.clip(gamma, 0.0, None))
        tiny = sigma <= 1e-12 * max(1.0, float(np.max(sigma, initial=0.0)))
        Bm = np.where(tiny, 0.0, R / np.where(tiny, 1.0, sigma))  # Rs U2
        theta = np.where(tiny, 0.0, theta)
        l1, l2, l3 = flow_weights(theta)
        d = Ps.shape[1]
        omega = np.zeros((2 * d, 2 * d))
        idx = np.arange(d)
        omega[idx, idx] = l1                                # eq. (6): [[L1, L2], [L2, L3]]
        omega[idx, d + idx] = l2
        omega[d + idx, idx] = l2
        omega[d + idx, d + idx] = l3
        e, W = np.linalg.eigh(omega)
        self.Ps_, self.Pt_ = Ps, Pt
        self.angles_ = theta
        self.basis_ = np.hstack([A, Bm])
        self.omega_ = omega
        self.omega_sqrt_ = (W * np.sqrt(np.clip(e, 0.0, None))) @ W.T
        self.n_features_in_ = Ps.shape[0]
        return self

    def transform(self, X):
        """``X Q Omega^(1/2)`` (n, 2d): inner products of the rows are ``x^T G y``."""
        X = check_features(self, X, "basis_", "GFK")
        return (X @ self.basis_) @ self.omega_sqrt_

    def kernel(self, X, Y=None):
        """The geodesic flow kernel ``X G Y^T`` (eq. (5)); ``Y=None`` means ``X``."""
        ZX = self.transform(X)
        return ZX @ (ZX if Y is None else self.transform(Y)).T

    def gfk_matrix(self):
        """The D x D matrix G of eq. (6) (memory D^2: small D only)."""
        check_features(self, np.zeros((1, self.n_features_in_)), "basis_", "GFK")
        return self.basis_ @ self.omega_ @ self.basis_.T
