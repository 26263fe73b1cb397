"""Fault injection: the real ``cdmer`` command in a subprocess, fed bad outputs, bad files and interruptions.

Each case asserts what a user sees: the exit status; for an error, ONE line
on stderr and no traceback; no output left half written; and, where a run
is interrupted, that resuming gives what an uninterrupted run gives.
(Issue 12; the evaluate command's own cases live in test_evaluate_cli.py.)
"""

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from cdmer.io.featureset import FeatureSet

CLASSES = ("negative", "positive", "surprise")


def cdmer(*args, umask=None, **kwargs):
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)            # cdmer itself must silence the decoder
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([sys.executable, "-m", "cdmer.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=env, preexec_fn=pre, timeout=300, **kwargs)


class _InProcess:
    """The result of ``cdmer.cli.main.main(argv)`` run in this process, shaped like a CompletedProcess
    (for cases whose behaviour is the same code path without process-level effects; each subprocess
    costs seconds of interpreter start-up)."""

    def __init__(self, argv, capsys):
        from cdmer.cli.main import main

        capsys.readouterr()
        self.returncode = main([str(a) for a in argv])
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err


def one_line_error(proc, *matches, code=2):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and lines[0].startswith("cdmer ")
    for match in matches:
        assert match in lines[0], lines[0]
    return lines[0]


def no_temporaries(folder):
    """The atomic writer leaves no ``.NAME.*.tmp`` file behind."""
    return not [p for p in folder.rglob(".*.tmp*")]


def make_clip(folder, seed, n_frames=8, size=(24, 20)):
    folder.mkdir(parents=True)
    vol = np.random.default_rng(seed).integers(0, 256, size=(n_frames, size[1], size[0]), dtype=np.uint8)
    for i, frame in enumerate(vol):
        assert cv2.imwrite(str(folder / f"frame{i + 1}.png"), frame)
    return folder


@pytest.fixture
def features(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array(CLASSES * 4)
    X = rng.random((12, 10))
    X[:, :3] += 2.0 * (y[:, None] == np.array(CLASSES))
    rec = {"method": "LBP-TOP", "radii": [3, 3, 3], "points": 8, "sampling": "round", "mapping": "u2",
           "grid": [1], "face": False, "size": None, "frames": None}
    FeatureSet(X=X, labels=y, database="S", extraction=rec).save(tmp_path / "s.npz")
    FeatureSet(X=rng.random((6, 10)), database="T", extraction=rec).save(tmp_path / "t.npz")
    return tmp_path / "s.npz", tmp_path / "t.npz"


# -------------------------------------------------------------- output paths (item 12)
def test_outputs_are_checked_before_computing(tmp_path, features, capsys):
    source, target = features

    def cdmer(*argv):
        return _InProcess(argv, capsys)

    clip = make_clip(tmp_path / "clip", 0)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    one_line_error(cdmer("extract", clip, "-o", tmp_path / "afile" / "out.npz", "--no-face", "--quiet"),
                   "afile is a file, so it cannot hold out.npz", "'--output'")
    one_line_error(cdmer("extract", clip, "-o", tmp_path / "o.npz", "--cache", tmp_path / "afile", "--quiet"),
                   "is a file; expected a folder", "'--cache'")
    one_line_error(cdmer("fit", "--source", source, "--target", target, "-o", tmp_path / "adir", "--quiet"),
                   "is a folder; expected a file name", "'--out'")
    one_line_error(cdmer("predict", tmp_path / "nomodel", target, "-o", tmp_path / "adir"),
                   "is a folder; expected a file name")
    assert not (tmp_path / "clip.cache").exists() and no_temporaries(tmp_path)


def test_a_read_only_output_folder_is_one_line_before_any_work(tmp_path):
    clip = make_clip(tmp_path / "clip", 0)
    if os.geteuid() == 0:  # root writes through permission bits: use a read-only file system
        readonly = "/sys"
    else:
        readonly = tmp_path / "ro"
        readonly.mkdir()
        readonly.chmod(0o555)
    one_line_error(cdmer("extract", clip, "-o", f"{readonly}/out.npz", "--no-face", "--quiet"),
                   f"cannot write in {readonly}")


def test_jobs_zero_is_exit_2_everywhere(features, tmp_path, capsys):
    source, target = features

    def cdmer(*argv):
        return _InProcess(argv, capsys)

    clip = make_clip(tmp_path / "clip", 0)
    one_line_error(cdmer("fit", "--source", source, "--target", target, "-o", tmp_path / "m", "-j", "0"),
                   "'--jobs': must be a positive number or -1")
    one_line_error(cdmer("extract", clip, "-o", tmp_path / "o.npz", "-j", "0"), "'--jobs'")
    assert not (tmp_path / "m").exists() and not (tmp_path / "o.npz").exists()


# ------------------------------------------------------------------- bad files
def test_truncated_v73_mat_and_string_features(tmp_path, features):
    """Items 13 and 17."""
    import h5py

    _, target = features
    mat = tmp_path / "cut.mat"
    with h5py.File(mat, "w", userblock_size=512) as f:
        f.create_dataset("A_micro_feature", data=np.random.default_rng(0).random((10, 400)))
        f.create_dataset("A_micro_label", data=np.ones((1, 400)))
    data = mat.read_bytes()
    mat.write_bytes(data[: len(data) * 2 // 3])
    one_line_error(cdmer("fit", "--source", mat, "--target", target, "-o", tmp_path / "m.model"),
                   "cut.mat", "truncated or damaged")
    np.savez(tmp_path / "str.npz", X=np.array([["a", "b"]]), metadata=np.asarray("{}"))
    one_line_error(cdmer("fit", "--source", tmp_path / "str.npz", "--target", target, "-o", tmp_path / "m.model"),
                   "str.npz: field 'X': expected real numbers")
    assert not (tmp_path / "m.model").exists()


def test_a_model_file_cannot_run_code_and_a_corrupt_one_is_one_line(tmp_path, features):
    """Item 4, through the command."""
    _, target = features
    marker = tmp_path / "MARKER"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.model").write_bytes(pickle.dumps({"format": "cdmer-model-1", "model": Evil()}))
    one_line_error(cdmer("predict", tmp_path / "evil.model", target, "-o", tmp_path / "p.csv"),
                   "not a cdmer model file")
    assert not marker.exists() and not (tmp_path / "p.csv").exists()
    (tmp_path / "zip.model").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    one_line_error(cdmer("predict", tmp_path / "zip.model", target, "-o", tmp_path / "p.csv"), "zip.model")


def test_extract_of_only_bad_clips_writes_nothing_and_silences_the_decoder(tmp_path):
    """Item 15: no 'moov atom not found' from FFmpeg, a line per clip, no feature file, exit 1."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    out = tmp_path / "out.npz"
    proc = cdmer("extract", bad, "-o", out, "--no-face", "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "moov atom" not in proc.stderr and "Traceback" not in proc.stderr
    assert "bad: " in proc.stderr and "not a readable video file" in proc.stderr
    assert "no feature file written" in proc.stderr
    assert not out.exists() and no_temporaries(tmp_path)


# ---------------------------------------------------------------- umask (item 19)
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), pytest.param(0o077, 0o600, marks=pytest.mark.slow)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    clip = make_clip(tmp_path / "clip", 0)
    out = tmp_path / "o.npz"
    proc = cdmer("extract", clip, "-o", out, "--no-face", "--grid", "1", "--quiet", umask=umask)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mode & 0o777 == mode
    assert all(p.stat().st_mode & 0o777 == mode for p in (tmp_path / "o.cache").iterdir())


# --------------------------------------------------------- coding sheets (item 18)
def test_two_coding_sheets_are_named_and_one_can_be_chosen(tmp_path, capsys):
    def cdmer(*argv):
        return _InProcess(argv, capsys)

    from cdmer.io.synthetic import write_synthetic_databases

    root = write_synthetic_databases(tmp_path / "db", seed=0, size="tiny")["CASME2"]
    sheet = next(root.glob("CASME2-coding-*.xlsx"))
    later = root / "CASME2-coding-zz-later.xlsx"
    shutil.copy(sheet, later)
    proc = cdmer("info", root)
    assert proc.returncode == 0, proc.stderr
    assert f"2 coding sheets in {root}: {sheet.name}, {later.name}; read {later.name}" in proc.stdout
    assert "--coding-sheet FILE" in proc.stdout
    proc = cdmer("info", root, "--coding-sheet", sheet.name)
    assert proc.returncode == 0 and f"coding sheet: {sheet}" in proc.stdout and "2 coding sheets" not in proc.stdout
    one_line_error(cdmer("info", root, "--coding-sheet", "nope.xlsx"), "no such coding sheet")


# ------------------------------------------------------------ interruption and resume
@pytest.mark.slow
def test_extract_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path):
    clips = [make_clip(tmp_path / "clips" / f"c{i}", i, n_frames=24, size=(300, 240)) for i in range(10)]
    out = tmp_path / "run" / "f.npz"
    args = [*clips, "-o", out, "--no-face", "--frames", "12", "--quiet"]
    env = {**os.environ}
    # SIGINT's default action restored in the child: a shell that starts the test suite in the
    # background (`... &`) leaves SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([sys.executable, "-m", "cdmer.cli.main", "extract", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cache = tmp_path / "run" / "f.cache"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if cache.is_dir() and len(list(cache.glob("*.json"))) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() and no_temporaries(tmp_path / "run")
    assert 2 <= len(list(cache.glob("*.npy"))) < len(clips)
    resumed = cdmer("extract", *args)
    assert resumed.returncode == 0, resumed.stderr
    fresh = cdmer("extract", *clips, "-o", tmp_path / "fresh" / "f.npz", "--no-face", "--frames", "12", "--quiet")
    assert fresh.returncode == 0
    a, b = FeatureSet.load(out), FeatureSet.load(tmp_path / "fresh" / "f.npz")
    assert a.X.tobytes() == b.X.tobytes() and a.sample_ids.tolist() == b.sample_ids.tolist()
    assert a.extraction["frames_out"] == b.extraction["frames_out"]


# ------------------------------------------------------- warnings are the CLI's own (issue 8)
def test_the_one_line_warning_format_does_not_outlive_the_command(tmp_path, capsys):
    import warnings

    from cdmer.cli.main import main

    before = (warnings.showwarning, warnings.formatwarning)
    clip = make_clip(tmp_path / "clip", 0)

    def warn_inside(*a, **k):
        warnings.warn("a method's warning\nwith two lines", UserWarning)
        raise SystemExit(0)

    import cdmer.cli.extract as extract_cli

    original = extract_cli.run
    extract_cli.run = warn_inside
    try:
        with pytest.raises(SystemExit):
            main(["extract", str(clip), "-o", str(tmp_path / "o.npz")])
    finally:
        extract_cli.run = original
    assert capsys.readouterr().err == "cdmer: warning: a method's warning with two lines\n"
    assert (warnings.showwarning, warnings.formatwarning) == before
    with warnings.catch_warnings(record=True):
        assert "cdmer: warning" not in warnings.formatwarning("x", UserWarning, "f.py", 1)
