"""Kernel functions of the kernelised adaptation methods (TSRG, eq. (7)).

The paper's experiments use the linear kernel; the authors' code also offers
a Gaussian and polynomial kernels. All three go through
:func:`sklearn.metrics.pairwise.pairwise_kernels`, with scikit-learn's
parametrisation:

``"linear"``
    ``k(x, y) = x^T y``.
``"rbf"`` (Gaussian)
    ``k(x, y) = exp(-gamma ||x - y||^2)``; ``gamma=None`` means ``1 / d``
    (scikit-learn's default). The authors' MATLAB ``constructKernel`` writes
    ``exp(-||x - y||^2 / (2 t^2))``, i.e. ``gamma = 1 / (2 t^2)``.
``"poly"`` (polynomial)
    ``k(x, y) = (gamma x^T y + coef0)^degree``; ``gamma=None`` means ``1 / d``.
    The authors' ``'PolyPlus'`` is ``gamma=1, coef0=1``, their
    ``'Polynomial'`` is ``gamma=1, coef0=0``.
"""

import numbers

import numpy as np
from sklearn.metrics.pairwise import pairwise_kernels

from cdmer.errors import InputError

KERNELS = ("linear", "rbf", "poly")


def check_kernel(kernel, gamma=None, degree=3, coef0=1.0, method="TSRG"):
    """Validate kernel name and parameters; raise :class:`InputError` if bad."""
    if kernel not in KERNELS:
        raise InputError(f"{method}: unknown kernel {kernel!r}; expected one of {', '.join(KERNELS)}",
                         field="kernel")
    if gamma is not None and not (isinstance(gamma, numbers.Real) and np.isfinite(gamma) and gamma > 0):
        raise InputError(f"{method}: gamma must be a positive number or None, got {gamma!r}", field="gamma")
    if kernel == "poly":
        if not (isinstance(degree, numbers.Integral) and degree >= 1):
            raise InputError(f"{method}: degree must be a positive integer, got {degree!r}", field="degree")
        if not (isinstance(coef0, numbers.Real) and np.isfinite(coef0)):
            raise InputError(f"{method}: coef0 must be a finite number, got {coef0!r}", field="coef0")


def kernel_matrix(X, Y, kernel="linear", gamma=None, degree=3, coef0=1.0):
    """Kernel matrix ``K[i, j] = k(X[i], Y[j])`` (samples as rows), float64."""
    check_kernel(kernel, gamma, degree, coef0)
    if kernel == "linear":
        params = {}
    elif kernel == "rbf":
        params = {"gamma": gamma}
    else:
        params = {"gamma": gamma, "degree": degree, "coef0": coef0}
    return np.asarray(pairwise_kernels(X, Y, metric=kernel, **params), dtype=np.float64)
