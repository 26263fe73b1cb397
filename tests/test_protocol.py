"""The protocol: real-feature SVM reference numbers, resume, selection rules, CLI errors."""

import json

import numpy as np
import pytest

from cdmer.adaptation.base import SourceSVM
from cdmer.cli.main import main
from cdmer.errors import InputError
from cdmer.evaluation.protocol import Experiment, run_protocol, select
from cdmer.io.featureset import FeatureSet, load_features

FILES = {"CASME2": "CASME2_LBPTOP_R3P8_112x112.mat", "SMIC_VIS": "SMIC_VIS_LBPTOP_R3P8_112x112.mat",
         "SMIC_NIR": "SMIC_NIR_LBPTOP_R3P8_112x112.mat"}

# shared/data/real-features/README.md: linear SVM, C = 1, all source -> all target.
README_SVM = {("CASME2", "SMIC_VIS"): (52.11, 52.38), ("SMIC_VIS", "CASME2"): (53.08, 63.67),
              ("CASME2", "SMIC_NIR"): (47.89, 50.51), ("SMIC_NIR", "CASME2"): (23.85, 33.15)}


def test_real_feature_files_load_as_documented(real_features):
    counts = {"CASME2": (73, 32, 25), "SMIC_VIS": (23, 28, 20), "SMIC_NIR": (23, 28, 20)}
    for name, file in FILES.items():
        fs = load_features(real_features / file)
        assert fs.database == name and fs.n_features == 15045
        assert tuple(fs.class_counts().values()) == counts[name]
        np.testing.assert_allclose(fs.X[:, :59].sum(axis=1), 1.0)


def test_svm_reproduces_the_readme_numbers(real_features, tmp_path):
    sets = {n: load_features(real_features / f) for n, f in FILES.items()}
    exps = [Experiment(sets[s], sets[t]) for s, t in README_SVM]
    records = run_protocol(exps, ["SVM"], tmp_path, progress=False)
    got = {(r["source"], r["target"]): (round(100 * r["war"], 2), round(100 * r["uar"], 2)) for r in records}
    assert got == README_SVM


def _toy(seed, shift=0.0, n=30):
    rng = np.random.default_rng(seed)
    y = np.array(["negative", "positive", "surprise"] * (n // 3))
    centres = {"negative": 0.0, "positive": 2.0, "surprise": 4.0}
    X = np.stack([rng.normal(centres[c] + shift, 0.7, 5) for c in y])
    return FeatureSet(X=X, labels=y, database=f"D{seed}")


def test_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch):
    exps = [Experiment(_toy(0), _toy(1, 0.5)), Experiment(_toy(1, 0.5), _toy(0))]
    first = run_protocol(exps[:1], ["SVM"], tmp_path, progress=False)
    calls = []
    original = SourceSVM.fit
    monkeypatch.setattr(SourceSVM, "fit", lambda self, *a: calls.append(1) or original(self, *a))
    # a half-written last line, as an interruption leaves it
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write('{"experiment": "cut')
    second = run_protocol(exps, ["SVM"], tmp_path, progress=False)
    assert len(calls) == 1  # only the experiment not on disk
    assert second[0]["war"] == first[0]["war"]
    assert len(second) == 2


def test_changed_inputs_are_recomputed(tmp_path):
    run_protocol([Experiment(_toy(0), _toy(1))], ["SVM"], tmp_path, progress=False)
    changed = _toy(1)
    changed.X[0, 0] += 1.0
    records = run_protocol([Experiment(_toy(0), changed)], ["SVM"], tmp_path, progress=False)
    assert len(records) == 1
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2


def _rec(method, params, war, uar, exp=3):
    return {"experiment": "CASME2->SMIC_VIS", "paper_experiment": exp, "method": method, "params": params,
            "war": war, "uar": uar}


def test_selection_rules():
    records = [
        _rec("TSRG", {"lam": 1.0, "mu": 0.07}, 0.50, 0.40),   # the paper's Exp.3 optimum
        _rec("TSRG", {"lam": 1.0, "mu": 0.01}, 0.45, 0.45),   # the fixed setting
        _rec("TSRG", {"lam": 10.0, "mu": 0.01}, 0.60, 0.55),  # best on target labels
        _rec("TSRG", {"lam": 100.0, "mu": 0.01}, 0.70, 0.55),  # same UAR, better WAR
        _rec("SVM", {}, 0.3, 0.3),
    ]
    key = ("CASME2->SMIC_VIS", "TSRG")
    assert select(records, "oracle")[key]["params"] == {"lam": 100.0, "mu": 0.01}
    assert select(records, "oracle", oracle_metric="war")[key]["war"] == 0.70
    assert select(records, "paper")[key]["params"] == {"lam": 1.0, "mu": 0.07}
    assert select(records, "fixed")[key]["params"] == {"lam": 1.0, "mu": 0.01}
    assert select(records, "paper")[("CASME2->SMIC_VIS", "SVM")]["war"] == 0.3
    # an experiment that is not the paper's has no paper optimum for TSRG
    other = [dict(r, paper_experiment=None) for r in records]
    assert ("CASME2->SMIC_VIS", "TSRG") not in select(other, "paper")


def test_experiment_checks():
    a, b = _toy(0), _toy(1)
    with pytest.raises(InputError, match="5 features in the source .* but 3 in the target"):
        Experiment(a, FeatureSet(X=np.ones((3, 3)), labels=["negative"] * 3, database="X")).check()
    with pytest.raises(InputError, match="one class only"):
        Experiment(a.subset(a.labels == "negative"), b).check()
    with pytest.raises(InputError, match="no samples"):
        Experiment(a, b.subset(np.zeros(b.n_samples, bool))).check()


def test_evaluate_cli_writes_reports(tmp_path, capsys):
    _toy(0).save(tmp_path / "a.npz")
    _toy(1, 0.5).save(tmp_path / "b.npz")
    out = tmp_path / "res"
    code = main(["evaluate", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "-m", "SVM", "-o", str(out),
                 "--quiet"])
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    assert len(data["points"]) == 2 and data["versions"]["numpy"] == np.__version__
    assert data["method_defaults"]["SVM"] == {"C": 1.0}
    assert "| # | Source Database | Target Database | SVM |" in (out / "tables.md").read_text()
    assert (out / "confusion_D0_to_D1_oracle.png").stat().st_size > 1000
    assert "oracle selection" in capsys.readouterr().out


@pytest.mark.parametrize("argv, match", [
    (["evaluate", "{a}", "{b}", "-m", "NOPE"], "unknown method 'NOPE'"),
    (["evaluate", "{a}", "{b}", "-e", "D0:ZZ"], "expected SOURCE:TARGET"),
    (["evaluate", "{a}", "{c}"], "5 features in the source"),
    (["evaluate", "{a}", "{missing}"], "no such file"),
])
def test_evaluate_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, match):
    _toy(0).save(tmp_path / "a.npz")
    _toy(1).save(tmp_path / "b.npz")
    FeatureSet(X=np.ones((3, 4)), labels=["negative", "positive", "surprise"], database="C").save(tmp_path / "c.npz")
    paths = {k: str(tmp_path / f"{k}.npz") for k in ("a", "b", "c", "missing")}
    code = main([a.format(**paths) for a in argv] + ["-o", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("cdmer evaluate: error:") and match.split(" ")[0] in err


def test_evaluate_cli_names_the_file_with_nan(tmp_path, capsys):
    from scipy.io import savemat

    X = np.ones((3, 4))
    X[1, 2] = np.nan
    savemat(tmp_path / "BAD.mat", {"BAD_micro_feature": X, "BAD_micro_label": np.array([[1], [2], [3]])})
    _toy(0).save(tmp_path / "a.npz")
    code = main(["evaluate", str(tmp_path / "a.npz"), str(tmp_path / "BAD.mat"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "BAD.mat" in err and "field 'X'" in err and "NaN or inf" in err


def test_a_failing_grid_point_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    from cdmer.errors import CdmerError
    from cdmer.evaluation.reports import markdown_tables

    def fail(self, *args):
        raise CdmerError("SVM: the weighting left one class")

    monkeypatch.setattr(SourceSVM, "fit", fail)
    records = run_protocol([Experiment(_toy(0), _toy(1))], ["SVM"], tmp_path, progress=False)
    assert records[0]["war"] is None and "one class" in records[0]["info"]["error"]
    assert select(records, "oracle") == {}
    text = markdown_tables(records)
    assert "| failed |" in text and "Failed grid points (1)" in text
