"""WAR, UAR and confusion matrices (paper section 4.1).

WAR (weighted average recall) is the plain accuracy; UAR (unweighted average
recall) is the mean of the per-class recalls, over the classes present in the
true labels (Schuller et al., ref. [33] of the paper).

The authors' MATLAB evaluation adds 0.001 to each class count before dividing
(to avoid a division by zero for an absent class); that biases UAR slightly
downwards and is not reproduced here: a class absent from the target simply
does not enter the mean.
"""

import numpy as np


def war(y_true, y_pred):
    """Weighted average recall: the fraction of correct predictions."""
    y_true, y_pred = _check(y_true, y_pred)
    return float(np.mean(y_true == y_pred))


def uar(y_true, y_pred):
    """Unweighted average recall: the mean recall over the classes in ``y_true``."""
    y_true, y_pred = _check(y_true, y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]
    return float(np.mean(recalls))


def confusion(y_true, y_pred, classes=None):
    """Confusion matrix: rows are true classes, columns predicted classes.

    Parameters
    ----------
    classes : sequence of str, optional
        Row and column order; default the sorted union of both label sets.

    Returns
    -------
    matrix : ndarray of int, shape (k, k)
    classes : list of str
    """
    y_true, y_pred = _check(y_true, y_pred)
    if classes is None:
        classes = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        m[index[t], index[p]] += 1
    return m, classes


def _check(y_true, y_pred):
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.shape[0]} true labels but {y_pred.shape[0]} predictions")
    if y_true.size == 0:
        raise ValueError("no samples to score")
    return y_true, y_pred
