"""Kernel functions of the kernelised adaptation methods (TSRG eq. (7), KMM, STM).

The paper's experiments use the linear kernel; the authors' code also offers
a Gaussian and polynomial kernels. All three go through
:func:`sklearn.metrics.pairwise.pairwise_kernels`, with scikit-learn's
parametrisation:

``"linear"``
    ``k(x, y) = x^T y``.
``"rbf"`` (Gaussian)
    ``k(x, y) = exp(-gamma ||x - y||^2)``. The authors' MATLAB
    ``constructKernel`` writes ``exp(-||x - y||^2 / (2 t^2))``, i.e.
    ``gamma = 1 / (2 t^2)``.
``"poly"`` (polynomial)
    ``k(x, y) = (gamma x^T y + coef0)^degree``. The authors' ``'PolyPlus'``
    is ``gamma=1, coef0=1``, their ``'Polynomial'`` is ``gamma=1, coef0=0``.

``gamma=None`` (every kernel method of cdmer: TSRG, KMM, STM)
    means scikit-learn's ``"scale"`` rule, ``gamma = 1 / (d * var)``, with
    ``var`` the variance of all entries of the pooled training samples
    ``[Xs; Xt]`` (:func:`resolve_gamma`). It is chosen over ``1 / d`` because
    it does not depend on the features' units: LBP-TOP histograms may be
    counts or normalised, and ``1 / d`` is only sensible for features of unit
    variance (scikit-learn made ``"scale"`` the default of ``SVC`` for this
    reason). The value used is stored by each estimator in ``gamma_``; the
    linear kernel has no gamma (``gamma_ = None``).
"""

import numpy as np
from sklearn.metrics.pairwise import pairwise_kernels

from cdmer.errors import InputError

KERNELS = ("linear", "rbf", "poly")


def resolve_gamma(gamma, kernel, X, method="kernel"):
    """The gamma used: ``gamma`` itself, or ``1 / (d * var(X))`` when None.

    ``X`` is the pooled training samples (rows). Returns None for the linear
    kernel. Raises :class:`InputError` when ``gamma`` is None and every entry
    of ``X`` is equal (no scale can be read from the data).
    """
    if kernel == "linear":
        return None
    if gamma is not None:
        return float(gamma)
    var = float(np.var(X))
    if not var > 0:
        raise InputError(f"{method}: all samples are identical; a kernel scale cannot be chosen from the data "
                         "(give gamma)", field="gamma")
    return 1.0 / (X.shape[1] * var)


def kernel_matrix(X, Y, kernel="linear", gamma=None, degree=3, coef0=1.0):
    """Kernel matrix ``K[i, j] = k(X[i], Y[j])`` (samples as rows), float64.

    ``gamma`` should be the value from :func:`resolve_gamma`; if None, the
    rule is applied to the rows of ``X`` and ``Y`` pooled (which is the
    training data when ``X`` and ``Y`` are).
    """
    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}; expected one of {', '.join(KERNELS)}", field="kernel")
    if kernel == "linear":
        params = {}
    else:
        if gamma is None:
            gamma = resolve_gamma(None, kernel, X if Y is X else np.concatenate([X, Y]))
        params = {"gamma": gamma} if kernel == "rbf" else {"gamma": gamma, "degree": degree, "coef0": coef0}
    return np.asarray(pairwise_kernels(X, Y, metric=kernel, **params), dtype=np.float64)
