"""End to end: `cdmer demo` on tiny synthetic databases, and `fit` -> `predict` on a real video."""

import csv
import json

import cv2
import numpy as np
import pytest

from cdmer.adaptation.model import AdaptedModel
from cdmer.cli.main import main
from cdmer.errors import InputError
from cdmer.features.extract import extract_features
from cdmer.io.databases import load_database
from cdmer.io.featureset import FeatureSet
from cdmer.io.synthetic import write_synthetic_databases
from cdmer.io.video import read_frames


@pytest.mark.slow
def test_demo_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--size", "tiny", "--grid", "quick", "--out", str(out), "--quiet", "--jobs", "1"]
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert "SYNTHETIC" in shown and str(out) in shown
    report = out / "report"
    tables = (report / "tables.md").read_text()
    assert "SYNTHETIC DATA" in tables
    for method in ("SVM", "KMM", "KLIEP", "uLSIF", "STM", "TSRG"):
        assert f" {method} |" in tables.splitlines()[tables.splitlines().index(
            next(l for l in tables.splitlines() if l.startswith("| # |")))]
    data = json.loads((report / "results.json").read_text())
    assert data["config"]["synthetic"] is True and data["config"]["seed"] == 0
    assert {p["experiment"] for p in data["points"]} == {
        f"{s}->{t}" for s in ("CASME2", "SMIC_VIS", "SMIC_NIR") for t in ("CASME2", "SMIC_VIS", "SMIC_NIR") if s != t}
    assert list(report.glob("confusion_*_oracle.png"))
    lines = (report / "results.jsonl").read_text().splitlines()
    # a second run reuses the data, the features and every grid point: nothing is appended
    assert main(argv) == 0
    assert (report / "results.jsonl").read_text().splitlines() == lines
    assert "reusing" not in capsys.readouterr().out  # --quiet hides the steps
    again = json.loads((report / "results.json").read_text())
    assert [p["war"] for p in again["points"]] == [p["war"] for p in data["points"]]


@pytest.fixture(scope="module")
def synthetic_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    paths = write_synthetic_databases(root, seed=3, size="tiny")
    _, clips, _ = load_database(paths["CASME2"])
    fs, failures = extract_features(clips, None, resize=(48, 48), frames=10, progress=False, database="CASME2")
    assert not failures
    path = root / "casme2.npz"
    fs.save(path)
    return path


def _split_video(video, folder, n_clips):
    """Cut the real video into frame-folder clips, as a new camera's recordings."""
    frames = read_frames(video)
    clips = []
    for i, chunk in enumerate(np.array_split(frames, n_clips)):
        d = folder / f"clip{i + 1}"
        d.mkdir(parents=True)
        for j, frame in enumerate(chunk):
            cv2.imwrite(str(d / f"img{j + 1}.png"), frame)
        clips.append(d)
    return clips


def test_fit_then_predict_on_the_real_video(tmp_path, synthetic_source, carphone_video, capsys):
    clips = _split_video(carphone_video, tmp_path / "camera", 4)
    model = tmp_path / "cam.model"
    code = main(["fit", "--source", str(synthetic_source), "--target", *map(str, clips), str(carphone_video),
                 "--face", "--on-no-face", "center", "--param", "lam=1", "--param", "mu=0.01",
                 "-o", str(model), "--quiet"])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), *map(str, clips), str(carphone_video), "-o", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["clip_id"] for r in rows] == ["clip1", "clip2", "clip3", "clip4", "carphone"]
    assert all(r["predicted"] in ("negative", "positive", "surprise") for r in rows)
    assert all(np.isfinite(float(r[f"score_{c}"])) for r in rows for c in ("negative", "positive", "surprise"))
    record = json.loads((tmp_path / "pred.csv.json").read_text())
    assert record["method"] == "TSRG" and record["versions"]["cdmer"] == record["model_versions"]["cdmer"]
    fitted = AdaptedModel.load(model)
    assert fitted.method_ == "TSRG" and fitted.params_ == {"lam": 1.0, "mu": 0.01}
    assert fitted.extraction_["frames"] == 10 and fitted.extraction_["face"]["size"] == [48, 48]


def _toy_features(frames=10, size=(48, 48), n=6, seed=0):
    rng = np.random.default_rng(seed)
    return FeatureSet(X=rng.random((n, 12)), labels=["negative", "positive", "surprise"] * (n // 3),
                      database="T", extraction={"method": "LBP-TOP", "radii": [3, 3, 3], "grid": [1],
                                                "resize": list(size), "frames": frames})


def test_model_refuses_other_versions_and_other_extractor_settings(tmp_path, monkeypatch):
    model = AdaptedModel("SVM").fit(_toy_features(), _toy_features(seed=1))
    with pytest.raises(InputError, match=r"frames: 10 vs 12"):
        model.predict(_toy_features(frames=12))
    with pytest.raises(InputError, match=r"frame_size: \[48, 48\] vs \[64, 64\]"):
        model.predict(_toy_features(size=(64, 64)))
    path = tmp_path / "m.model"
    model.save(path)
    import cdmer.adaptation.model as m

    real = m.versions
    monkeypatch.setattr(m, "versions", lambda: {**real(), "cdmer": "9.9.9"})
    with pytest.raises(InputError, match=r"written by cdmer .*, this is cdmer 9.9.9"):
        AdaptedModel.load(path)


def test_predict_cli_bad_model_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.model").write_bytes(b"not a model")
    assert main(["predict", str(tmp_path / "bad.model"), str(tmp_path), "-o", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not a cdmer model file" in err
