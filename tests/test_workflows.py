"""End to end: `cdmer demo` on tiny synthetic databases, and `fit` -> `predict` on a real video.

The model file's own behaviour (format, refit, bad files) is tested in tests/test_deployment.py; here
only the user's path through the command line.
"""

import csv
import json

import cv2
import numpy as np
import pytest

from cdmer.cli.main import main
from cdmer.features.extract import extract_features
from cdmer.io.databases import load_database
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
            next(line for line in tables.splitlines() if line.startswith("| # |")))]
    data = json.loads((report / "results.json").read_text())
    assert data["config"]["synthetic"] is True and data["config"]["seed"] == 0
    assert {p["experiment"] for p in data["points"]} == {
        f"{s}->{t}" for s in ("CASME2", "SMIC_VIS", "SMIC_NIR") for t in ("CASME2", "SMIC_VIS", "SMIC_NIR") if s != t}
    assert list(report.glob("confusion_*_oracle.png")) and list(report.glob("confusion_*_label_free.png"))
    assert data["synthetic"] is True and data["validator"]
    rows = (report / "tables.csv").read_text().splitlines()
    assert rows[0].endswith(",synthetic") and all(r.endswith(",true") for r in rows[1:])
    assert "label-free selection" in shown and "M-F1" in shown
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
                 "--param", "lam=1", "--param", "mu=0.01",  # extracted as the source was (48 x 48, 10 frames)
                 "-o", str(model), "--quiet"])
    assert code == 0, capsys.readouterr().err
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), *map(str, clips), str(carphone_video), "-o", str(out), "--quiet"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["clip_id"] for r in rows] == ["clip1", "clip2", "clip3", "clip4", "carphone"]
    assert all(r["predicted"] in ("negative", "positive", "surprise") for r in rows)
    assert all(np.isfinite(float(r[f"score_{c}"])) for r in rows for c in ("negative", "positive", "surprise"))
