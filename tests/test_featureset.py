"""Feature sets: .npz round trip, MATLAB import (v5 and v7.3) and export, bad input."""

import h5py
import numpy as np
import pytest
from scipy.io import loadmat, savemat

from cdmer.errors import InputError
from cdmer.io.featureset import FeatureSet, load_features, read_mat_features

LABEL_MAP = {1: "negative", 2: "positive", 3: "surprise"}


def _set(n=6, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return FeatureSet(X=rng.random((n, d)), labels=np.array(["negative", "positive", "surprise"] * (n // 3)),
                      sample_ids=[f"c{i}" for i in range(n)], subjects=[f"s{i % 2}" for i in range(n)],
                      database="DB", extraction={"method": "LBP-TOP", "grid": [1, 2]})


def test_npz_round_trip_keeps_everything(tmp_path):
    fs = _set()
    fs.save(tmp_path / "f.npz", versions={"cdmer": "x"})
    back = FeatureSet.load(tmp_path / "f.npz")
    np.testing.assert_array_equal(back.X, fs.X)
    assert back.labels.tolist() == fs.labels.tolist()
    assert back.sample_ids.tolist() == fs.sample_ids.tolist()
    assert back.subjects.tolist() == fs.subjects.tolist()
    assert back.database == "DB" and back.extraction == fs.extraction
    assert back.metadata["versions"] == {"cdmer": "x"}


def test_unlabelled_round_trip(tmp_path):
    fs = FeatureSet(X=np.ones((3, 2)), database="CAM")
    fs.save(tmp_path / "u.npz")
    assert FeatureSet.load(tmp_path / "u.npz").labels is None


def test_v5_import_samples_as_rows_and_columns(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((7, 5))
    y = np.array([1, 2, 3, 1, 2, 3, 1], dtype=float)
    savemat(tmp_path / "rows.mat", {"feat": X, "lab": y.reshape(-1, 1)})
    savemat(tmp_path / "cols.mat", {"feat": X.T, "lab": y.reshape(1, -1)})
    for name in ("rows.mat", "cols.mat"):
        fs = read_mat_features(tmp_path / name, "feat", "lab", LABEL_MAP)
        np.testing.assert_array_equal(fs.X, X)
        assert fs.labels.tolist() == [LABEL_MAP[int(v)] for v in y]
        assert fs.metadata["mat_version"] == "5"


def test_v73_import_is_transposed(tmp_path):
    """MATLAB v7.3 files are HDF5 with arrays stored transposed."""
    rng = np.random.default_rng(2)
    X = rng.random((6, 9))  # samples as rows, as MATLAB holds the published files
    y = np.array([3, 2, 1, 1, 2, 3], dtype=float)
    path = tmp_path / "F.mat"
    with h5py.File(path, "w") as f:
        f["F_micro_feature"] = X.T  # what MATLAB writes for a 6 x 9 array
        f["F_micro_label"] = y.reshape(1, -1)  # 1 x 6 in HDF5 = 6 x 1 in MATLAB
    fs = load_features(path)
    np.testing.assert_array_equal(fs.X, X)
    assert fs.labels.tolist() == ["surprise", "positive", "negative", "negative", "positive", "surprise"]
    assert fs.database == "F" and fs.metadata["mat_version"] == "7.3"


def test_mat_export_reads_back(tmp_path):
    fs = _set()
    fs.to_mat(tmp_path / "out.mat")
    m = loadmat(tmp_path / "out.mat")
    np.testing.assert_array_equal(m["features"], fs.X)
    names = [str(np.squeeze(c)) for c in m["class_names"].ravel()]
    codes = m["labels"].ravel().astype(int)
    assert [names[c - 1] for c in codes] == fs.labels.tolist()
    back = read_mat_features(tmp_path / "out.mat", "features", "labels",
                             {i + 1: n for i, n in enumerate(names)})
    np.testing.assert_array_equal(back.X, fs.X)


@pytest.mark.parametrize("content, args, match", [
    ({"feat": np.ones((3, 2)), "lab": np.ones(3)}, ("missing", "lab"), r"field 'missing'.*no such variable"),
    ({"feat": np.ones((3, 2)), "lab": np.ones(3)}, ("feat", "nolab"), r"field 'nolab'"),
    ({"feat": np.ones((3, 2)), "lab": np.array([1, 2, 7])}, ("feat", "lab"), r"label 7 .*not in the label map"),
    ({"feat": np.ones((4, 5)), "lab": np.ones(3)}, ("feat", "lab"), r"does not match the 3 labels"),
])
def test_bad_mat_files_name_file_and_field(tmp_path, content, args, match):
    path = tmp_path / "bad.mat"
    savemat(path, content)
    with pytest.raises(InputError, match=match) as err:
        read_mat_features(path, *args, LABEL_MAP)
    assert str(path) in str(err.value)


def test_nan_and_label_count_are_refused():
    with pytest.raises(InputError, match="NaN or inf"):
        FeatureSet(X=np.array([[1.0, np.nan]]), source="x.npz")
    with pytest.raises(InputError, match="2 labels for 3 samples"):
        FeatureSet(X=np.ones((3, 2)), labels=["a", "b"])


def test_load_features_rejects_unknown_files(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InputError, match="unknown feature file type"):
        load_features(tmp_path / "f.txt")
    with pytest.raises(InputError, match="no such file"):
        load_features(tmp_path / "absent.npz")
    savemat(tmp_path / "plain.mat", {"a": np.ones((2, 2))})
    with pytest.raises(InputError, match="_micro_feature"):
        load_features(tmp_path / "plain.mat")
