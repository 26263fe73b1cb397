"""WAR, UAR and confusion matrices against scikit-learn's independent implementations."""

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, accuracy_score

from cdmer.evaluation.metrics import confusion, uar, war


def test_against_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    classes = np.array(["negative", "positive", "surprise"])
    for _ in range(20):
        t = classes[rng.integers(0, 3, 50)]
        p = classes[rng.integers(0, 3, 50)]
        assert war(t, p) == accuracy_score(t, p)
        assert np.isclose(uar(t, p), balanced_accuracy_score(t, p))
        m, names = confusion(t, p, classes)
        np.testing.assert_array_equal(m, confusion_matrix(t, p, labels=classes))
        assert names == classes.tolist()


def test_uar_ignores_classes_absent_from_truth():
    t = ["a", "a", "b", "b"]
    p = ["a", "c", "b", "c"]  # "c" predicted but never true
    assert uar(t, p) == 0.5
    assert war(t, p) == 0.5


def test_hand_worked_uar_differs_from_war_under_imbalance():
    t = ["n"] * 8 + ["p"] * 2
    p = ["n"] * 10
    assert war(t, p) == 0.8
    assert uar(t, p) == 0.5
