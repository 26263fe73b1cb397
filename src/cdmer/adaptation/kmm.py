"""Kernel mean matching (KMM), the paper's first comparison method.

Huang, Smola, Gretton, Borgwardt, Schölkopf, "Correcting Sample Selection Bias
by Unlabeled Data", NIPS 2006. Settings of the paper (Zong et al. 2017,
section 4.1 (2)-(3)): linear kernel, ``B = 1000``, ``eps = (sqrt(ns) - 1) /
sqrt(ns)``, and the weighted linear SVM (C = 1) as classifier.
"""

from cdmer.adaptation._weighted import (
    KMM_CONSTRAINTS,
    ImportanceWeightedSVM,
    check_kmm_params,
    kmm_terms,
    qp_objective,
    solve_kmm_qp,
    warn_if_degenerate,
)

#: Nothing is searched: the paper fixes B and eps (section 4.1 (3)).
PARAM_GRID = ({},)
#: The paper's setting, chosen without target labels.
FIXED_PARAMS = {}


class KMM(ImportanceWeightedSVM):
    """Importance weights by kernel mean matching, then a weighted linear SVM.

    The weights ``b`` (one per source sample) solve the quadratic program of
    Huang et al. (2006, section 3.1)::

        min_b  1/2 b^T K b - kappa^T b
        s.t.   0 <= b_i <= B,   |sum_i b_i - ns| <= ns * eps

    with ``K_ij = k(xs_i, xs_j)`` and ``kappa_i = ns / nt * sum_j k(xs_i,
    xt_j)``: up to a constant and the factor ``ns^2``, the squared distance in
    the kernel's feature space between the weighted source mean and the target
    mean. The SVM is then trained with ``sample_weight = b`` (LIBSVM scales
    ``C`` by each weight).

    The QP is solved with Clarabel through qpsolvers (see
    :mod:`cdmer.adaptation._weighted` for why): an interior-point method that
    reports whether the problem was solved, infeasible or stopped early. The
    linear-kernel ``K = Xs Xs^T`` has rank at most ``min(ns, d)``; it is
    passed as is (no ridge): a positive semi-definite QP is well posed for an
    interior-point solver. When ``d <= ns / 4`` the solver works on the
    factored form ``K = F^T F`` with ``F = Xs^T`` (fewer non-zeros).

    Parameters
    ----------
    B : float
        Upper bound of each weight (paper: 1000).
    eps : float or None
        Tolerance of the weight sum; ``None`` is the paper's ``(sqrt(ns) - 1)
        / sqrt(ns)``.
    kernel : {"linear", "rbf"}
        The paper uses the linear kernel for every method (section 4.1 (2)).
    gamma : float or None
        RBF parameter ``k(x, y) = exp(-gamma ||x - y||^2)``; ``None``: the
        rule of :mod:`cdmer.adaptation.kernels`.
    C : float
        The SVM's C (paper: 1).
    solver_options : dict or None
        Clarabel settings (e.g. ``{"max_iter": 50}``), passed through qpsolvers.

    Attributes
    ----------
    weights_ : ndarray (ns,)
        The KMM weights ``b``.
    eps_, gamma_ : float
        The tolerance and RBF parameter used (``gamma_`` is None when linear).
    objective_ : float
        ``1/2 b^T K b - kappa^T b`` at the solution.
    solver_status_ : str
        Clarabel's status.
    svm_ : cdmer.adaptation.base.LinearSVM
        The weighted SVM (trained on the samples of non-zero weight, see
        :func:`~cdmer.adaptation._weighted.fit_weighted_svm`).
    classes_ : ndarray
        Classes the SVM can predict.
    n_features_in_ : int

    Raises
    ------
    InputError
        Bad data (see :func:`~cdmer.adaptation.base.check_domains`) or
        parameters (``B < 1 - eps`` makes the constraints infeasible).
    CdmerError
        The solver fails, or the weights leave fewer than two classes.
    """

    method = "KMM"
    _parameter_constraints = dict(KMM_CONSTRAINTS)

    def __init__(self, B=1000.0, eps=None, kernel="linear", gamma=None, C=1.0, solver_options=None):
        self.B = B
        self.eps = eps
        self.kernel = kernel
        self.gamma = gamma
        self.C = C
        self.solver_options = solver_options

    def _fit_weights(self, Xs, Xt):
        self.eps_ = check_kmm_params(self.B, self.eps, Xs.shape[0], "KMM")
        warn_if_degenerate(Xs, "KMM")
        K, factor, kappa, self.gamma_ = kmm_terms(Xs, Xt, self.kernel, self.gamma, "KMM")
        # Huang et al. 2006, section 3.1: min 1/2 b'Kb - kappa'b over the constraint set.
        self.weights_, self.solver_status_ = solve_kmm_qp(-kappa, self.B, self.eps_, "KMM", K=K, factor=factor,
                                                          options=self.solver_options)
        self.objective_ = qp_objective(self.weights_, -kappa, K=K, factor=factor)
        return self


__all__ = ["KMM", "PARAM_GRID", "FIXED_PARAMS"]
