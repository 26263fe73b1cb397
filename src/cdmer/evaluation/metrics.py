"""WAR, UAR, M-F1 and confusion matrices, from scikit-learn.

- WAR (weighted average recall, paper section 4.1) is the plain accuracy:
  ``sklearn.metrics.accuracy_score``.
- UAR (unweighted average recall, Schuller et al., ref. [33] of the paper) is
  the mean of the per-class recalls over the classes present in the true
  labels: ``sklearn.metrics.balanced_accuracy_score`` (without its
  ``adjusted`` chance correction). A class that is predicted but absent from
  the truth has no recall and does not enter the mean.
- M-F1 (macro F1), the metric of the cross-database benchmark (Zhang, Zong et
  al., IEEE TKDE 2022): ``sklearn.metrics.f1_score(average="macro")`` over the
  classes that occur in the truth or in the predictions; a class predicted
  but never true has F1 = 0 (``zero_division=0``), which is what the
  benchmark's per-class mean does.

The authors' MATLAB evaluation adds 0.001 to each class count before dividing
(to avoid a division by zero for an absent class); that biases UAR slightly
downwards and is not reproduced here.
"""

import warnings

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score


def war(y_true, y_pred):
    """Weighted average recall: the fraction of correct predictions."""
    y_true, y_pred = _check(y_true, y_pred)
    return float(accuracy_score(y_true, y_pred))


def uar(y_true, y_pred):
    """Unweighted average recall: the mean recall over the classes in ``y_true``."""
    y_true, y_pred = _check(y_true, y_pred)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected, see module doc
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_true, y_pred))


def macro_f1(y_true, y_pred):
    """Macro F1 over the classes in ``y_true`` or ``y_pred`` (F1 = 0 for a class never right)."""
    y_true, y_pred = _check(y_true, y_pred)
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def scores(y_true, y_pred):
    """``{"war", "uar", "mf1"}`` of one prediction."""
    return {"war": war(y_true, y_pred), "uar": uar(y_true, y_pred), "mf1": macro_f1(y_true, y_pred)}


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
    return confusion_matrix(y_true, y_pred, labels=classes), classes


def _check(y_true, y_pred):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape[0]} true labels but {y_pred.shape[0]} predictions")
    if y_true.size == 0:
        raise ValueError("no samples to score")
    return y_true, y_pred
