"""WAR, UAR, M-F1 and confusion matrices against independent computations written here."""

import numpy as np

from cdmer.evaluation.metrics import confusion, macro_f1, scores, uar, war


def _recall_mean(t, p):
    t, p = np.asarray(t), np.asarray(p)
    return np.mean([np.mean(p[t == c] == c) for c in np.unique(t)])


def _macro_f1(t, p):
    t, p = np.asarray(t), np.asarray(p)
    f1 = []
    for c in np.union1d(t, p):
        tp = np.sum((t == c) & (p == c))
        fp = np.sum((t != c) & (p == c))
        fn = np.sum((t == c) & (p != c))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return np.mean(f1)


def test_against_independent_computation_on_random_labels():
    rng = np.random.default_rng(0)
    classes = np.array(["negative", "positive", "surprise"])
    for _ in range(20):
        t = classes[rng.integers(0, 3, 50)]
        p = classes[rng.integers(0, 2, 50)]  # "surprise" never predicted: an F1 of 0 enters the mean
        assert war(t, p) == np.mean(t == p)
        assert np.isclose(uar(t, p), _recall_mean(t, p))
        assert np.isclose(macro_f1(t, p), _macro_f1(t, p))
        m, names = confusion(t, p, classes)
        expected = np.array([[np.sum((t == a) & (p == b)) for b in classes] for a in classes])
        np.testing.assert_array_equal(m, expected)
        assert names == classes.tolist()


def test_uar_is_the_mean_recall_over_classes_present_in_the_truth():
    t = ["a", "a", "b", "b"]
    p = ["a", "c", "b", "c"]  # "c" predicted but never true: no recall of its own
    assert uar(t, p) == 0.5
    assert war(t, p) == 0.5
    # F1: a = 2/3, b = 2/3, c = 0
    assert np.isclose(macro_f1(t, p), (2 / 3 + 2 / 3 + 0) / 3)


def test_hand_worked_values_under_imbalance():
    t = ["n"] * 8 + ["p"] * 2
    p = ["n"] * 10
    assert scores(t, p)["war"] == 0.8
    assert scores(t, p)["uar"] == 0.5
    # F1(n) = 2*8 / (2*8 + 2) = 16/18, F1(p) = 0
    assert np.isclose(scores(t, p)["mf1"], (16 / 18) / 2)


def test_confusion_keeps_labels_outside_the_given_classes():
    m, names = confusion(["a", "b"], ["a", "z"], ["a", "b"])
    assert names == ["a", "b", "z"] and m.sum() == 2 and m[1, 2] == 1


def test_equal_to_scikit_learn_to_the_bit():
    # the metrics are computed from one confusion matrix; scikit-learn's functions are the reference
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    import warnings

    rng = np.random.default_rng(1)
    classes = np.array(["negative", "positive", "surprise", "other"])
    for trial in range(200):
        n = int(rng.integers(1, 40))
        t = classes[rng.integers(0, 1 + trial % 4, n)]          # 1 to 4 true classes
        p = classes[rng.integers(0, 4, n)]                      # predicted classes absent from the truth too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {"war": accuracy_score(t, p), "uar": balanced_accuracy_score(t, p),
                        "mf1": f1_score(t, p, average="macro", zero_division=0)}
        got = scores(t, p)
        assert got == {k: float(v) for k, v in expected.items()}, (trial, got, expected)
        order = ["surprise", "negative"]
        m, names = confusion(t, p, order)
        np.testing.assert_array_equal(m, confusion_matrix(t, p, labels=names))
        assert names[:2] == order and sorted(names[2:]) == names[2:]
