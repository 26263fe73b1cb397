"""Selective transfer machine (STM).

Chu, De la Torre, Cohn, "Selective Transfer Machine for Personalized Facial
Action Unit Detection", CVPR 2013; journal version "Selective Transfer Machine
for Personalized Facial Expression Analysis", IEEE TPAMI 39(3), 2017. The
paper (Zong et al. 2017, section 4.1 (3)-(4)(b)) sets ``B`` and ``eps`` as for
KMM and searches the trade-off ``lambda``; its optima were 4, 0.04, 8, 0.02,
15 and 0.03 in Exp.1 to Exp.6.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from cdmer.adaptation._weighted import (
    KMM_CONSTRAINTS,
    WeightedSVMClassifier,
    check_kmm_params,
    fit_weighted_svm,
    kmm_terms,
    qp_objective,
    solve_kmm_qp,
    warn_if_degenerate,
)
from cdmer.adaptation.base import check_domains, validate_params
from cdmer.errors import ConvergenceWarning

#: The paper's optimal lambdas (section 4.1 (4)(b), Exp.1 to Exp.6).
PAPER_LAMBDAS = (4.0, 0.04, 8.0, 0.02, 15.0, 0.03)

#: lambda searched by the protocol: 0.01 .. 100 (1-2-5 steps) plus the paper's optima.
PARAM_GRID = tuple({"lam": float(lam)} for lam in sorted(
    {round(m * 10.0 ** e, 10) for e in range(-2, 2) for m in (1, 2, 5)} | {100.0} | set(PAPER_LAMBDAS)))

#: Without target labels: lambda = 1, the middle of the searched range.
FIXED_PARAMS = {"lam": 1.0}


class STMParameters:
    """STM's parameters (see :class:`STM`): one signature for the array API and its skada wrapper."""

    _parameter_constraints = {
        **KMM_CONSTRAINTS,
        "lam": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="both")],
        "init": [StrOptions({"ones", "kmm"})],
        "warm_start": ["boolean"],
        "svm_tol": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, lam=1.0, C=1.0, B=1000.0, eps=None, kernel="linear", gamma=None, max_iter=10,
                 tol=1e-3, init="ones", warm_start=False, svm_tol=1e-3, solver_options=None):
        self.lam = lam
        self.C = C
        self.B = B
        self.eps = eps
        self.kernel = kernel
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.warm_start = warm_start
        self.svm_tol = svm_tol
        self.solver_options = solver_options


class STM(STMParameters, WeightedSVMClassifier):
    """Selective transfer machine: a linear SVM and source weights learned jointly.

    STM solves (Chu et al. CVPR 2013, section 3, the objective of their eq. (1))::

        min_{w, s}  1/2 ||w||^2 + C sum_i s_i L(ys_i, w^T xs_i)
                    + lambda (1/2 s^T K s - kappa^T s)
        s.t.        0 <= s_i <= B,  |sum_i s_i - ns| <= ns * eps

    where the last term is KMM's distribution mismatch (``K`` and ``kappa``
    as in :class:`~cdmer.adaptation.kmm.KMM`, linear kernel in the paper) and
    ``L`` the hinge loss. It alternates, as the paper's alternate convex search
    (section 3):

    - w-step, ``s`` fixed: the weighted SVM (LIBSVM, ``sample_weight = s``);
    - s-step, ``w`` fixed: the KMM QP with linear term ``-kappa + (C /
      lambda) l``, ``l_i`` the hinge loss of sample i (the objective divided
      by lambda).

    Both steps minimise the objective exactly (up to the SVM's tolerance
    ``svm_tol``), so it never increases; the loop stops when its relative
    decrease falls below ``tol`` or after ``max_iter`` s-steps
    (:class:`~cdmer.errors.ConvergenceWarning`). It starts from ``s = 1``
    (the unweighted SVM, the generic classifier STM personalises), from the
    previous solution with ``warm_start=True`` (e.g. along a lambda grid), or
    from the KMM weights with ``init="kmm"``.

    Three classes: STM is binary. LIBSVM's one-vs-one classifier trains one
    machine per pair of classes, each on the samples of its two classes, all
    with the same per-sample weights. The multi-class objective is the sum of
    the machines' objectives plus lambda times the mismatch; its s-step has
    the linear term ``l_i = sum over the machines that see sample i of its
    hinge loss``, and with two classes this is exactly the paper's problem.
    When an s-step gives a whole class zero weight, its machines are the
    trivial exact solutions described in :func:`ovo_hinge_losses` (its
    samples keep a loss of 2 per machine), so the objective stays one
    function and can still only decrease.

    Parameters
    ----------
    lam : float
        Trade-off lambda between the classifier and the mismatch (> 0).
    C : float
        The SVM's C (paper: 1).
    B, eps, kernel, gamma
        The mismatch term and constraints, as for KMM (paper: B = 1000,
        ``eps = (sqrt(ns) - 1) / sqrt(ns)``, linear kernel).
    max_iter : int
        Maximum number of s-steps (``0``: the weighted SVM at the initial ``s``).
    tol : float
        Relative decrease of the objective below which the loop stops.
    init : {"ones", "kmm"}
        Initial weights when not warm-starting.
    warm_start : bool
        Start from the previous ``weights_`` when refitting on the same number
        of source samples.
    svm_tol : float
        LIBSVM's stopping tolerance (its default 1e-3 is the paper's).
    solver_options : dict or None
        Clarabel settings for the s-step QP.

    Attributes
    ----------
    weights_ : ndarray (ns,)
        The weights ``s``.
    losses_ : ndarray (ns,)
        Per-sample hinge losses (summed over the machines that see the sample)
        of the final SVM.
    objective_ : float
        The STM objective at the solution.
    objective_history_ : list of float
        The objective after the initial w-step and after each s-step and
        w-step, in order.
    n_iter_ : int
        Number of s-steps done.
    eps_, gamma_, svm_, classes_, n_features_in_
        As for KMM. ``predict`` is the argmax of ``decision_function`` (the
        tie rule of :class:`~cdmer.adaptation.base.LinearSVM`).
    """

    method = "STM"
    def fit(self, Xs, ys, Xt):
        """Alternate the weighted SVM and the weight QP until the objective settles."""
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "STM")
        ns = Xs.shape[0]
        lam = float(self.lam)
        self.eps_ = check_kmm_params(self.B, self.eps, ns, "STM")
        warn_if_degenerate(Xs, "STM")
        K, factor, kappa, self.gamma_ = kmm_terms(Xs, Xt, self.kernel, self.gamma, "STM")
        classes = np.unique(ys)

        s = self._initial_weights(K, factor, kappa, ns)
        svm = self._w_step(Xs, ys, s)
        losses = ovo_hinge_losses(svm, Xs, ys, classes)
        objective = self._objective(svm, s, losses, K, factor, kappa)
        history = [objective]
        self.n_iter_ = 0
        converged = int(self.max_iter) == 0
        for _ in range(int(self.max_iter)):
            # s-step: min lam (1/2 s'Ks - kappa's) + C sum s_i l_i, divided by lam.
            s, _ = solve_kmm_qp(-kappa + (self.C / lam) * losses, self.B, self.eps_, "STM", K=K, factor=factor,
                                options=self.solver_options)
            history.append(self._objective(svm, s, losses, K, factor, kappa))
            svm = self._w_step(Xs, ys, s)
            losses = ovo_hinge_losses(svm, Xs, ys, classes)
            previous, objective = objective, self._objective(svm, s, losses, K, factor, kappa)
            history.append(objective)
            self.n_iter_ += 1
            if abs(previous - objective) <= self.tol * max(abs(previous), np.finfo(float).tiny):
                converged = True
                break
        if not converged:
            warnings.warn(f"STM: the objective still changed by more than tol = {self.tol:g} (relative) after "
                          f"max_iter = {self.max_iter} alternations", ConvergenceWarning, stacklevel=2)
        lost = [c for c in classes.tolist() if c not in set(svm.classes_.tolist())]
        if lost:
            warnings.warn(f"STM: every source sample of class {', '.join(map(repr, lost))} got zero weight; "
                          "the classifier is trained without that class and will never predict it",
                          UserWarning, stacklevel=2)
        self.weights_ = s
        self.losses_ = losses
        self.objective_ = objective
        self.objective_history_ = history
        self.svm_ = svm
        self.classes_ = svm.classes_
        self.n_features_in_ = Xs.shape[1]
        return self

    def _initial_weights(self, K, factor, kappa, ns):
        if self.warm_start and getattr(self, "weights_", None) is not None and self.weights_.shape == (ns,):
            return np.clip(self.weights_, 0.0, self.B)
        if self.init == "ones":
            return np.ones(ns)
        s, _ = solve_kmm_qp(-kappa, self.B, self.eps_, "STM", K=K, factor=factor, options=self.solver_options)
        return s

    def _w_step(self, Xs, ys, s):
        with warnings.catch_warnings():
            # A class may lose all its weight in an intermediate step; only the final one is reported.
            warnings.simplefilter("ignore", UserWarning)
            return fit_weighted_svm(Xs, ys, s, "STM", C=self.C, tol=self.svm_tol)

    def _objective(self, svm, s, losses, K, factor, kappa):
        """Chu et al. 2013, eq. (1): sum of the machines' SVM objectives + lambda * mismatch."""
        regulariser = 0.5 * float(np.sum(svm.coef_**2))  # sum over the one-vs-one machines
        return regulariser + self.C * float(s @ losses) + float(self.lam) * qp_objective(s, -kappa, K=K,
                                                                                         factor=factor)


def ovo_hinge_losses(svm, X, y, classes=None):
    """Per-sample hinge losses of a linear one-vs-one SVC, summed over the machines that see each sample.

    Machine ``m`` of scikit-learn's SVC separates classes ``(i, j)`` (pairs in
    the order (0, 1), (0, 2), ..., (1, 2), ...); its decision value is positive
    for class ``i``, except with two classes, where scikit-learn reports it
    positive for ``classes_[1]``. A sample of class ``i`` or ``j`` gets
    ``max(0, 1 - y_m f_m(x))`` with ``y_m = +1`` for the class on the positive
    side.

    ``classes`` (default ``svm.classes_``) may hold classes the SVM was not
    trained on because all their weights were zero. The machine of such a
    class ``j`` against a trained class ``i`` is then the exact solution of
    its weighted problem, ``w = 0`` with the bias putting every sample on
    ``i``'s side at margin 1: it adds nothing to ``||w||^2``, loss 0 to class
    ``i`` and loss 2 to each sample of ``j``. This keeps the objective the
    same function of ``(w, s)`` when a class drops out and comes back.
    """
    trained = list(svm.classes_)
    classes = trained if classes is None else list(classes)
    values = X @ svm.coef_.T + svm.intercept_
    losses = np.zeros(X.shape[0])
    if len(trained) == 2:
        machine = {(trained[0], trained[1]): (0, -1.0)}  # positive side is classes_[1]
    else:
        pairs = [(a, b) for k, a in enumerate(trained) for b in trained[k + 1:]]
        machine = {pair: (m, 1.0) for m, pair in enumerate(pairs)}
    for k, a in enumerate(classes):
        for b in classes[k + 1:]:
            in_a, in_b = y == a, y == b
            if (a, b) in machine or (b, a) in machine:
                m, orientation = machine[(a, b)] if (a, b) in machine else machine[(b, a)]
                first = a if (a, b) in machine else b  # positive side when orientation = 1
                sign = np.where(y == first, orientation, -orientation)
                seen = in_a | in_b
                losses[seen] += np.maximum(0.0, 1.0 - sign[seen] * values[seen, m])
            elif a in trained or b in trained:
                losses[in_b if a in trained else in_a] += 2.0
            else:
                losses[in_a | in_b] += 1.0
    return losses


__all__ = ["STM", "STMParameters", "ovo_hinge_losses", "PARAM_GRID", "FIXED_PARAMS", "PAPER_LAMBDAS"]
