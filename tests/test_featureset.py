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


# ------------------------------------------------------ canonical extraction records
def test_extraction_records_compare_meanings_not_spellings():
    """Issue 12 item 1: the published record's points=8 means the same as [8, 8, 8]."""
    from cdmer.io.extraction import canonical_record, differences
    from cdmer.io.featureset import MICRO_EXTRACTION

    extracted = {"method": "LBP-TOP", "radii": [3, 3, 3], "points": [8, 8, 8], "sampling": "round",
                 "mapping": "u2", "grid": [1, 2, 4, 8], "face": {"size": [112, 112], "margin": 0.1,
                                                                  "on_no_face": "error"},
                 "resize": None, "frames": 10, "interpolation": "tim", "frames_in": [120]}
    assert differences(MICRO_EXTRACTION, extracted) == []
    c = canonical_record(MICRO_EXTRACTION)
    assert c["points"] == (8, 8, 8) and c["face"] is True and c["size"] == (112, 112)
    assert "frames" not in c and "margin" not in c           # not recorded: absent, never guessed
    assert differences({"points": 8}, {"points": (8, 8, 4)}) == ["points: [8, 8, 8] vs [8, 8, 4]"]
    assert differences({"face": None, "resize": [64, 64]}, {"face": False, "size": (64, 64)}) == []
    assert differences({"frames": None, "interpolation": "tim"}, {"frames": None}) == []
    assert differences({"frames": 10}, {"frames": 12.0}) == ["frames: 10 vs 12"]


def test_featureset_normalises_its_record_on_load(tmp_path):
    legacy = {"method": "LBP-TOP", "points": 8, "face": {"size": [48, 48], "margin": 0.2}, "frames": 9}
    fs = FeatureSet(X=np.ones((2, 3)), extraction=legacy)
    fs.save(tmp_path / "f.npz")
    back = FeatureSet.load(tmp_path / "f.npz")
    assert back.extraction["points"] == [8, 8, 8] and back.extraction["face"] is True
    assert back.extractor["size"] == (48, 48) and back.extractor["margin"] == 0.2
    other = FeatureSet(X=np.ones((2, 3)), extraction={**legacy, "frames": 10})
    with pytest.raises(InputError, match=r"frames: 9 vs 10"):
        back.check_compatible(other)


@pytest.mark.parametrize("X", [np.array([["a", "b"], ["c", "d"]]), np.array([[1 + 1j, 2]])])
def test_non_real_feature_arrays_are_input_errors(tmp_path, X):
    """Issue 12 item 17: a string feature array is an InputError naming the file and field."""
    np.savez(tmp_path / "s.npz", X=X, metadata=np.asarray('{"database": "S"}'))
    with pytest.raises(InputError, match=r"s\.npz: field 'X': expected real numbers"):
        FeatureSet.load(tmp_path / "s.npz")


def test_truncated_v73_mat_is_one_input_error(tmp_path):
    """Issue 12 item 13."""
    path = tmp_path / "f.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("A_micro_feature", data=np.random.default_rng(0).random((50, 400)))
        f.create_dataset("A_micro_label", data=np.ones((1, 400)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="truncated or damaged"):
        load_features(path)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    """Issue 12 item 19: mkstemp's 0600 is not the finished file's mode."""
    import os

    old = os.umask(umask)
    try:
        _set().save(tmp_path / "f.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "f.npz").stat().st_mode & 0o777 == 0o666 & ~umask
