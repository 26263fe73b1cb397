"""DRFS-T: Domain Regeneration in the original Feature Space with unchanged Target
(Zong, Zheng, Huang, Shi, Cui, Zhao, IEEE TIP 2018).

DRFS-T is TSRG (ACM MM 2017, eq. (7)) with the roles of the domains swapped:
the re-generator is learnt to reproduce the TARGET samples while pulling the
kernel means together, and is then applied to the SOURCE samples, which are
re-generated into the target's space; the target keeps its original features::

    min_P ||Xt - P^T Kt'||_F^2 + lambda ||P^T dk'||_2^2 + mu ||P||_1,       (7), domains swapped
    Kt' = [Ktt; Kst] (n x nt), dk' = Kt' 1/nt - Ks' 1/ns,  n = nt + ns,

so ``DRFST(...).fit(Xs, Xt)`` is exactly ``TSRG(...).fit(Xt, Xs)`` (the same
solvers, defaults and grid), and ``transform(X)`` is ``k(X, [Xt; Xs]) P``:
target rows first, then source. ``transform(Xs)`` gives the re-generated
source. :class:`DRFSTClassifier` trains the paper's linear SVM (C = 1) on the
re-generated source with the source labels and predicts the ORIGINAL target
features.
"""

from sklearn.base import BaseEstimator

from cdmer.adaptation.base import check_domains, check_features, make_svm, validate_params
from cdmer.adaptation.tsrg import (FIXED_PARAMS, PARAM_GRID, TSRG, TSRGClassifierParameters, TSRGParameters,  # noqa: F401
                                   tsrg_path)

_TSRG_PARAMS = tuple(TSRG._get_param_names())


class DRFST(TSRGParameters, BaseEstimator):
    """DRFS-T re-generator: TSRG fitted with the domains swapped; see the module docstring.

    Parameters are TSRG's (:class:`cdmer.adaptation.tsrg.TSRG`).

    Attributes
    ----------
    tsrg_ : TSRG
        ``TSRG(**params).fit(Xt, Xs)``.
    P_ : ndarray (nt + ns, d)
    X_fit_ : ndarray (nt + ns, d)
        ``[Xt; Xs]``.
    n_iter_, converged_, objective_
    """

    def fit(self, Xs, Xt):
        """Learn ``P`` by TSRG on (target, source): re-generate target-like samples from the source."""
        validate_params(self)
        Xs, _, Xt = check_domains(Xs, None, Xt, "DRFS-T")
        self.tsrg_ = TSRG(**{k: v for k, v in self.get_params().items() if k in _TSRG_PARAMS}).fit(Xt, Xs)
        self.P_, self.X_fit_ = self.tsrg_.P_, self.tsrg_.X_fit_
        self.n_iter_, self.converged_, self.objective_ = (self.tsrg_.n_iter_, self.tsrg_.converged_,
                                                          self.tsrg_.objective_)
        self.n_features_in_ = Xs.shape[1]
        return self

    def transform(self, X):
        """Re-generate samples: ``k(X, [Xt; Xs]) P_`` (rows in, rows out); use on the source."""
        X = check_features(self, X, "P_", "DRFS-T")
        return self.tsrg_.transform(X)


class DRFSTClassifier(TSRGClassifierParameters, BaseEstimator):
    """DRFS-T + the paper's SVM: trained on the re-generated source, applied to the original target.

    ``fit(Xs, ys, Xt)`` learns :class:`DRFST` on (Xs, Xt) and the linear SVM
    (C) on ``(drfst_.transform(Xs), ys)``; ``predict(X)`` is ``svm_.predict(X)``
    (X: original target features).
    """

    def fit(self, Xs, ys, Xt):
        validate_params(self)
        Xs, ys, Xt = check_domains(Xs, ys, Xt, "DRFS-T")
        self.drfst_ = DRFST(**{k: v for k, v in self.get_params().items() if k in _TSRG_PARAMS}).fit(Xs, Xt)
        self.Zs_ = self.drfst_.transform(Xs)
        self.svm_ = make_svm(self.C).fit(self.Zs_, ys)
        self.classes_ = self.svm_.classes_
        self.n_features_in_ = Xs.shape[1]
        return self

    def _check(self, X):
        return check_features(self, X, "svm_", "DRFS-T")

    def predict(self, X):
        """SVM predictions on the original (target) features ``X``."""
        X = self._check(X)
        return self.svm_.predict(X)

    def decision_function(self, X):
        """SVM decision values (one-vs-one, scikit-learn's layout) on the original features ``X``."""
        X = self._check(X)
        return self.svm_.decision_function(X)


def drfst_path(Xs, ys, Xt, lam, mus, *, solver="exact", C=1.0, **params):
    """DRFS-T + SVM for one lambda and many mus; yield ``(mu, y_pred, decision, Zs, info)`` per mu.

    ``Zs`` is the re-generated source the SVM is trained on (the target keeps
    its features). The work is TSRG's path with the domains swapped:
    ``tsrg_path(Xt, Xs, lam, mus)`` returns, per mu, the swapped problem's
    re-generated "targets" ``Kt'^T P``, which ARE our re-generated source
    rows. ``"exact"``: ONE homotopy path per feature column serves all the mus
    (``time_s`` = the lambda's solve time / number of mus; P itself is never
    stored); ``"ialm"``: kernels and the eigendecomposition are shared, one
    ALM per mu. Each result equals ``DRFSTClassifier(lam, mu, solver=solver,
    C=C, **params).fit(Xs, ys, Xt)`` applied to ``Xt``.
    """
    mus = [float(m) for m in mus]
    for mu in mus:
        validate_params(DRFSTClassifier(lam=lam, mu=mu, solver=solver, C=C, **params))
    Xs, ys, Xt = check_domains(Xs, ys, Xt, "DRFS-T")
    Zs_all, infos = tsrg_path(Xt, Xs, lam, mus, solver=solver, **params)   # domains swapped
    for mu, Zs, info in zip(mus, Zs_all, infos):
        svm = make_svm(C).fit(Zs, ys)
        yield mu, svm.predict(Xt), svm.decision_function(Xt), Zs, dict(info)
