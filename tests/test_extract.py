"""Extraction of many clips, resuming, and the ``cdmer extract`` command."""

import os

import cv2
import numpy as np
import pytest

import cdmer.cli.main as cli_main
import cdmer.features.extract as extract_module
from cdmer.errors import InputError
from cdmer.features.extract import extract_features
from cdmer.features.lbptop import lbp_top
from cdmer.io.clips import Clip
from cdmer.io.featureset import FeatureSet
from cdmer.io.temporal import tim


def make_clip(folder, seed, n_frames=8, size=(24, 20)):
    """A frame folder of random grey PNGs; returns the volume written."""
    folder.mkdir(parents=True)
    vol = np.random.default_rng(seed).integers(0, 256, size=(n_frames, size[1], size[0]), dtype=np.uint8)
    for i, frame in enumerate(vol):
        assert cv2.imwrite(str(folder / f"frame{i + 1}.png"), frame)
    return vol


SMALL = dict(grid=(1, 2), progress=False)


def test_real_video_end_to_end(carphone_video, tmp_path):
    kwargs = dict(face={"size": (64, 80), "margin": 0.1}, frames=10, progress=False)
    fs, failures = extract_features([carphone_video], tmp_path / "a.npz", cache_dir=tmp_path / "c1", **kwargs)
    assert failures == []
    assert fs.X.shape == (1, 15045) and fs.sample_ids.tolist() == ["carphone"]
    np.testing.assert_allclose(fs.X.reshape(-1, 59).sum(axis=1), 1.0, atol=1e-12)
    ex = fs.extraction
    assert ex["frames_in"] == [120] and ex["frames_out"] == [10]
    assert ex["face_boxes"][0]["how"] == "face"
    assert (ex["face"], ex["size"], ex["margin"], ex["on_no_face"]) == (True, [64, 80], 0.1, "error")
    assert ex["frames"] == 10 and ex["interpolation"] == "tim" and ex["points"] == [8, 8, 8]
    assert ex["layout"]["n_features"] == 15045 and ex["versions"]["numpy"] == np.__version__
    # determinism: a second run from scratch gives the same bytes
    fs2, _ = extract_features([carphone_video], tmp_path / "b.npz", cache_dir=tmp_path / "c2", **kwargs)
    assert fs.X.tobytes() == fs2.X.tobytes()
    # the vector is lbp_top of the cropped, TIM-normalised, rounded clip
    from cdmer.io.face import crop_faces
    from cdmer.io.video import read_frames

    faces, _ = crop_faces(read_frames(carphone_video), (64, 80), margin=0.1)
    clip = np.clip(np.floor(tim(faces, 10) + 0.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(fs.X[0], lbp_top(clip))
    loaded = FeatureSet.load(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded.X, fs.X)
    assert loaded.extraction["frames_out"] == [10]


def test_folders_failures_and_labels(tmp_path):
    vols = {name: make_clip(tmp_path / name, seed) for seed, name in enumerate(["s1", "s2", "s3"])}
    (tmp_path / "empty").mkdir()
    clips = [Clip("sub01/s1", tmp_path / "s1", subject="sub01", label="positive", database="CASME2"),
             Clip("sub01/missing", tmp_path / "missing", subject="sub01", label="negative"),
             Clip("sub02/s2", tmp_path / "s2", subject="sub02", label="surprise", database="CASME2"),
             Clip("sub02/empty", tmp_path / "empty", subject="sub02", label="negative"),
             Clip("sub03/s3", tmp_path / "s3", subject="sub03", label="negative", database="CASME2")]
    fs, failures = extract_features(clips, n_jobs=2, cache_dir=tmp_path / "cache", **SMALL)
    assert fs.sample_ids.tolist() == ["sub01/s1", "sub02/s2", "sub03/s3"]
    assert fs.labels.tolist() == ["positive", "surprise", "negative"]
    assert fs.subjects.tolist() == ["sub01", "sub02", "sub03"] and fs.database == "CASME2"
    assert [f[0] for f in failures] == ["sub01/missing", "sub02/empty"]
    assert failures[0][1] == str(tmp_path / "missing") and "no such file or folder" in failures[0][2]
    assert "no frames in folder" in failures[1][2]
    for row, name in zip(fs.X, ["s1", "s2", "s3"]):
        np.testing.assert_array_equal(row, lbp_top(vols[name], grid=(1, 2)))
    assert fs.extraction["frames_in"] == [8, 8, 8] and fs.extraction["frames_out"] == [8, 8, 8]


def test_resume_computes_nothing(tmp_path, monkeypatch):
    for seed in range(3):
        make_clip(tmp_path / f"clip{seed}", seed)
    paths = [tmp_path / f"clip{seed}" for seed in range(3)]
    cache = tmp_path / "cache"
    fs1, failures = extract_features(paths, cache_dir=cache, frames=9, interpolation="linear", **SMALL)
    assert failures == []
    files = sorted(cache.iterdir())
    assert len(files) == 6                      # one .npy and one .json per clip
    mtimes = {f: f.stat().st_mtime_ns for f in files}

    def fail(*args, **kwargs):
        raise AssertionError("lbp_top called on a resumed run")

    monkeypatch.setattr(extract_module, "lbp_top", fail)
    fs2, failures = extract_features(paths, cache_dir=cache, frames=9, interpolation="linear", n_jobs=2,
                                    **SMALL)
    assert failures == []
    assert fs2.X.tobytes() == fs1.X.tobytes()
    assert fs2.extraction["frames_out"] == [9, 9, 9] and fs2.extraction["frames_in"] == [8, 8, 8]
    assert {f: f.stat().st_mtime_ns for f in sorted(cache.iterdir())} == mtimes
    # other parameters are other cache entries: computed again (and failing here)
    with pytest.raises(AssertionError, match="resumed run"):
        extract_features(paths, cache_dir=cache, frames=10, **SMALL)


def test_bad_parameters_raise_before_work(tmp_path):
    make_clip(tmp_path / "c", 0)
    with pytest.raises(InputError, match="frames must be an integer"):
        extract_features([tmp_path / "c"], frames=1, **SMALL)
    with pytest.raises(InputError, match="radii"):
        extract_features([tmp_path / "c"], radii=(1.5, 3, 3), **SMALL)
    with pytest.raises(InputError, match="unknown face options"):
        extract_features([tmp_path / "c"], face={"width": 3}, **SMALL)
    with pytest.raises(InputError, match="clip ids must be unique"):
        extract_features([Clip("x", tmp_path / "c"), Clip("x", tmp_path / "c")], **SMALL)


# ---------------------------------------------------------------------- CLI
@pytest.fixture
def cli(monkeypatch):
    # Only this sub-command: the others are not needed to test it.
    monkeypatch.setattr(cli_main, "COMMANDS", ("extract",))
    return cli_main.main


def test_cli_extracts_and_reports_failures(tmp_path, cli, capsys):
    make_clip(tmp_path / "a", 1)
    make_clip(tmp_path / "b", 2)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "1.png").write_bytes(b"garbage")
    out = tmp_path / "out" / "feats.npz"
    code = cli(["extract", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out), "--no-face",
                "--grid", "1", "2", "--quiet", "--jobs", "2"])
    assert code == 0 and out.is_file()
    fs = FeatureSet.load(out)
    assert fs.X.shape == (2, 5 * 177) and fs.sample_ids.tolist() == ["a", "b"]
    assert (tmp_path / "out" / "feats.cache").is_dir()

    code = cli(["extract", str(tmp_path / "a"), str(tmp_path / "bad"), "-o", str(out), "--no-face",
                "--grid", "1", "--quiet", "--size", "16", "16"])
    captured = capsys.readouterr()
    assert code == 1
    assert "1 of 2 clip(s) failed" in captured.err and "1.png: not a readable image" in captured.err
    assert FeatureSet.load(out).X.shape == (1, 177)


@pytest.mark.parametrize("argv, match", [
    (["--radii", "3", "3", "2.5"], "invalid int value"),
    (["--points", "8", "8"], "'--points': takes one number or three"),
    (["--grid", "0"], "grid must be a non-empty list of positive integers"),
    (["--frames", "1"], "frames must be an integer >= 2"),
])
def test_cli_bad_arguments(tmp_path, cli, capsys, argv, match):
    make_clip(tmp_path / "a", 1)
    args = ["extract", str(tmp_path / "a"), "-o", str(tmp_path / "o.npz"), "--no-face", "--quiet"]
    if match == "invalid int value":
        with pytest.raises(SystemExit) as exc:          # argparse's own error
            cli(args + argv)
        assert exc.value.code == 2
        assert match in capsys.readouterr().err
        return
    assert cli(args + argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("cdmer extract: error:")


def test_cli_missing_input_is_one_line(tmp_path, cli, capsys):
    assert cli(["extract", str(tmp_path / "nothere"), "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"cdmer extract: error: {tmp_path / 'nothere'}: field 'INPUT': no such file or folder"
    assert cli(["extract", "-o", str(tmp_path / "o.npz")]) == 2
    assert "nothing to extract" in capsys.readouterr().err


def test_cli_as_a_process(tmp_path):
    # the installed entry point behaves the same: one line, exit 2, no traceback
    import subprocess
    import sys

    code = ("import sys, cdmer.cli.main as m; m.COMMANDS = ('extract',); "
            "sys.exit(m.main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "extract", str(tmp_path / "x"), "-o",
                           str(tmp_path / "o.txt")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"cdmer extract: error: {tmp_path / 'o.txt'}: field "
                                                "'--output': the output must be a .npz file"]


def test_cli_database_root_without_loader(tmp_path, cli, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cdmer.io.databases", None)     # import fails
    assert cli(["extract", "--database-root", str(tmp_path), "-o", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err
    assert "needs cdmer.io.databases" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_cli_database_root_synthetic_casme2(tmp_path, cli, capsys):
    synthetic = pytest.importorskip("cdmer.io.synthetic")
    roots = synthetic.write_synthetic_databases(tmp_path / "db", seed=0, size="small")
    out = tmp_path / "casme2.npz"
    assert cli(["extract", "--database-root", str(roots["CASME2"]), "-o", str(out), "--frames", "10",
                "--jobs", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "no face detection" in err          # CASME II 'Cropped' frames are faces already
    fs = FeatureSet.load(out)
    assert fs.database == "CASME2" and fs.n_features == 15045
    assert set(fs.labels) <= {"negative", "positive", "surprise"} and fs.n_samples > 0
    assert fs.extraction["frames_out"] == [10] * fs.n_samples and fs.extraction["face"] is False


def test_extract_on_a_dask_cluster_equals_local_and_fills_the_cache(tmp_path, monkeypatch):
    """``--scheduler``: clips run as independent Dask tasks; the client writes the content-keyed cache."""
    distributed = pytest.importorskip("distributed")
    paths = [tmp_path / f"c{i}" for i in range(3)]
    for i, p in enumerate(paths):
        make_clip(p, i)
    (tmp_path / "empty").mkdir()
    local, _ = extract_features(paths, frames=9, **SMALL)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as client:
        remote, failures = extract_features(paths + [tmp_path / "empty"], cache_dir=tmp_path / "cache",
                                            frames=9, scheduler=client, **SMALL)
    assert [f[0] for f in failures] == ["empty"] and "no frames in folder" in failures[0][2]
    assert remote.X.tobytes() == local.X.tobytes() and remote.sample_ids.tolist() == ["c0", "c1", "c2"]
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3
    monkeypatch.setattr(extract_module, "lbp_top", None)        # the cache written by the client serves
    again, _ = extract_features(paths, cache_dir=tmp_path / "cache", frames=9, **SMALL)
    assert again.X.tobytes() == local.X.tobytes()


def test_cli_unreachable_scheduler_is_one_line(tmp_path, cli, capsys):
    pytest.importorskip("distributed")
    make_clip(tmp_path / "a", 1)
    code = cli(["extract", str(tmp_path / "a"), "-o", str(tmp_path / "o.npz"), "--no-face", "--quiet",
                "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "tcp://127.0.0.1:9" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.npz").exists()
