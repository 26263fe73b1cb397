"""cdmer's methods as skada estimators: Adapters and a DA classifier.

skada's convention: one ``X`` with a ``sample_domain`` per row (positive =
source, negative = target), target labels masked as ``-1``; Adapters are
chained with :func:`skada.make_da_pipeline`, whose final estimator sees the
adapted samples (and, for reweighting adapters, ``sample_weight``).

Every class here delegates the numerics to the array API of
:mod:`cdmer.adaptation` (one implementation underneath): the estimators
below split the rows by ``sample_domain`` and call it.

- :class:`TSRGAdapter`: learns TSRG's ``P`` (eq. (7)); target rows are
  re-generated, source rows pass through.
- :class:`KMMAdapter`, :class:`KLIEPAdapter`, :class:`ULSIFAdapter`: skada's
  reweight-adapter convention (:class:`skada.base.BaseReweightAdapter`): the
  source weights go to the final estimator's ``sample_weight`` (target rows
  get weight 0). Follow them with :class:`~cdmer.adaptation._weighted.PaperSVM`
  (with ``set_fit_request(sample_weight=True)``) to get exactly the array
  API's predictions.
- :class:`STMClassifier`: STM as a skada DA classifier.
- :class:`DRFSTAdapter`: DRFS-T; source rows are re-generated, target rows pass through.
- :class:`GFKAdapter`: the geodesic flow kernel's feature map, on every row.
- :class:`DRLSClassifier`, :class:`TGSRClassifier`: DRLS and TGSR as DA classifiers.
- :class:`CORALAdapter`: cdmer's CORAL (:class:`cdmer.adaptation.coral.CORAL`).
  It equals skada's ``CORALAdapter`` for a numeric ``reg`` (source rows
  whitened and re-coloured, target rows centred; rows at ``transform``
  treated as skada does) but never forms a d x d matrix: it works on
  low-rank factors of the shrunk covariances, so it runs at d = 15045 where
  skada's adapter forms and square-roots two 15045 x 15045 matrices.
- :class:`TKLClassifier`: TKL (transfer kernel learning, then an SVM on the
  learned kernel) as a DA classifier.

Importing this module imports skada, which switches scikit-learn's metadata
routing on for the whole process (see docs/ecosystem.md).
"""

from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import Interval
from skada.base import BaseAdapter, DAEstimator
from skada._reweight import BaseReweightAdapter
from skada.utils import check_X_domain, check_X_y_domain, extract_source_indices

from cdmer.adaptation._weighted import KMM_CONSTRAINTS
from cdmer.adaptation.base import _as_matrix, check_features, validate_params
from cdmer.adaptation.coral import CORAL
from cdmer.adaptation.drfst import DRFST
from cdmer.adaptation.drls import DRLS
from cdmer.adaptation.gfk import GFK
from cdmer.adaptation.kliep import KLIEP
from cdmer.adaptation.kmm import KMM
from cdmer.adaptation.stm import STM, STMParameters
from cdmer.adaptation.tgsr import TGSR, TGSRParameters
from cdmer.adaptation.tkl import TKLClassifier as _TKLArrayClassifier
from cdmer.adaptation.tkl import TKLParameters
from cdmer.adaptation.tsrg import TSRG, TSRGParameters
from cdmer.adaptation.ulsif import ULSIF
from cdmer.errors import InputError, NotFittedError

__all__ = ["TSRGAdapter", "KMMAdapter", "KLIEPAdapter", "ULSIFAdapter", "STMClassifier", "DRFSTAdapter", "GFKAdapter",
           "DRLSClassifier", "TGSRClassifier", "CORALAdapter", "TKLClassifier", "split_domains"]


def split_domains(X, y=None, sample_domain=None, *, method, allow_source=True):
    """Validate ``X`` and return ``(X, y, is_source)``: rows as float64 and the source mask.

    ``sample_domain`` as skada (>= 0 source, < 0 target); when it is None,
    it is read from ``y`` (target labels masked as -1) if ``y`` is given,
    else every row is a target row (skada's rule at prediction).
    """
    X = _as_matrix(X, "X", method)
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise InputError(f"{method}: y should be a 1d array with one label per row of X, got shape {y.shape}",
                             field="y")
        if y.dtype.kind not in "iu":
            if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise InputError(f"{method}: Unknown label type: the DA layer expects integer class labels with "
                                 "target rows masked as -1 (skada's convention), got "
                                 f"dtype {y.dtype}", field="y")
        if sample_domain is None and not np.any(y == -1):
            sample_domain = np.ones(X.shape[0], dtype=np.int32)  # nothing masked: every row is a source row
    try:
        if y is not None and sample_domain is None:
            X, y, sample_domain = check_X_y_domain(X, y, None)
        else:
            X, sample_domain = check_X_domain(X, sample_domain, allow_source=allow_source)
    except ValueError as exc:
        raise InputError(f"{method}: {exc}", field="sample_domain") from None
    return X, y, extract_source_indices(sample_domain)


def _source_target(X, y, sample_domain, method):
    X, y, source = split_domains(X, y, sample_domain, method=method)
    if not source.any() or source.all():
        raise InputError(f"{method}: needs source rows (sample_domain >= 0) and target rows (sample_domain < 0), "
                         f"got {int(source.sum())} source and {int((~source).sum())} target rows",
                         field="sample_domain")
    return X, y, source


class _ArrayAdapter(TransformerMixin, BaseAdapter):
    """A skada Adapter over an array-API transformer ``fit(Xs, Xt)``.

    Subclasses name the transformer (``_array_class``, built from the
    adapter's own parameters), the attribute that holds it once fitted
    (``_fitted``) and how rows are mapped (``_adapt(X, source)``, ``source``
    the boolean mask of source rows).
    """

    _array_class = None
    _fitted = None

    def fit(self, X, y=None, *, sample_domain=None):
        """Learn the transformer from the source and target rows of ``X``."""
        validate_params(self)
        X, _, source = _source_target(X, y, sample_domain, type(self).__name__)
        setattr(self, self._fitted, self._array_class(**self.get_params()).fit(X[source], X[~source]))
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X, y=None, *, sample_domain=None, **params):
        """Fit, then map the rows of ``X``."""
        self.fit(X, y, sample_domain=sample_domain)
        X, _, source = split_domains(X, y, sample_domain, method=type(self).__name__)
        return self._adapt(X, source)

    def transform(self, X, y=None, *, sample_domain=None, allow_source=False, **params):
        """Map the rows of ``X`` (rows without ``sample_domain`` are target rows, skada's rule)."""
        name = type(self).__name__
        if not hasattr(self, self._fitted):
            raise NotFittedError(f"This {name} instance is not fitted yet; call fit_transform first")
        X, _, source = split_domains(X, None, sample_domain, method=name, allow_source=allow_source)
        if X.shape[1] != self.n_features_in_:
            raise InputError(f"X has {X.shape[1]} features, but {name} is expecting {self.n_features_in_} "
                             "features as input", field="X")
        return self._adapt(X, source)


class TSRGAdapter(TSRGParameters, _ArrayAdapter):
    """TSRG (Zong et al., ACM MM 2017) as a skada Adapter.

    ``fit_transform(X, y, sample_domain=...)`` learns ``P`` of eq. (7) from
    the source rows (``sample_domain >= 0``) and the target rows (``< 0``)
    and returns ``X`` with the target rows re-generated and the source rows
    unchanged (the paper trains its SVM on the original source and applies
    it to re-generated targets). ``transform`` does the same to new rows
    (rows without ``sample_domain`` are target rows, skada's rule).

    Parameters are those of :class:`cdmer.adaptation.tsrg.TSRG`.

    Attributes
    ----------
    tsrg_ : cdmer.adaptation.tsrg.TSRG
        The fitted re-generator (array API).
    n_features_in_ : int
    """

    _array_class, _fitted = TSRG, "tsrg_"

    def _adapt(self, X, source):
        out = np.array(X, dtype=np.float64, copy=True)
        if (~source).any():
            out[~source] = self.tsrg_.transform(X[~source])
        return out


class _ReweightAdapter(TransformerMixin, BaseReweightAdapter):
    """skada reweight adapter over a cdmer array-API weighting (``_weighting`` builds it).

    ``fit`` learns the weights from the source and target rows;
    ``compute_weights`` returns one weight per row: the learned weight on the
    source rows seen in fit (the weights the SVM gets: :meth:`svm_weights
    <cdmer.adaptation._weighted.ImportanceWeightedSVM.svm_weights>`), the
    fitted importance on other source rows when the method has one, 0 on
    target rows.
    """

    def _weighting(self):
        raise NotImplementedError

    def fit_transform(self, X, y=None, *, sample_domain=None, **params):
        """Fit, then return ``(X, {"sample_weight": weights})``: skada's reweight-adapter output."""
        return BaseReweightAdapter.fit_transform(self, X, y, sample_domain=sample_domain, **params)

    def fit(self, X, y=None, *, sample_domain=None):
        """Learn the importance weights from the source and target rows of ``X``."""
        validate_params(self)
        name = type(self).__name__
        X, _, source = _source_target(X, y, sample_domain, name)
        self.weighting_ = self._weighting().fit_weights(X[source], X[~source])
        self.X_source_ = X[source]
        self.n_features_in_ = X.shape[1]
        return self

    def compute_weights(self, X, y=None, *, sample_domain=None, **params):
        """One weight per row of ``X``: the source weights, 0 on target rows."""
        name = type(self).__name__
        if not hasattr(self, "weighting_"):
            check_features(self, X, "weighting_", name)
        X, _, source = split_domains(X, y, sample_domain, method=name)
        weights = np.zeros(X.shape[0])
        Xs = X[source]
        if Xs.shape == self.X_source_.shape and np.array_equal(Xs, self.X_source_):
            weights[source] = self.weighting_.svm_weights()
        elif hasattr(self.weighting_, "importance"):
            w = self.weighting_.importance(Xs)
            scale = self.weighting_.svm_weights().mean() / max(self.weighting_.weights_.mean(), 1e-300)
            weights[source] = w * scale
        else:
            raise InputError(f"{name}: KMM weights exist only for the source rows it was fitted on",
                             field="X")
        return weights


class KMMAdapter(_ReweightAdapter):
    """KMM (Huang et al., NIPS 2006) as a skada reweight adapter.

    Parameters are the weighting's parameters of
    :class:`cdmer.adaptation.kmm.KMM` (``B``, ``eps``, ``kernel``,
    ``gamma``, ``solver_options``); the SVM's ``C`` belongs to the final
    estimator.
    """

    _parameter_constraints = {k: v for k, v in KMM_CONSTRAINTS.items() if k != "C"}

    def __init__(self, B=1000.0, eps=None, kernel="linear", gamma=None, solver_options=None):
        self.B = B
        self.eps = eps
        self.kernel = kernel
        self.gamma = gamma
        self.solver_options = solver_options

    def _weighting(self):
        return KMM(**self.get_params())


class KLIEPAdapter(_ReweightAdapter):
    """KLIEP (Sugiyama et al., NIPS 2007) as a skada reweight adapter.

    Parameters: ``sigma``, ``n_centers``, ``n_folds``, ``random_state`` of
    :class:`cdmer.adaptation.kliep.KLIEP`.
    """

    _parameter_constraints = {k: v for k, v in KLIEP._parameter_constraints.items() if k != "C"}

    def __init__(self, sigma=None, n_centers=100, n_folds=5, random_state=0):
        self.sigma = sigma
        self.n_centers = n_centers
        self.n_folds = n_folds
        self.random_state = random_state

    def _weighting(self):
        return KLIEP(**self.get_params())


class ULSIFAdapter(_ReweightAdapter):
    """uLSIF (Kanamori et al., JMLR 2009) as a skada reweight adapter.

    Parameters: ``lam``, ``sigma``, ``n_centers``, ``normalize``,
    ``random_state`` of :class:`cdmer.adaptation.ulsif.ULSIF` (with
    ``normalize=True`` the weights given to the estimator have mean 1 on the
    source, as in the array API).
    """

    _parameter_constraints = {k: v for k, v in ULSIF._parameter_constraints.items() if k != "C"}

    def __init__(self, lam="loo", sigma=None, n_centers=100, normalize=True, random_state=0):
        self.lam = lam
        self.sigma = sigma
        self.n_centers = n_centers
        self.normalize = normalize
        self.random_state = random_state

    def _weighting(self):
        return ULSIF(**self.get_params())


class STMClassifier(STMParameters, ClassifierMixin, DAEstimator):
    """STM (Chu et al., CVPR 2013) as a skada DA classifier.

    ``fit(X, y, sample_domain)`` fits :class:`cdmer.adaptation.stm.STM` on
    the source rows (labelled) and the target rows (labels ignored);
    ``predict`` / ``decision_function`` classify any rows. Parameters are
    those of :class:`~cdmer.adaptation.stm.STM`.

    Attributes
    ----------
    stm_ : cdmer.adaptation.stm.STM
    classes_, n_features_in_
    """

    def fit(self, X, y=None, sample_domain=None):
        """Fit STM on the labelled source rows and the unlabelled target rows of ``X``.

        STM learns its own source weights, so it takes no ``sample_weight``.
        """
        validate_params(self)
        if y is None:
            raise InputError("STMClassifier requires y to be passed, but the target y is None", field="y")
        X, y, source = _source_target(X, y, sample_domain, "STMClassifier")
        y = np.asarray(y)
        previous = getattr(self, "stm_", None) if self.warm_start else None
        stm = previous if previous is not None else STM()
        self.stm_ = stm.set_params(**self.get_params()).fit(X[source], y[source], X[~source])
        self.classes_ = self.stm_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, sample_domain=None, *, allow_source=True):
        """Labels: the argmax of :meth:`decision_function` (see the tie rule of LinearSVM)."""
        X = check_features(self, X, "stm_", "STMClassifier")
        return self.stm_.predict(X)

    def decision_function(self, X, sample_domain=None, *, allow_source=True):
        """STM's SVM decision values."""
        X = check_features(self, X, "stm_", "STMClassifier")
        return self.stm_.decision_function(X)


class DRFSTAdapter(TSRGParameters, _ArrayAdapter):
    """DRFS-T (Zong et al., IEEE TIP 2018) as a skada Adapter: the source is re-generated.

    ``fit_transform(X, y, sample_domain=...)`` learns DRFS-T (TSRG with the
    domains swapped, :class:`cdmer.adaptation.drfst.DRFST`) and returns ``X``
    with its SOURCE rows re-generated and its target rows unchanged, so the
    final estimator is trained on the re-generated source and predicts the
    original target features. ``transform`` passes target rows through and
    re-generates source rows (``allow_source=True``). Parameters are those of
    :class:`~cdmer.adaptation.drfst.DRFST`.
    """

    _array_class, _fitted = DRFST, "drfst_"

    def _adapt(self, X, source):
        out = np.array(X, dtype=np.float64, copy=True)
        if source.any():
            out[source] = self.drfst_.transform(X[source])
        return out


class GFKAdapter(_ArrayAdapter):
    """GFK (Gong et al., CVPR 2012) as a skada Adapter.

    ``fit`` learns the geodesic flow kernel between the PCA subspaces of the
    source and target rows (:class:`cdmer.adaptation.gfk.GFK`); every row,
    source or target, is mapped through a square root of ``G``, so a linear
    classifier on the output uses the kernel ``x^T G y`` (eq. (5) of the
    paper). Parameters: ``n_components`` (the subspace dimension).
    """

    _parameter_constraints = {"n_components": [Interval(Integral, 1, None, closed="left")]}

    _array_class, _fitted = GFK, "gfk_"

    def __init__(self, n_components=20):
        self.n_components = n_components

    def _adapt(self, X, source):
        return self.gfk_.transform(X)                       # every row, source or target


class CORALAdapter(_ArrayAdapter):
    """CORAL (Sun, Feng and Saenko, AAAI 2016) as a skada Adapter: cdmer's exact low-rank CORAL.

    For a numeric ``reg`` it computes what skada's ``CORALAdapter(reg,
    assume_centered)`` computes (:mod:`cdmer.adaptation.coral`), without
    forming a d x d matrix. ``fit_transform(X, y, sample_domain=...)`` learns
    the shrunk covariances of the source rows (``sample_domain >= 0``) and of
    the target rows (``< 0``) and returns ``X`` with the source rows
    whitened and re-coloured, ``(x - mean_s) Cs^(-1/2) Ct^(1/2)``, and the
    target rows centred, ``x - mean_t`` (as skada, rows stay in their
    order). ``transform`` does the same by ``sample_domain``: rows without it
    are target rows (skada's rule, e.g. at ``predict`` in a pipeline), and
    source rows are refused unless ``allow_source=True``.

    Parameters
    ----------
    reg : float in (0, 1]
        Shrinkage coefficient, ``C = (1 - reg) S + reg (trace(S) / d) I``
        (skada's / scikit-learn's meaning). skada's ``"auto"`` (Ledoit-Wolf)
        and ``None`` are refused at fit (:class:`~cdmer.errors.InputError`):
        see :class:`cdmer.adaptation.coral.CORAL`.
    assume_centered : bool
        As skada: covariances ``X^T X / n`` and no centring of the rows.

    Attributes
    ----------
    coral_ : cdmer.adaptation.coral.CORAL
        The fitted array-API transformer.
    n_features_in_ : int
    """

    _parameter_constraints: ClassVar[dict] = dict(CORAL._parameter_constraints)
    _array_class, _fitted = CORAL, "coral_"

    def __init__(self, reg=0.5, assume_centered=False):
        self.reg = reg
        self.assume_centered = assume_centered

    def _adapt(self, X, source):
        out = np.array(X, dtype=np.float64, copy=True)
        if source.any():
            out[source] = self.coral_.transform(X[source])
        if (~source).any():
            out[~source] = self.coral_.transform_target(X[~source])
        return out


class _ArrayDAClassifier(ClassifierMixin, DAEstimator):
    """A DA classifier over an array-API classifier ``fit(Xs, ys, Xt)``: subclasses name ``_array_class``.

    ``fit(X, y, sample_domain)`` fits it on the labelled source rows and the
    unlabelled target rows; ``predict`` / ``decision_function`` delegate to it.
    """

    _array_class = None

    def fit(self, X, y=None, sample_domain=None):
        """Fit on the labelled source rows and the unlabelled target rows of ``X``."""
        name = type(self).__name__
        validate_params(self)
        if y is None:
            raise InputError(f"{name} requires y to be passed, but the target y is None", field="y")
        X, y, source = _source_target(X, y, sample_domain, name)
        y = np.asarray(y)
        self.estimator_ = self._array_class(**self.get_params()).fit(X[source], y[source], X[~source])
        self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X, sample_domain=None, *, allow_source=True):
        """The fitted method's labels."""
        X = check_features(self, X, "estimator_", type(self).__name__)
        return self.estimator_.predict(X)

    def decision_function(self, X, sample_domain=None, *, allow_source=True):
        """The fitted method's decision values (one column per class)."""
        X = check_features(self, X, "estimator_", type(self).__name__)
        return self.estimator_.decision_function(X)


class DRLSClassifier(TSRGParameters, _ArrayDAClassifier):
    """DRLS (Zong et al., IEEE TIP 2018) as a skada DA classifier; parameters of :class:`cdmer.adaptation.drls.DRLS`."""

    _array_class = DRLS


class TGSRClassifier(TGSRParameters, _ArrayDAClassifier):
    """TGSR (Jiang et al., ICPR 2022) as a skada DA classifier; parameters of :class:`cdmer.adaptation.tgsr.TGSR`."""

    _array_class = TGSR


class TKLClassifier(TKLParameters, _ArrayDAClassifier):
    """TKL (Long et al., IEEE TKDE 2015) as a skada DA classifier; parameters of
    :class:`cdmer.adaptation.tkl.TKLClassifier` (the kernel's, then the SVM's ``C`` and ``break_ties``)."""

    _array_class = _TKLArrayClassifier
