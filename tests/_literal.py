"""The inexact ALM of TSRG (Zong et al., ACM MM 2017, section 3.3), transcribed literally for the tests.

One transcription, independent of cdmer's solvers, shared by the tests of TSRG, DRFS-T and DRLS: their
objectives are eq. (7) with different matrices in the roles of ``Ks`` and of the source features.
"""

import numpy as np


def literal_alm(K, dk, Y, lam, mu):
    """``min ||Y^T - P^T K||^2 + lam ||P^T dk||^2 + mu ||P||_1`` by the paper's ALM (start all ones, kappa 1e-3 x 1.1).

    ``K`` is (n x m), the kernel between all n samples and the m re-generated ones (paper notation: columns
    are samples); ``Y`` (m x p) holds the m samples' targets as rows; returns ``(P, iterations)``.
    """
    n, p = K.shape[0], Y.shape[1]
    P = np.ones((n, p))
    T = np.ones((n, p))
    kappa = 1e-3
    for it in range(1, 100000):
        Q = np.linalg.solve(K @ K.T + lam * np.outer(dk, dk) + kappa / 2 * np.eye(n),
                            K @ Y + (kappa * P + T) / 2)
        W = Q - T / kappa
        P = np.where(W > mu / kappa, W - mu / kappa, np.where(W < -mu / kappa, W + mu / kappa, 0.0))
        if np.max(np.abs(P - Q)) < 1e-8:
            break
        T = T + kappa * (P - Q)
        kappa = min(1.1 * kappa, 1e15)
    return P, it
