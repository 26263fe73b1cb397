"""CORAL: correlation alignment (Sun, Feng, Saenko, AAAI 2016), skada's estimator in low-rank form.

CORAL re-colours the source with the target's second-order statistics: the
source rows are whitened with the source covariance and coloured with the
target covariance. The paper's algorithm (its four lines of MATLAB) is::

    Cs = cov(Ds) + eye(d);   Ct = cov(Dt) + eye(d);
    Ds = Ds * Cs^(-1/2);     Ds* = Ds * Ct^(1/2);

and a classifier trained on ``Ds*`` is applied to the target as it is.

This module computes exactly what skada 0.6's ``CORALAdapter(reg=r)`` (the
estimator the registry used before; it now uses cdmer's
:class:`cdmer.da.adapters.CORALAdapter` over this class) computes for a
numeric ``reg = r``, which is not the paper's ``cov + I``:

- covariance: scikit-learn's ``shrunk_covariance(empirical_covariance(X), r)``,
  i.e. ``C = (1 - r) S + r mu I`` with ``S = Xc^T Xc / n`` the *biased*
  (divide by n) covariance of the centred rows ``Xc = X - mean(X)``
  (``np.cov(X.T, bias=True)``) and ``mu = trace(S) / d``. ``r`` is a
  shrinkage coefficient in [0, 1] (scikit-learn rejects anything else, so
  ``reg = 10`` raises in skada), not a ridge added to the diagonal.
  ``r = 1`` gives ``C = mu I``: CORAL then reduces to centring and one
  scalar rescaling, ``sqrt(mu_t / mu_s) (x - mean_s)``, with no correlation
  alignment at all;
- source rows (``sample_domain > 0``): ``(x - mean_s) Cs^(-1/2) Ct^(1/2)``;
- target rows (``sample_domain < 0``, and every row given to skada's
  ``transform`` without ``sample_domain``, e.g. at ``predict`` in a
  pipeline): ``x - mean_t``, centred, not coloured;
- ``assume_centered=True``: ``S = X^T X / n`` and no mean is subtracted;
- ``reg="auto"``: Ledoit-Wolf on standardised features, rescaled,
  ``C = (1 - s) S + s diag(S)``: low rank plus a *diagonal* that is not a
  multiple of I, whose square root has no exact low-rank form; not
  supported here (:class:`InputError`). ``reg=None`` / ``0`` make ``Cs``
  singular whenever ``d >= ns`` (skada returns NaN); also refused.

Low-rank form (exact, not an approximation). With ``Xc = P diag(s) V^T``
the thin SVD of the centred rows (``V``: d x k, ``k <= n - 1``), ``S = V
diag(e) V^T``, ``e = s^2 / n``, so ``C = iso I + V diag((1 - r) e) V^T``,
``iso = r mu``, and for every power p::

    C^p = iso^p I + V diag((iso + (1 - r) e)^p - iso^p) V^T

(``C`` has eigenvalue ``iso + (1 - r) e_i`` on ``V`` and ``iso`` on its
orthogonal complement). Hence ``(x - mean_s) Cs^(-1/2) Ct^(1/2)`` costs
O(n d (ks + kt)) and O(d n^2) to fit; no d x d matrix is formed. For the
15045-dimensional LBP-TOP features and 70-165 samples per database, skada
forms two 15045 x 15045 covariances (1.8 GB each) and two dense
eigendecompositions of them. Singular values that are zero to rounding
(``s_i <= s_max max(n, d) eps``; the centred rows have rank ``n - 1`` at most)
are dropped: their term ``(iso + (1 - r) e_i)^p - iso^p`` is zero to
rounding too. The difference of powers is evaluated as ``iso^p expm1(p
log1p((1 - r) e / iso))``, without cancellation.
"""

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from cdmer.adaptation.base import check_domains, check_features, validate_params
from cdmer.errors import InputError

#: The registry's grid of the shrinkage coefficient ``reg`` (skada's meaning, in
#: (0, 1]). Our choice: it spans light to strong shrinkage and leaves out 1.0,
#: which reduces CORAL to a scalar rescaling (and 10.0, an earlier grid's point,
#: invalid in skada and here).
PARAM_GRID = tuple({"reg": r} for r in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9))
#: The registry's fixed setting, our choice: mid-range. skada's default
#: ``"auto"`` (Ledoit-Wolf on standardised features) shrinks towards the
#: diagonal and has no exact low-rank form.
FIXED_PARAMS = {"reg": 0.5}


def shrunk_power(X, reg, powers, assume_centered=False):
    """Low-rank factors of ``C^p`` for the shrunk covariance ``C`` of the rows of ``X``.

    ``C = (1 - reg) S + reg mu I`` as skada / scikit-learn (``S`` biased,
    centred unless ``assume_centered``). Returns ``(mean, basis, [(scale_p,
    coef_p) for p in powers])`` with ``C^p = scale_p I + basis diag(coef_p)
    basis^T``; ``basis`` (d x k) has orthonormal columns.
    """
    n, d = X.shape
    mean = X.mean(axis=0)
    Xc = X if assume_centered else X - mean
    mu = float(np.vdot(Xc, Xc)) / (n * d)                 # trace(S) / d
    iso = reg * mu
    if not iso > 0.0:
        return mean, None, None
    if reg < 1.0:
        _, s, Vt = np.linalg.svd(Xc, full_matrices=False)
        keep = s > (s[0] if s.size else 0.0) * max(n, d) * np.finfo(np.float64).eps
        basis = Vt[keep].T
        ratio = (1.0 - reg) * (s[keep] ** 2 / n) / iso    # (eigenvalue - iso) / iso on the basis
    else:                                                 # reg = 1: C = mu I exactly
        basis = np.zeros((d, 0))
        ratio = np.zeros(0)
    factors = [(iso ** p, iso ** p * np.expm1(p * np.log1p(ratio))) for p in powers]
    return mean, basis, factors


def _apply(X, scale, basis, coef):
    """``X (scale I + basis diag(coef) basis^T)`` without forming the d x d matrix."""
    return scale * X + ((X @ basis) * coef) @ basis.T


class CORAL(BaseEstimator):
    """CORAL transformer, identical to skada's ``CORALAdapter(reg)``; see the module docstring.

    ``CORAL(reg).fit(Xs, Xt)``; :meth:`transform` maps rows as *source* rows,
    ``(x - mean_source_) Cs^(-1/2) Ct^(1/2)`` (what skada does to rows with
    ``sample_domain > 0`` in ``fit_transform``); :meth:`transform_target`
    maps rows as *target* rows, ``x - mean_target_`` (what skada does to rows
    with ``sample_domain < 0``, and to all rows passed to its ``transform``
    without ``sample_domain``, e.g. at ``predict``). A classifier is trained
    on ``transform(Xs)`` and applied to ``transform_target(Xt)``.

    Parameters
    ----------
    reg : float in (0, 1]
        Shrinkage coefficient of both covariances (skada's / scikit-learn's
        meaning): ``C = (1 - reg) S + reg (trace(S) / d) I``; default 0.5,
        the registry's fixed setting (:data:`FIXED_PARAMS`). ``reg = 1``
        makes CORAL a scalar rescaling. ``"auto"`` (skada's default,
        Ledoit-Wolf) raises :class:`InputError`: see the module docstring.
    assume_centered : bool
        As skada: covariances ``X^T X / n`` and no centring of the rows.

    Attributes
    ----------
    mean_source_, mean_target_ : ndarray (d,)
        Means of the fitted source and target rows (not used when ``assume_centered``).
    source_basis_ : ndarray (d, ks)
        Orthonormal basis of the source rows' (centred) span.
    whiten_scale_, whiten_coef_ : float, ndarray (ks,)
        ``Cs^(-1/2) = whiten_scale_ I + source_basis_ diag(whiten_coef_) source_basis_^T``.
    target_basis_ : ndarray (d, kt)
    colour_scale_, colour_coef_ : float, ndarray (kt,)
        ``Ct^(1/2) = colour_scale_ I + target_basis_ diag(colour_coef_) target_basis_^T``.
    n_features_in_ : int
    """

    _parameter_constraints: ClassVar[dict] = {
        "reg": [Interval(Real, 0, 1, closed="right"), StrOptions({"auto"})],
        "assume_centered": ["boolean"],
    }

    def __init__(self, reg=0.5, assume_centered=False):
        self.reg = reg
        self.assume_centered = assume_centered

    def fit(self, Xs, Xt):
        """Shrunk covariances of source rows ``Xs`` and target rows ``Xt``, as low-rank factors."""
        validate_params(self)
        if isinstance(self.reg, str):
            raise InputError("CORAL: reg='auto' (Ledoit-Wolf on standardised features) shrinks towards the "
                             "diagonal of the covariance, whose matrix square root has no exact low-rank form; "
                             "give a shrinkage coefficient in (0, 1]", field="reg")
        Xs, _, Xt = check_domains(Xs, None, Xt, "CORAL")
        reg, centred = float(self.reg), bool(self.assume_centered)
        self.mean_source_, Us, fs = shrunk_power(Xs, reg, (-0.5,), centred)
        if fs is None:
            raise InputError("CORAL: the source rows have zero variance (all rows equal); their covariance "
                             "cannot be whitened", field="Xs")
        self.mean_target_, Ut, ft = shrunk_power(Xt, reg, (0.5,), centred)
        if ft is None:                                    # Ct = 0: Ct^(1/2) = 0
            Ut, ft = np.zeros((Xt.shape[1], 0)), [(0.0, np.zeros(0))]
        (self.whiten_scale_, self.whiten_coef_), = fs
        (self.colour_scale_, self.colour_coef_), = ft
        self.source_basis_, self.target_basis_ = Us, Ut
        self.n_features_in_ = Xs.shape[1]
        return self

    def transform(self, X):
        """Rows of ``X`` as source rows: ``(x - mean_source_) Cs^(-1/2) Ct^(1/2)``."""
        X = check_features(self, X, "source_basis_", "CORAL")
        if not self.assume_centered:
            X = X - self.mean_source_
        Y = _apply(X, self.whiten_scale_, self.source_basis_, self.whiten_coef_)
        return _apply(Y, self.colour_scale_, self.target_basis_, self.colour_coef_)

    def transform_target(self, X):
        """Rows of ``X`` as target rows: ``x - mean_target_`` (unchanged when ``assume_centered``)."""
        X = check_features(self, X, "source_basis_", "CORAL")
        return X.copy() if self.assume_centered else X - self.mean_target_

    def cov_source_inv_sqrt(self):
        """The d x d matrix ``Cs^(-1/2)`` (skada's ``cov_source_inv_sqrt_``; memory d^2: small d only)."""
        check_features(self, np.zeros((1, getattr(self, "n_features_in_", 1))), "source_basis_", "CORAL")
        return _apply(np.eye(self.n_features_in_), self.whiten_scale_, self.source_basis_, self.whiten_coef_)

    def cov_target_sqrt(self):
        """The d x d matrix ``Ct^(1/2)`` (skada's ``cov_target_sqrt_``; memory d^2: small d only)."""
        check_features(self, np.zeros((1, getattr(self, "n_features_in_", 1))), "source_basis_", "CORAL")
        return _apply(np.eye(self.n_features_in_), self.colour_scale_, self.target_basis_, self.colour_coef_)
