"""Label-free validators: criteria of a grid point that use no target label.

A user who adapts to a new camera has no target labels, so a method's
trade-off parameters (TSRG's lambda and mu, uLSIF's and STM's lambda) must be
chosen from the source labels and the unlabelled target alone. Every validator
here scores one grid point from a :class:`PointView` (the source data and
labels, the target data, the point's target predictions and decision values,
the representations its final classifier sees, its source weights) and is
"greater is better" after its sign. The protocol calls :func:`score_point`
once per grid point and picks, per (experiment, method), the point with the
best score of one validator (:data:`DEFAULT_VALIDATOR` unless asked).
Measurements and the choice of the default are in ``docs/model-selection.md``.

Probabilities. The paper's classifier is a one-vs-one LIBSVM SVM, which has
decision values but no probabilities. The entropy-based criteria of the
literature (and skada's scorers) need class probabilities; here they are
``softmax(decision_t)`` row-wise (temperature 1) of the decision values in
the one-vs-rest shape scikit-learn's ``SVC.decision_function`` returns (vote
counts plus a confidence term in (-1/3, 1/3)); for two classes the single
decision value ``f`` gives logits ``(0, f)``. With these probabilities
:class:`PredictionEntropy` and :class:`SoftNeighborhoodDensity` compute
exactly what ``skada.metrics.PredictionEntropyScorer`` and
``skada.metrics.SoftNeighborhoodDensity`` compute from ``predict_proba``
(tested on an estimator that has ``predict_proba``).

Source-side validators (importance-weighted CV, DEV, source CV) score the
classifier trained on the source. For TSRG that classifier does not depend on
the grid point (the SVM is trained once on the original source; only the
target is re-generated), so they are constant over TSRG's grid and cannot
choose among its points; they discriminate for the reweighting methods
(uLSIF, KMM-like, STM), whose source weights change with the parameters.
They refit the SVM per fold and are marked ``cost = "refit"`` so that the
protocol can skip them unless asked; the cheap ones are ``cost = "cheap"``
(a few products of n x c matrices) or ``cost = "fit"`` (one SVM fit on the
target, ``n_t`` x ``n_t`` Gram).

skada is imported only inside the functions that need it (never at module
level): importing skada switches scikit-learn's metadata routing on for the
whole process.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from cdmer.errors import InputError
from cdmer.evaluation.metrics import uar
from cdmer.io.provenance import content_digest

__all__ = ["PointView", "Validator", "VALIDATORS", "DEFAULT_VALIDATOR", "CHEAP", "score_point",
           "select_point", "ensemble_predict", "decision_proba"]


@dataclass(frozen=True, eq=False)
class PointView:
    """What a validator may see of one grid point (no target label).

    Attributes
    ----------
    Xs, ys : the source features (ns x d) and labels.
    Xt : the target features (nt x d).
    yt_pred : the point's predictions on the target (labels in the caller's coding).
    decision_t : (nt x c) decision values on the target in ``classes`` order
        (scikit-learn's one-vs-rest shape; (nt,) for two classes), or None.
    Zs, Zt : the source / target representation the point's final classifier
        sees (TSRG: ``Zs = Xs`` and ``Zt`` = the re-generated target); None
        means the originals ``Xs`` / ``Xt``.
    source_weights : (ns,) the weights the point's classifier was trained with, or None (all ones).
    classes : the class labels in the order of ``decision_t``'s columns; None means ``unique(ys)``.
    cache : a dict shared by the views of one (source, target) pair, where
        point-independent quantities (importance weights) are memoised; None
        uses a small module-level memo keyed by a digest of ``Xs``, ``Xt``.
    """

    Xs: Any
    ys: Any
    Xt: Any
    yt_pred: Any
    decision_t: Any = None
    Zs: Any = None
    Zt: Any = None
    source_weights: Any = None
    classes: Any = None
    cache: Any = field(default=None, repr=False)
    #: what this point's validators share: the scores already computed (``("score", name)``: a validator
    #: that combines others reuses them) and intermediate results (the target probabilities of
    #: :func:`decision_proba`, used by three of them)
    memo: dict = field(default_factory=dict, repr=False)

    @property
    def zs(self):
        return np.asarray(self.Xs if self.Zs is None else self.Zs, dtype=np.float64)

    @property
    def zt(self):
        return np.asarray(self.Xt if self.Zt is None else self.Zt, dtype=np.float64)

    @property
    def class_list(self):
        return np.unique(np.asarray(self.ys)) if self.classes is None else np.asarray(self.classes)

    @classmethod
    def from_output(cls, output, Xs, ys, Xt, cache=None):
        """Build the view of a ``cdmer.da.registry.PointOutput`` (duck-typed: its attributes of the same names)."""
        return cls(Xs=Xs, ys=ys, Xt=Xt, yt_pred=output.y_pred, decision_t=output.decision,
                   Zs=output.Zs, Zt=output.Zt, source_weights=output.source_weights, classes=output.classes,
                   cache=cache)


def decision_proba(view, temperature=1.0):
    """Class probabilities of the target: row-wise ``softmax(decision_t / temperature)``.

    Two classes (``decision_t`` of shape (nt,)): logits ``(0, f)``, i.e. the
    sigmoid of ``f`` for ``classes[1]`` (scikit-learn's sign convention).
    Computed once per view and temperature (kept in ``view.memo``, read-only):
    prediction_entropy, snd and info_max all start from it.
    """
    key = ("decision_proba", float(temperature))
    if key not in view.memo:
        P = _decision_proba(view, temperature)
        P.setflags(write=False)
        view.memo[key] = P
    return view.memo[key]


def _decision_proba(view, temperature):
    if view.decision_t is None:
        raise InputError("this validator needs the point's decision values on the target; got None",
                         field="decision_t")
    D = np.asarray(view.decision_t, dtype=np.float64)
    if D.ndim == 1:
        D = np.column_stack([np.zeros_like(D), D])
    if D.shape[0] != np.asarray(view.yt_pred).shape[0]:
        raise InputError(f"{D.shape[0]} rows of decision values for {np.asarray(view.yt_pred).shape[0]} "
                         "target predictions", field="decision_t")
    if not np.all(np.isfinite(D)):
        raise InputError("decision values contain NaN or inf", field="decision_t")
    Z = D / temperature
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    return P / P.sum(axis=1, keepdims=True)


def _entropy_rows(P):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(P > 0, P * np.log(P), 0.0), axis=1)


class Validator:
    """A label-free criterion of a grid point; ``__call__(view) -> float``, greater is better.

    Attributes: ``name``, ``citation``, ``cost`` (``"cheap"``: from the
    predictions/decision values; ``"fit"``: one SVM fit on the target;
    ``"refit"``: several SVM refits on the source, skipped by default),
    ``min_target`` (the smallest target it accepts), ``point_dependent_source``
    (False when only the target side of a point enters the score).
    """

    name = ""
    citation = ""
    cost = "cheap"
    min_target = 1
    #: what the score reads beyond the source labels: "predictions" (yt_pred and the original
    #: features), "decisions" (decision_t), "representations" (Zs, Zt), "source" (refits on the source)
    needs = "decisions"

    def __call__(self, view):
        nt = np.asarray(view.yt_pred).shape[0]
        if nt < self.min_target:
            raise InputError(f"validator {self.name!r} needs at least {self.min_target} target samples, "
                             f"got {nt}", field="Xt")
        key = ("score", self.name)
        if key not in view.memo:
            view.memo[key] = float(self.score(view))
        return view.memo[key]

    def score(self, view):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"<validator {self.name} ({self.citation}), cost={self.cost}>"


class ClassBalance(Validator):
    """Entropy of the predicted class histogram, divided by ``log c`` (1 = every class predicted equally often).

    A point that sends the target into one or two classes is penalised. This
    is the "diversity" term of information maximisation (Krause, Perona and
    Gomes, NIPS 2010, eq. (3)'s ``H(p(y))`` with hard assignments). Needs
    only ``yt_pred``.
    """

    needs = "predictions"
    name = "class_balance"
    citation = "Krause, Perona and Gomes, NIPS 2010 (the H(y) term of information maximisation)"

    def score(self, view):
        classes = view.class_list
        y = np.asarray(view.yt_pred)
        # counts of each class by one np.unique (a comparison of the whole array per class cost more);
        # the same integers as sum(y == c), so the same score
        try:
            seen = dict(zip(*np.unique(y, return_counts=True))) if y.size else {}
            counts = np.array([seen.get(c, 0) for c in classes.tolist()], dtype=np.float64)
        except TypeError:  # labels that do not sort (mixed types): one comparison per class
            counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
        p = counts / counts.sum()
        return float(_entropy_rows(p[None, :])[0] / np.log(len(classes)))


class PredictionEntropy(Validator):
    """Minus the mean entropy of the target probabilities (confident predictions score high).

    Morerio, Cavazza and Murino, ICLR 2018; the same number as
    ``skada.metrics.PredictionEntropyScorer()`` (its default sign and
    ``reduction="mean"``, i.e. the mean over the n x c entries of ``-p log
    p``, and ``log(p + 1e-7)`` when the estimator has no
    ``predict_log_proba``), with ``p = softmax(decision_t)``.
    """

    name = "prediction_entropy"
    citation = "Morerio et al., ICLR 2018 (skada.metrics.PredictionEntropyScorer)"

    def score(self, view):
        P = decision_proba(view)
        return -float(np.mean(-P * np.log(P + 1e-7)))


class SoftNeighborhoodDensity(Validator):
    """Soft neighbourhood density (Saito et al., ICCV 2021), skada's implementation on ``softmax(decision_t)``.

    The probability vectors are L2-normalised; ``S = P P^T / T`` (T = 0.05),
    its diagonal negated (as skada does), row-wise softmax, and the score is
    the mean row entropy: high when target points have many close neighbours
    in the prediction space (dense, consistent clusters).
    """

    name = "snd"
    citation = "Saito et al., ICCV 2021 (skada.metrics.SoftNeighborhoodDensity, T = 0.05)"
    min_target = 2
    T = 0.05

    def score(self, view):
        P = decision_proba(view)
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
        S = P @ P.T / self.T
        np.fill_diagonal(S, -np.diag(S))
        S = S - S.max(axis=1, keepdims=True)
        S = np.exp(S)
        S /= S.sum(axis=1, keepdims=True)
        return float(np.mean(np.sum(-S * np.log(S), axis=1)))


class InformationMaximization(Validator):
    """Mutual information between target inputs and predicted classes: ``H(mean p) - mean H(p)``.

    Krause, Perona and Gomes, NIPS 2010 (regularised information
    maximisation, eq. (3)); the criterion of SHOT (Liang et al., ICML 2020):
    predictions that are confident on each sample and diverse over the
    target. ``p = softmax(decision_t)``; divided by ``log c``.
    """

    name = "info_max"
    citation = "Krause, Perona and Gomes, NIPS 2010; Liang et al., ICML 2020"

    def score(self, view):
        P = decision_proba(view)
        c = P.shape[1]
        return float((_entropy_rows(P.mean(axis=0)[None, :])[0] - _entropy_rows(P).mean()) / np.log(c))


class NegativeMMD(Validator):
    """Minus the linear-kernel MMD^2 between the representations: ``-||mean(Zs) - mean(Zt)||^2 / mean ||Zs||^2``.

    Gretton et al., JMLR 2012 (the biased MMD with the linear kernel), the
    quantity TSRG's lambda term penalises (eq. (7)); scaled by the mean squared
    source norm so that it is comparable across feature sets.
    """

    needs = "representations"
    name = "neg_mmd"
    citation = "Gretton et al., JMLR 2012 (linear-kernel MMD)"

    def score(self, view):
        if view.Zs is None and view.Zt is None and view.cache is not None and "neg_mmd_input" in view.cache:
            return view.cache["neg_mmd_input"]                  # the original features: the same at every point
        zs, zt = view.zs, view.zt
        gap = zs.mean(axis=0) - zt.mean(axis=0)
        value = -float(gap @ gap / np.mean(np.sum(zs * zs, axis=1)))
        if view.Zs is None and view.Zt is None and view.cache is not None:
            view.cache["neg_mmd_input"] = value
        return value


def _svm(C=1.0):
    # The paper's classifier (LIBSVM, linear, one-vs-one, C = 1) on the precomputed
    # linear kernel: the same problem as SVC(kernel="linear"), fast for d = 15045.
    return SVC(kernel="precomputed", C=C)


class ReverseValidation(Validator):
    """Reverse validation (Zhong et al., ECML PKDD 2010): train on the target's pseudo-labels, test on the source.

    The paper's SVM is trained on ``(Zt, yt_pred)`` and scored by UAR
    (balanced accuracy) on the labelled source ``(Zs, ys)``. A point whose
    target predictions are consistent with the source labels (and not
    collapsed) transfers back. Zhong et al. also re-run the adaptation in the
    reverse direction; for the re-generation methods the representations
    ``Zs, Zt`` already live in one space, so the reverse classifier is trained
    on them directly (one SVM fit on ``n_t`` samples per point). Fallback,
    documented: when the pseudo-labels hold one class only, no classifier can
    be trained and the score is that of a constant prediction, ``1 / c``.
    """

    needs = "representations"
    name = "reverse"
    citation = "Zhong et al., ECML PKDD 2010 (reverse validation)"
    cost = "fit"
    min_target = 2

    def score(self, view):
        y = np.asarray(view.yt_pred)
        classes = view.class_list
        if np.unique(y).size < 2:
            return 1.0 / len(classes)
        if view.Zs is None and view.Zt is None:            # the original features: reverse_input's score
            return _reverse_input(view, y)
        zs, zt = view.zs, view.zt
        svm = _svm().fit(zt @ zt.T, y)
        return uar(np.asarray(view.ys), svm.predict(zs @ zt.T))


class ReverseValidationInput(ReverseValidation):
    """Reverse validation on the ORIGINAL target features: the SVM on ``(Xt, yt_pred)``, UAR on ``(Xs, ys)``.

    The same criterion as :class:`ReverseValidation` (Zhong et al., ECML PKDD
    2010) with the reverse classifier trained in the input space, so only
    the point's pseudo-labels change from point to point: it asks whether
    the labelling a point gives the target is one a linear classifier can
    learn from the target and carry back to the source. Needs only
    ``yt_pred``.
    """

    needs = "predictions"
    name = "reverse_input"
    citation = "Zhong et al., ECML PKDD 2010 (reverse validation, reverse classifier on the input features)"

    def score(self, view):
        y = np.asarray(view.yt_pred)
        if np.unique(y).size < 2:
            return 1.0 / len(view.class_list)
        return _reverse_input(view, y)


def _reverse_input(view, y):
    """UAR on the source of the SVM trained on ``(Xt, y)``; memoised per labelling in ``view.cache`` (points
    that label the target alike, e.g. neighbours on a grid, share it)."""
    # the labelling's digest (not its bytes): the protocol keeps this memo across a pair's tasks
    key = ("reverse_input", content_digest(y))
    if view.cache is not None and key in view.cache:
        return view.cache[key]
    Ktt, Kst = _input_grams(view)
    svm = _svm().fit(Ktt, y)
    value = uar(np.asarray(view.ys), svm.predict(Kst))
    if view.cache is not None:
        view.cache[key] = value
    return value


def _input_grams(view):
    """``(Xt Xt^T, Xs Xt^T)``, memoised in ``view.cache`` (they do not depend on the point)."""
    if view.cache is not None and "input_grams" in view.cache:
        return view.cache["input_grams"]
    Xs = np.asarray(view.Xs, dtype=np.float64)
    Xt = np.asarray(view.Xt, dtype=np.float64)
    grams = (Xt @ Xt.T, Xs @ Xt.T)
    if view.cache is not None:
        view.cache["input_grams"] = grams
    return grams


class BalanceReverse(Validator):
    """``class_balance + reverse_input``: a balanced labelling of the target that carries back to the source.

    The unweighted sum of :class:`ClassBalance` (in [0, 1]) and
    :class:`ReverseValidationInput` (a UAR, in [0, 1]): each alone has a
    known failure (a balanced but wrong labelling; a labelling that copies
    the source SVM's), and a point must do well on both. Needs only the
    point's predictions (and the original features). The weight 1 is the
    a-priori one (two scores on one scale); its sensitivity and the
    leave-one-experiment-out evidence are in ``docs/model-selection.md``.
    """

    needs = "predictions"
    name = "balance_reverse"
    citation = ("sum of class_balance (Krause et al., NIPS 2010) and reverse validation "
                "(Zhong et al., ECML PKDD 2010)")
    cost = "fit"
    min_target = 2

    def score(self, view):
        return VALIDATORS["class_balance"](view) + VALIDATORS["reverse_input"](view)


# ---------------------------------------------------------------------------
# source-side validators (refit the point's classifier on source folds)

_IMPORTANCE_MEMO = {}


def importance_weights(view):
    """Density ratio ``p_t(x) / p_s(x)`` at the source samples, by the project's uLSIF (Kanamori et al., JMLR 2009).

    Computed on the ORIGINAL features ``Xs``, ``Xt`` (the covariate shift the
    source classifier suffers), with uLSIF's own leave-one-out choice of the
    width and regularisation; memoised per (Xs, Xt) because it does not
    depend on the grid point. Normalised to mean 1 over the source.
    """
    memo = view.cache if view.cache is not None else _IMPORTANCE_MEMO
    Xs, Xt = np.asarray(view.Xs, dtype=np.float64), np.asarray(view.Xt, dtype=np.float64)
    key = ("ulsif", content_digest(Xs, Xt)) if view.cache is None else "ulsif"
    if key not in memo:
        from cdmer.adaptation.ulsif import ULSIF

        est = ULSIF(lam="loo")
        est.fit_weights(Xs, Xt)
        w = np.clip(np.asarray(est.weights_, dtype=np.float64), 0.0, None)
        w = w / w.mean() if w.mean() > 0 else np.ones_like(w)
        if view.cache is None and len(memo) >= 4:
            memo.pop(next(iter(memo)))
        memo[key] = w
    return memo[key]


def _fold_losses(view, n_folds):
    """Out-of-fold zero-one losses of the point's classifier (weighted SVM on ``Zs``), stratified k-fold."""
    zs = view.zs
    ys = np.asarray(view.ys)
    sw = None if view.source_weights is None else np.asarray(view.source_weights, dtype=np.float64)
    K = zs @ zs.T
    losses = np.empty(len(ys))
    for train, test in StratifiedKFold(n_folds, shuffle=True, random_state=0).split(zs, ys):
        w = None if sw is None else sw[train]
        if w is not None and np.unique(ys[train][w > 0]).size < 2:
            losses[test] = (ys[test] != ys[train][np.argmax(w)]).astype(float)
            continue
        svm = _svm().fit(K[np.ix_(train, train)], ys[train], sample_weight=w)
        losses[test] = (svm.predict(K[np.ix_(test, train)]) != ys[test]).astype(float)
    return losses


class _SourceValidator(Validator):
    needs = "source"
    cost = "refit"
    n_folds = 5
    min_target = 5

    def _check_source(self, view):
        ys = np.asarray(view.ys)
        _, counts = np.unique(ys, return_counts=True)
        if counts.min() < self.n_folds:
            raise InputError(f"validator {self.name!r} needs at least {self.n_folds} source samples per class "
                             f"for its {self.n_folds}-fold split, got {counts.min()}", field="ys")


class SourceCV(_SourceValidator):
    """Source-only cross-validated UAR of the point's classifier (stratified 5-fold, the point's source weights).

    The label-free check a practitioner runs first. A leave-one-subject-out
    split needs subject identifiers, which a :class:`PointView` (and the
    published feature files) do not carry; stratified 5-fold is used
    instead. Constant over TSRG's grid.
    """

    name = "source_cv"
    citation = "source-only cross-validation (Stone, JRSS-B 1974)"

    def score(self, view):
        self._check_source(view)
        losses = _fold_losses(view, self.n_folds)
        ys = np.asarray(view.ys)
        return float(np.mean([1.0 - losses[ys == c].mean() for c in np.unique(ys)]))


class IWCV(_SourceValidator):
    """Importance-weighted cross-validation (Sugiyama, Krauledat and Mueller, JMLR 2007).

    Minus the out-of-fold zero-one loss of the point's classifier on the
    source, each source sample weighted by the density ratio ``w(x) = p_t(x)
    / p_s(x)`` (:func:`importance_weights`, the project's uLSIF): an unbiased
    estimate of the target risk under covariate shift (JMLR 2007, eq. (9)).
    uLSIF's leave-one-out needs a few target samples: ``min_target = 5``.
    """

    name = "iwcv"
    citation = "Sugiyama, Krauledat and Mueller, JMLR 2007 (weights: uLSIF, Kanamori et al., JMLR 2009)"

    def score(self, view):
        self._check_source(view)
        w = importance_weights(view)
        losses = _fold_losses(view, self.n_folds)
        return -float(np.mean(w * losses))


class DEV(_SourceValidator):
    """Deep embedded validation's control-variate risk (You et al., ICML 2019, eq. (5)-(6)), weights by uLSIF.

    With weighted losses ``L_i = w_i l_i`` (out-of-fold zero-one losses as in
    :class:`IWCV`), ``eta = -Cov(L, w) / Var(w)`` and the risk ``mean(L) +
    eta mean(w) - eta``: the control variate ``w`` (whose mean is 1) removes
    the part of the variance of IWCV explained by the weights. DEV's
    weights come from a domain classifier on deep features; here they are
    uLSIF's density ratio on the features (no network). Score = minus the
    risk. If ``Var(w) = 0`` the risk is IWCV's.
    """

    name = "dev"
    citation = "You et al., ICML 2019 (control variate); weights: uLSIF (Kanamori et al., JMLR 2009)"

    def score(self, view):
        self._check_source(view)
        w = importance_weights(view)
        L = w * _fold_losses(view, self.n_folds)
        var = np.var(w, ddof=1)
        eta = 0.0 if var <= 0 else -np.cov(L, w, ddof=1)[0, 1] / var
        return -float(L.mean() + eta * w.mean() - eta)


VALIDATORS = {v.name: v for v in (ClassBalance(), PredictionEntropy(), SoftNeighborhoodDensity(),
                                  InformationMaximization(), NegativeMMD(), ReverseValidation(),
                                  ReverseValidationInput(), BalanceReverse(), SourceCV(), IWCV(), DEV())}
#: The validators the protocol computes at every point by default (no source refits).
CHEAP = tuple(name for name, v in VALIDATORS.items() if v.cost != "refit")
#: The validator of the label-free rule. Chosen by leave-one-experiment-out on the six real
#: experiments (docs/model-selection.md): TSRG mean UAR 59.6 with it (oracle 62.1, SVM 54.6),
#: 57.9 when the rule itself is re-chosen on five experiments and reported on the sixth.
DEFAULT_VALIDATOR = "balance_reverse"


def get_validator(name):
    """The validator called ``name`` (case-insensitive); InputError naming the known ones."""
    for key, v in VALIDATORS.items():
        if key.lower() == str(name).lower():
            return v
    raise InputError(f"unknown validator {name!r} (expected one of {', '.join(VALIDATORS)})", field="validator")


def score_point(view, names=None):
    """Score one grid point with several validators.

    Parameters
    ----------
    view : PointView
    names : iterable of str, optional
        The validators to compute; default :data:`CHEAP` (all but the
        ``cost = "refit"`` ones). An unknown name raises InputError.

    Returns
    -------
    scores : dict name -> float or None (None when the validator failed here)
    errors : dict name -> str, the reason of each failure; a failing
        validator does not stop the others.
    """
    names = CHEAP if names is None else tuple(names)
    validators = [get_validator(n) for n in names]
    scores, errors = {}, {}
    for v in validators:
        try:
            s = v(view)
            if not np.isfinite(s):
                raise ValueError(f"non-finite score {s}")
            scores[v.name] = s
        except Exception as exc:  # recorded with its reason; the rest goes on
            scores[v.name] = None
            errors[v.name] = f"{type(exc).__name__}: {exc}"
    return scores, errors


def select_point(scores):
    """Index of the best score (greater is better; first of ties, i.e. grid order; None scores never win).

    Raises InputError when no point has a score.
    """
    best, index = None, None
    for i, s in enumerate(scores):
        if s is not None and np.isfinite(s) and (best is None or s > best):
            best, index = s, i
    if index is None:
        raise InputError("no grid point has a score for this validator", field="validators")
    return index


def ensemble_predict(y_preds, classes, scores=None, top_k=None):
    """Majority vote over a method's grid points (or its top-k by a validator): a prediction that avoids choosing.

    Parameters
    ----------
    y_preds : sequence of (nt,) target predictions, one per grid point (None for failed points, skipped).
    classes : the class labels; ties of the vote go to the earlier class in this order.
    scores : sequence of validator scores (same length), optional; with ``top_k`` the
        vote is over the ``top_k`` best-scored points (grid order breaks ties).
    top_k : int, optional; default all points.

    Returns
    -------
    (nt,) array of labels.
    """
    items = [(i, np.asarray(y)) for i, y in enumerate(y_preds) if y is not None]
    if not items:
        raise InputError("no grid point has predictions to vote", field="y_pred")
    if top_k is not None:
        if int(top_k) < 1:
            raise InputError(f"top_k must be >= 1, got {top_k}", field="top_k")
        if scores is None:
            raise InputError("top_k needs the validator scores of the points", field="scores")
        ranked = sorted((i for i, _ in items if scores[i] is not None), key=lambda i: (-scores[i], i))
        keep = set(ranked[:int(top_k)])
        items = [(i, y) for i, y in items if i in keep]
    classes = np.asarray(classes)
    votes = np.stack([(y[:, None] == classes[None, :]) for _, y in items]).sum(axis=0)
    return classes[np.argmax(votes, axis=1)]
