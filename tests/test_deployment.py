"""Deployment: LBPTOPExtractor, the model bundle (safe format, refit, label-free selection), fit/predict."""

import csv
import json
import pickle
import shutil
import zipfile

import cv2
import numpy as np
import pytest
from sklearn.base import clone

from cdmer.cli.main import main
from cdmer.deployment import FORMAT_VERSION, Method, ModelBundle
from cdmer.errors import InputError
from cdmer.features.extractor import LBPTOPExtractor
from cdmer.io.featureset import MICRO_EXTRACTION, FeatureSet

CLASSES = ("negative", "positive", "surprise")
RECORD = {"method": "LBP-TOP", "radii": [3, 3, 3], "points": 8, "sampling": "round", "mapping": "u2",
          "grid": [1], "face": False, "size": [48, 48], "frames": 10, "interpolation": "tim"}


def _features(n=12, d=20, seed=0, labelled=True, shift=0.0, extraction=RECORD):
    rng = np.random.default_rng(seed)
    y = np.array(CLASSES * (n // 3))
    X = rng.random((n, d)) + shift
    X[:, :3] += 2.0 * (y[:, None] == np.array(CLASSES))      # separable classes
    return FeatureSet(X=X, labels=y if labelled else None, database="S" if labelled else "T",
                      extraction=extraction)


# ------------------------------------------------------------------ extractor
def test_extractor_is_a_scikit_learn_estimator_whose_params_are_the_record():
    ex = LBPTOPExtractor(points=8, face=True, size=(112, 112), frames=10)
    assert clone(ex).get_params() == ex.get_params()
    assert ex.record() == {"radii": (3, 3, 3), "points": (8, 8, 8), "sampling": "round", "mapping": "u2",
                           "grid": (1, 2, 4, 8), "face": True, "size": (112, 112), "margin": 0.1,
                           "on_no_face": "error", "frames": 10, "interpolation": "tim"}
    assert LBPTOPExtractor.from_record(ex.record()).record() == ex.record()
    assert ex.fit().n_features_out_ == 15045


def test_extractor_from_the_published_record_names_what_is_missing():
    with pytest.raises(InputError, match=r"do not record frames, margin; give --frames N, --margin M"):
        LBPTOPExtractor.from_record(MICRO_EXTRACTION)
    ex = LBPTOPExtractor.from_record(MICRO_EXTRACTION, frames=10, margin=0.2)
    assert ex.record()["size"] == (112, 112) and ex.face is True and ex.record()["points"] == (8, 8, 8)
    with pytest.raises(InputError, match=r"size \(recorded \(112, 112\), given \(64, 64\)\)"):
        LBPTOPExtractor.from_record(MICRO_EXTRACTION, frames=10, margin=0.2, size=(64, 64))
    with pytest.raises(InputError, match=r"face \(recorded True, given False\)"):
        LBPTOPExtractor.from_record(MICRO_EXTRACTION, frames=10, face=False)


# --------------------------------------------------------------- parameters
def test_param_values_are_typed_by_the_declared_constraints():
    """Issue 8 part 4: max_iter=5 and degree=2 are ints, lam=1 a float; errors name the parameter."""
    stm = Method("STM").parse_params(["max_iter=5", "lam=1"])
    assert stm == {"max_iter": 5, "lam": 1.0} and type(stm["max_iter"]) is int and type(stm["lam"]) is float
    tsrg = Method("TSRG").parse_params(["kernel=poly", "degree=2", "gamma=None"])
    assert tsrg == {"kernel": "poly", "degree": 2, "gamma": None} and type(tsrg["degree"]) is int
    with pytest.raises(InputError, match=r"TSRG.degree=2.5"):
        Method("TSRG").parse_params(["degree=2.5"])
    with pytest.raises(InputError, match=r"TSRG has no parameter 'lambda'"):
        Method("TSRG").parse_params(["lambda=1"])
    with pytest.raises(InputError, match=r"expected NAME=VALUE"):
        Method("TSRG").parse_params(["lam"])


def test_fit_cli_coerces_params(tmp_path, capsys):
    _features().save(tmp_path / "s.npz")
    _features(seed=1, labelled=False, shift=0.3).save(tmp_path / "t.npz")
    code = main(["fit", "--source", str(tmp_path / "s.npz"), "--target", str(tmp_path / "t.npz"), "-m", "STM",
                 "--param", "max_iter=5", "--param", "lam=1", "-o", str(tmp_path / "m.model"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "STM: lam=1.0, max_iter=5 (--param fixes every axis of the grid)" in captured.out
    model = ModelBundle.load(tmp_path / "m.model")
    assert model.params_ == {"max_iter": 5, "lam": 1.0}


# -------------------------------------------------------------- label-free
def test_fit_chooses_parameters_label_free_and_records_the_grid(tmp_path, capsys):
    from cdmer.da.registry import get_method
    from cdmer.evaluation.validators import DEFAULT_VALIDATOR

    _features(n=15).save(tmp_path / "s.npz")
    _features(n=9, seed=1, labelled=False, shift=0.3).save(tmp_path / "t.npz")
    code = main(["fit", "--source", str(tmp_path / "s.npz"), "--target", str(tmp_path / "t.npz"), "-m", "uLSIF",
                 "-o", str(tmp_path / "m.model"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    with np.load(tmp_path / "m.model", allow_pickle=False) as data:
        rec = json.loads(str(data["record"]))
    sel = rec["selection"]
    grid = [dict(p) for p in get_method("uLSIF").grid]
    assert sel["rule"] == "label-free" and sel["validator"] == DEFAULT_VALIDATOR
    assert sel["grid"] == grid and [p["params"] for p in sel["points"]] == grid
    scores = [p["score"] for p in sel["points"]]
    best = max(s for s in scores if s is not None)
    assert sel["params"] == grid[scores.index(best)] == rec["params"]      # first of the best, grid order
    shown = ", ".join(f"{k}={v}" for k, v in rec["params"].items())
    assert f"uLSIF: {shown} (chosen without target labels by validator {DEFAULT_VALIDATOR}" in out
    # a --param that fixes an axis keeps it fixed: every point searched has it
    code = main(["fit", "--source", str(tmp_path / "s.npz"), "--target", str(tmp_path / "t.npz"), "-m", "STM",
                 "--param", "C=2", "-o", str(tmp_path / "m2.model"), "--quiet"])
    assert code == 0
    with np.load(tmp_path / "m2.model", allow_pickle=False) as data:
        sel = json.loads(str(data["record"]))["selection"]
    assert sel["rule"] == "label-free" and all(p["params"]["C"] == 2.0 for p in sel["points"])


# ------------------------------------------------------------------ format
@pytest.fixture
def model_file(tmp_path):
    model = ModelBundle("SVM").fit(_features(), _features(seed=1, labelled=False))
    path = tmp_path / "m.model"
    model.save(path)
    return path


def test_model_round_trip_refits_the_same_predictions(model_file):
    target = _features(seed=1, labelled=False)
    fitted = ModelBundle("SVM").fit(_features(), target)
    loaded = ModelBundle.load(model_file)
    assert loaded.method_ == "SVM" and loaded.classes_.tolist() == list(CLASSES)
    np.testing.assert_array_equal(loaded.predict(target)[0], fitted.predict(target)[0])
    np.testing.assert_allclose(loaded.predict(target)[1], fitted.predict(target)[1])
    with zipfile.ZipFile(model_file) as z:                      # arrays + a JSON record, nothing else
        assert sorted(z.namelist()) == ["Xs.npy", "Xt.npy", "record.npy", "ys.npy", "yt_fit.npy"]
    with pytest.raises(InputError, match=r"frames: 10 vs 12"):
        loaded.predict(_features(extraction={**RECORD, "frames": 12}))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_model_file_cannot_run_code(tmp_path):
    """Issue 12 item 4: a crafted pickle (plain, joblib, or inside a .npz) is refused; the marker never appears."""
    import io

    import joblib

    marker = tmp_path / "MARKER"
    plain = tmp_path / "plain.model"
    plain.write_bytes(pickle.dumps({"format": "cdmer-model-1", "model": _Evil(marker)}))
    joblib.dump({"model": _Evil(marker)}, tmp_path / "joblib.model")
    inner = io.BytesIO()
    np.save(inner, np.array([_Evil(marker)], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "npz.model", "w") as z:
        for name in ("record", "Xs", "ys", "Xt", "yt_fit"):
            z.writestr(f"{name}.npy", inner.getvalue())
    for name in ("plain", "joblib", "npz"):
        with pytest.raises(InputError, match=r"not a (readable )?cdmer model file"):
            ModelBundle.load(tmp_path / f"{name}.model")
    assert not marker.exists()


def test_corrupt_and_foreign_model_files_are_one_clear_error(model_file, tmp_path):
    data = model_file.read_bytes()
    (tmp_path / "cut.model").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.model: not a .*cdmer model file"):
        ModelBundle.load(tmp_path / "cut.model")
    with np.load(model_file, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    rec = json.loads(str(arrays["record"]))

    def write(name, **changes):
        with open(tmp_path / name, "wb") as fh:
            np.savez(fh, **{**arrays, **changes})
        return tmp_path / name

    path = write("v.model", record=np.asarray(json.dumps({**rec, "format_version": FORMAT_VERSION + 1})))
    with pytest.raises(InputError, match="model format version"):
        ModelBundle.load(path)
    path = write("p.model", yt_fit=np.roll(arrays["yt_fit"], 1))       # the refit must reproduce them
    with pytest.raises(InputError, match=r"reproduces \d+ of 12 target predictions"):
        ModelBundle.load(path)


# ---------------------------------------------------------------- real data
@pytest.fixture
def published_source(real_features):
    return real_features / "CASME2_LBPTOP_R3P8_112x112.mat"


def test_fit_from_the_published_mat_features_then_predict(published_source, carphone_video, tmp_path, capsys):
    """Issue 12 items 1, 2, 5: a .mat source works; the target is extracted as the source was; missing
    settings are asked for; predict keeps one row per input."""
    clip = tmp_path / "latest.mp4"
    shutil.copy(carphone_video, clip)
    model = tmp_path / "cam.model"
    base = ["fit", "--source", str(published_source), "--target", str(clip), "-m", "SVM", "-o", str(model),
            "--quiet"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "give --frames N, --margin M" in err and len(err.strip().splitlines()) == 1 and not model.exists()
    assert main(base + ["--frames", "10", "--size", "64", "64"]) == 2
    assert "size (recorded (112, 112), given (64, 64))" in capsys.readouterr().err
    assert main(base + ["--frames", "10", "--margin", "0.1"]) == 0, capsys.readouterr().err
    loaded = ModelBundle.load(model)
    assert loaded.extractor_["size"] == [112, 112] and loaded.extractor_["face"] is True
    assert loaded.extractor_["frames"] == 10 and loaded.extractor_["points"] == [8, 8, 8]
    assert loaded.target_info_["samples"] == 1

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(clip), str(bad), "-o", str(out), "--quiet"]) == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["clip_id"] for r in rows] == ["latest", "broken"]
    assert rows[0]["status"] == "ok" and rows[0]["predicted"] in CLASSES
    assert rows[1]["predicted"] == "" and rows[1]["status"].startswith("failed: ")
    assert "not a readable video file" in rows[1]["status"]
    assert all(np.isfinite(float(rows[0][f"score_{c}"])) for c in CLASSES)


def _write_video(path, frames):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()


def test_the_cache_is_keyed_on_content_not_path(carphone_video, tmp_path):
    """Issue 12 item 3: another video at the same path gives another answer."""
    from cdmer.io.video import read_frames

    cap = cv2.VideoCapture(str(carphone_video))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    clip = tmp_path / "latest.mp4"
    ex = LBPTOPExtractor(face=True, size=(64, 64), frames=8)
    cache = tmp_path / "cache"
    _write_video(clip, frames[:60])
    first, _ = ex.extract([clip], cache_dir=cache)
    _write_video(clip, [cv2.flip(f, 1) for f in frames[60:]])   # another recording, same path
    second, _ = ex.extract([clip], cache_dir=cache)
    assert not np.array_equal(first.X, second.X)
    fresh, _ = ex.extract([clip])                              # no cache: what the file holds now
    np.testing.assert_array_equal(second.X, fresh.X)
    assert second.extraction["content_sha256"] != first.extraction["content_sha256"]
    assert read_frames(clip).shape[0] == 60


def test_help_and_jobs(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    shown = capsys.readouterr().out
    for option in ("--face", "--size", "--frames", "--on-no-face"):
        assert option not in shown
    assert "--cache DIR" in shown and "Exit status" in shown and "(default: None)" not in shown
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    shown = capsys.readouterr().out
    assert "OUT.cache" in shown and "--cache DIR" in shown and "(default: None)" not in shown
    assert main(["fit", "--source", "s.npz", "--target", "t.npz", "-o", "m.model", "-j", "0"]) == 2
    assert "'--jobs': must be a positive number or -1" in capsys.readouterr().err


@pytest.mark.slow  # starts worker processes
def test_label_free_selection_does_not_depend_on_jobs():
    from cdmer.deployment import select_params

    s, t = _features(n=15), _features(n=9, seed=1, labelled=False, shift=0.3)
    one = select_params(Method("uLSIF"), s.X, s.labels, t.X, {}, progress=False, jobs=1)
    two = select_params(Method("uLSIF"), s.X, s.labels, t.X, {}, progress=False, jobs=2)
    assert one == two and one[1]["rule"] == "label-free" and len(one[1]["points"]) == 16


def test_fit_with_a_failed_target_clip_is_exit_1_and_names_it(tmp_path, capsys):
    """A target clip that cannot be read is listed; the model is fitted on the others; exit status 1."""
    rng = np.random.default_rng(0)
    clips = []
    for i in range(3):
        d = tmp_path / f"clip{i}"
        d.mkdir()
        for j, frame in enumerate(rng.integers(0, 256, size=(6, 30, 36), dtype=np.uint8)):
            cv2.imwrite(str(d / f"{j + 1}.png"), frame)
        clips.append(d)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "1.png").write_bytes(b"junk")
    source = _features(d=59 * 3, extraction={**RECORD, "size": [32, 32], "frames": 8})
    source.save(tmp_path / "s.npz")
    code = main(["fit", "--source", str(tmp_path / "s.npz"), "--target", *map(str, clips), str(tmp_path / "bad"),
                 "-m", "SVM", "-o", str(tmp_path / "m.model"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "skipped clip bad:" in err and "1 of 4 target clips failed" in err, err
    assert ModelBundle.load(tmp_path / "m.model").target_info_["sample_ids"] == ["clip0", "clip1", "clip2"]
