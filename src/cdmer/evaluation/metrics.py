"""WAR, UAR, M-F1 and confusion matrices, all from one confusion matrix.

- WAR (weighted average recall, paper section 4.1) is the plain accuracy
  (``sklearn.metrics.accuracy_score``).
- UAR (unweighted average recall, Schuller et al., ref. [33] of the paper) is
  the mean of the per-class recalls over the classes present in the true
  labels (``sklearn.metrics.balanced_accuracy_score`` without its
  ``adjusted`` chance correction). A class that is predicted but absent from
  the truth has no recall and does not enter the mean.
- M-F1 (macro F1), the metric of the cross-database benchmark (Zhang, Zong et
  al., IEEE TKDE 2022): ``sklearn.metrics.f1_score(average="macro",
  zero_division=0)``, over the classes that occur in the truth or in the
  predictions; a class predicted but never true has F1 = 0, which is what
  the benchmark's per-class mean does.

They are computed here from one confusion matrix (``np.bincount``), with the
per-class means taken in scikit-learn's (sorted) class order, and tested equal
to those scikit-learn functions (tests/test_metrics.py). Why not call them:
the protocol scores every grid point, and scikit-learn's input validation
costs about 10 ms per point for the three metrics and the confusion matrix
(measured, 71 targets) against well under a millisecond here; TGSR's grid
alone is 23,035 points per experiment.

The authors' MATLAB evaluation adds 0.001 to each class count before dividing
(to avoid a division by zero for an absent class); that biases UAR slightly
downwards and is not reproduced here.
"""

import numpy as np


def war(y_true, y_pred):
    """Weighted average recall: the fraction of correct predictions."""
    return scores(y_true, y_pred)["war"]


def uar(y_true, y_pred):
    """Unweighted average recall: the mean recall over the classes in ``y_true``."""
    return scores(y_true, y_pred)["uar"]


def macro_f1(y_true, y_pred):
    """Macro F1 over the classes in ``y_true`` or ``y_pred`` (F1 = 0 for a class never right)."""
    return scores(y_true, y_pred)["mf1"]


def scores(y_true, y_pred):
    """``{"war", "uar", "mf1"}`` of one prediction."""
    y_true, y_pred = _check(y_true, y_pred)
    m, _ = _matrix(y_true, y_pred, sorted(set(y_true.tolist()) | set(y_pred.tolist())))
    tp = np.diag(m).astype(np.float64)
    support = m.sum(axis=1)                      # true count per class
    predicted = m.sum(axis=0)
    present = support > 0
    recall = tp[present] / support[present]
    denom = (support + predicted).astype(np.float64)        # 2 tp + fn + fp
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"war": float(tp.sum() / y_true.size), "uar": float(np.mean(recall)), "mf1": float(np.mean(f1))}


def confusion(y_true, y_pred, classes=None):
    """Confusion matrix: rows are true classes, columns predicted classes.

    Parameters
    ----------
    classes : sequence of str, optional
        Row and column order; default the sorted union of both label sets.
        Labels outside ``classes`` are added at the end (sorted), so no
        prediction is dropped.

    Returns
    -------
    matrix : ndarray of int, shape (k, k)
    classes : list of str
    """
    y_true, y_pred = _check(y_true, y_pred)
    seen = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    classes = list(seen if classes is None else classes)
    classes += [c for c in seen if c not in classes]
    return _matrix(y_true, y_pred, classes)


def _matrix(y_true, y_pred, classes):
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    t = np.fromiter((index[v] for v in y_true.tolist()), dtype=np.int64, count=y_true.size)
    p = np.fromiter((index[v] for v in y_pred.tolist()), dtype=np.int64, count=y_pred.size)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k), classes


def _check(y_true, y_pred):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape[0]} true labels but {y_pred.shape[0]} predictions")
    if y_true.size == 0:
        raise ValueError("no samples to score")
    return y_true, y_pred
