"""`cdmer evaluate` as a user runs it: the real CLI in a subprocess where the behaviour is the CLI's.

Small synthetic feature sets and fast methods (SVM, STM, TSRG on a few
points); each subprocess pays the import of the package, so the cases are
grouped.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from cdmer.cli.main import main
from cdmer.io.featureset import FeatureSet


def _toy(seed, name, shift=0.0, n=30):
    rng = np.random.default_rng(seed)
    y = np.array(["negative", "positive", "surprise"] * (n // 3))
    centres = {"negative": 0.0, "positive": 1.5, "surprise": 3.0}
    X = np.abs(np.stack([rng.normal(centres[c] + shift, 1.0, 6) for c in y]))
    return FeatureSet(X=X, labels=y, database=name)


@pytest.fixture
def files(tmp_path):
    paths = {}
    for seed, name, shift in ((0, "CASME2", 0.0), (1, "SMIC_VIS", 0.6), (2, "SMIC_NIR", 1.0)):
        paths[name] = tmp_path / f"{name}.npz"
        _toy(seed, name, shift).save(paths[name])
    return paths


def cdmer(*argv):
    return subprocess.run([sys.executable, "-m", "cdmer.cli.main", *map(str, argv)], capture_output=True,
                          text=True, timeout=600)


def _one_line_error(proc, match):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("cdmer evaluate: error:") and match in lines[0], lines[0]


def _without_timing(data):
    points = []
    for p in data["points"]:
        p = dict(p, info={k: v for k, v in p["info"].items() if k != "time_s"})
        p.pop("finished")
        points.append(p)
    return points, data["selections"]


def test_param_axes_label_free_mf1_and_jobs_2_equals_jobs_1(files, tmp_path, capsys):
    # issue 12 item 14: replacing one axis keeps the others (KeyError 'mu' / 'lam' before)
    common = [files["CASME2"], files["SMIC_VIS"], "-e", "CASME2:SMIC_VIS", "-m", "SVM,STM,TSRG",
              "--param", "TSRG.lam=0.1,1", "--param", "TSRG.mu=0.01,0.1", "--param", "TSRG.gamma=1",
              "--param", "STM.lam=0.1,10", "--quiet", "--no-plots"]
    assert main(["evaluate", *map(str, common), "-o", str(tmp_path / "one"), "--jobs", "1"]) == 0
    shown = capsys.readouterr().out
    assert main(["evaluate", *map(str, common), "-o", str(tmp_path / "two"), "--jobs", "2"]) == 0
    data = json.loads((tmp_path / "one" / "results.json").read_text())
    tsrg = [p["params"] for p in data["points"] if p["method"] == "TSRG"]
    # the grid with two axes replaced and gamma added; the fixed point (1, 0.01) is one of them; the paper's
    # Exp.3 optimum (1, 0.07) comes last, with the new gamma axis too
    assert tsrg == [{"lam": lam, "mu": mu, "gamma": 1.0} for lam in (0.1, 1.0) for mu in (0.01, 0.1)] + [
        {"lam": 1.0, "mu": 0.07, "gamma": 1.0}]
    assert [p["params"] for p in data["points"] if p["method"] == "STM"] == [{"lam": 0.1}, {"lam": 10.0}, {"lam": 1.0},
                                                                          {"lam": 8.0}]
    for p in data["points"]:
        assert {"war", "uar", "mf1"} <= set(p) and p["validators"]
    assert set(data["selections"]) == {"oracle", "paper", "fixed", "label-free"}
    assert data["validator"] and data["config"]["command"].startswith("cdmer evaluate")
    assert data["config"]["parameters"]["TSRG"]["max_iter"] == 1000
    rows = (tmp_path / "one" / "tables.csv").read_text().splitlines()
    assert rows[0].startswith("rule,validator,") and any(r.startswith(f"label-free,{data['validator']},")
                                                        for r in rows)
    assert "M-F1" in shown and "label-free selection" in shown
    # determinism: the same results.json with 2 worker processes, timings aside
    other = json.loads((tmp_path / "two" / "results.json").read_text())
    assert _without_timing(other) == _without_timing(data)
    assert (tmp_path / "one" / "tables.md").read_text().split("\n", 3)[3] == \
        (tmp_path / "two" / "tables.md").read_text().split("\n", 3)[3]


def test_bad_input_is_one_line_and_exit_2_before_any_computing(files, tmp_path):
    _one_line_error(cdmer("evaluate", files["CASME2"], files["SMIC_VIS"], "--param", "TSRG.max_iter=1.5",
                          "-o", tmp_path / "o"), "TSRG.max_iter=1.5")
    proc = cdmer("evaluate", files["CASME2"], files["SMIC_VIS"], "-m", "SVM", "--scheduler", "tcp://127.0.0.1:9",
                 "-o", tmp_path / "o", "--quiet")
    _one_line_error(proc, "tcp://127.0.0.1:9")
    assert not (tmp_path / "o" / "results.json").exists()


@pytest.mark.parametrize("argv, match", [
    (["-m", "NOPE"], "unknown method 'NOPE'"),
    (["-e", "CASME2:ZZ"], "expected paper, type1, type2, all or SOURCE:TARGET"),
    (["--param", "TSRG.nope=1"], "TSRG has no parameter 'nope'"),
    (["--param", "TSRG.lam"], "expected METHOD.NAME=V1,V2"),
    (["--param", "TSRG.solver=fast"], "TSRG.solver=fast"),
    (["--validator", "nope"], "nope"),
    (["--jobs", "0"], "--jobs"),
    (["-o", "{afile}"], "exists and is not a folder"),
    (["-o", "{afile}/sub"], "is a file, not a folder"),
])
def test_bad_options_in_process(files, tmp_path, capsys, argv, match):
    (tmp_path / "afile").write_text("x")
    argv = [a.format(afile=tmp_path / "afile") for a in argv]
    code = main(["evaluate", str(files["CASME2"]), str(files["SMIC_VIS"]), "-o", str(tmp_path / "o"), *argv,
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert match in err, err


def test_named_sets_run_what_is_available_and_say_what_was_skipped(files, tmp_path, capsys):
    code = main(["evaluate", str(files["CASME2"]), str(files["SMIC_VIS"]), str(files["SMIC_NIR"]),
                 "-e", "type1", "-m", "SVM", "-o", str(tmp_path / "o"), "--quiet", "--no-plots"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped 4 experiment(s)" in captured.err and "SMIC_HS->SMIC_VIS" in captured.err
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert data["config"]["experiments"] == ["SMIC_VIS->SMIC_NIR", "SMIC_NIR->SMIC_VIS"]
    assert {p["benchmark_task"] for p in data["points"]} == {"VIS->NIR", "NIR->VIS"}
    code = main(["evaluate", str(files["SMIC_VIS"]), str(files["SMIC_NIR"]), "-e", "paper", "-m", "SVM",
                 "-o", str(tmp_path / "p"), "--quiet"])
    assert code == 2 and "none of the requested experiments" in capsys.readouterr().err


def test_a_tiny_target_is_warned_about(files, tmp_path, capsys):
    # issue 12 item 16: a 1-sample target gave WAR/UAR 100.00 without a word
    FeatureSet.load(files["SMIC_VIS"]).subset(np.array([0])).save(tmp_path / "tiny.npz")
    code = main(["evaluate", str(files["CASME2"]), str(tmp_path / "tiny.npz"), "-e", "CASME2:SMIC_VIS",
                 "-m", "SVM", "-o", str(tmp_path / "o"), "--quiet", "--no-plots"])
    captured = capsys.readouterr()
    assert code == 0
    assert "the target has 1 sample(s) for 3 classes" in captured.err


def test_a_method_failing_everywhere_shows_failed_with_its_reason(files, tmp_path):
    # SA's subspace cannot have more dimensions than samples: every point fails, for a reason of the method
    proc = cdmer("evaluate", files["CASME2"], files["SMIC_VIS"], "-e", "CASME2:SMIC_VIS", "-m", "SVM,SA",
                 "--param", "SA.n_components=500", "-o", tmp_path / "o", "--quiet", "--no-plots")
    assert proc.returncode == 0, proc.stderr
    assert "failed [1]" in proc.stdout and "[1] SA, CASME2->SMIC_VIS: " in proc.stdout
    tables = (tmp_path / "o" / "tables.md").read_text()
    assert "failed[^1]" in tables and "[^1]: SA, CASME2->SMIC_VIS: " in tables
    assert "SA,failed" not in tables
    rows = (tmp_path / "o" / "tables.csv").read_text().splitlines()
    assert any(",SA,failed," in r for r in rows)


def test_a_run_on_a_local_dask_cluster_equals_the_local_run(files, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    argv = [str(files["CASME2"]), str(files["SMIC_VIS"]), "-e", "CASME2:SMIC_VIS", "-m", "SVM,STM",
            "--param", "STM.lam=0.1,10", "--quiet", "--no-plots"]
    assert main(["evaluate", *argv, "-o", str(tmp_path / "local")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        assert main(["evaluate", *argv, "-o", str(tmp_path / "dask"), "--scheduler", c.scheduler_address]) == 0
    local = json.loads((tmp_path / "local" / "results.json").read_text())
    dask = json.loads((tmp_path / "dask" / "results.json").read_text())
    assert _without_timing(dask) == _without_timing(local)


def test_a_run_cut_mid_write_resumes_to_the_same_tables(files, tmp_path, capsys):
    # issue 12 item 9: a partial last line made every later run stop reading there and recompute the rest
    argv = [str(files["CASME2"]), str(files["SMIC_VIS"]), "-e", "CASME2:SMIC_VIS", "-m", "SVM,STM",
            "--param", "STM.lam=0.1,1,10", "--quiet", "--no-plots"]
    assert main(["evaluate", *argv, "-o", str(tmp_path / "whole")]) == 0
    store = tmp_path / "cut" / "results.jsonl"
    store.parent.mkdir()
    lines = (tmp_path / "whole" / "results.jsonl").read_text().splitlines()
    # two complete points, a point whose line a crash cut in the middle, and an invalid line before it
    store.write_text(lines[0] + "\n" + "not json\n" + lines[1] + "\n" + lines[2][: len(lines[2]) // 2])
    proc = cdmer("evaluate", *argv, "-o", tmp_path / "cut")
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any("line 2 is not a valid result record" in w for w in warned), proc.stderr
    assert any("truncated the file to its last complete line" in w for w in warned), proc.stderr
    assert all(w.startswith("cdmer: warning:") for w in warned) and "Traceback" not in proc.stderr
    done = [json.loads(line) for line in store.read_text().splitlines() if line.startswith("{")]
    assert len(done) == len(lines)  # the cut point was recomputed, the two complete ones were not
    for name in ("tables.md", "tables.csv"):
        whole = (tmp_path / "whole" / name).read_text().split("\n")
        cut = (tmp_path / "cut" / name).read_text().split("\n")
        assert [w for w in whole if "cdmer evaluate" not in w] == [c for c in cut if "cdmer evaluate" not in c]
