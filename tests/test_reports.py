"""Reports: tables (WAR, UAR, M-F1; four rules; the paper's and the benchmark's numbers), CSV, JSON, figures."""

import csv
import io
import json

import numpy as np

from cdmer.evaluation import benchmark, reports
from cdmer.evaluation.plots import grid_axes, plot_grid
from cdmer.evaluation.reports import csv_table, markdown_tables, write_report


def _rec(exp, method, params, war, uar, mf1=None, origin=("grid",), score=None, error=None):
    src, tgt = exp.split("->")
    from cdmer.evaluation.paper import experiment_number

    return {"experiment": exp, "paper_experiment": experiment_number(src, tgt), "source": src, "target": tgt,
            "method": method, "params": params, "war": war, "uar": uar, "mf1": uar if mf1 is None else mf1,
            "origin": list(origin), "classes": ["negative", "positive", "surprise"],
            "confusion": None if war is None else [[3, 1, 0], [0, 2, 1], [1, 0, 2]],
            "validators": {"v": score}, "validator_errors": {} if score is not None else {"v": "ValueError: x"},
            "info": {}, "error": error}


EXP = "CASME2->SMIC_NIR"  # the paper's Exp.5 and the benchmark's C->N


def _records():
    grid = [_rec(EXP, "TSRG", {"lam": lam, "mu": mu}, 0.4 + 0.01 * i, 0.5 + 0.01 * i, score=-i)
            for i, (lam, mu) in enumerate((lam, mu) for lam in (0.1, 1.0) for mu in (0.01, 0.1))]
    grid[1]["origin"] = ["grid", "fixed"]
    grid[3] = _rec(EXP, "TSRG", {"lam": 1.0, "mu": 0.1}, None, None, error="ALM diverged")
    return grid + [
        _rec(EXP, "TSRG", {"lam": 0.01, "mu": 0.003}, 0.45, 0.46, origin=("paper",), score=10.0),
        _rec(EXP, "SVM", {}, 0.4789, 0.5051, 0.49, origin=("grid", "fixed"), score=1.0),
        _rec(EXP, "DRLS", {}, None, None, origin=("grid", "fixed"), error="LinAlgError: singular"),
    ]


def test_tables_show_three_metrics_four_rules_and_both_references():
    text = markdown_tables(_records(), validator="v")
    for metric in ("WAR", "UAR", "M-F1"):
        for rule in ("oracle (chosen on the target labels)", "paper (chosen on the target labels)", "fixed",
                     "label-free (validator v)"):
            assert f"### {metric} (%), selection: {rule}\n" in text
    assert "| Exp.5 (paper Table 2) | | | 45.07 | 45.07 |  |" in text  # SVM, TSRG, (DRLS not in the paper)
    assert "| Exp.5 (paper Table 3) | | | 43.67 | 45.80 |  |" in text
    # the benchmark's C->N: accuracy beside WAR, M-F1 beside M-F1, DRLS's impossible 49.8 as published
    assert "| C->N (benchmark accuracy) | | | 52.1 | 56.3 | 49.8 |" in text
    assert "| C->N (benchmark M-F1) | | | 53.0 | 56.2 | 48.9 |" in text
    assert "Note: DRLS C->N accuracy 49.8 as published" in text
    # the label-free rule takes the best validator score among grid and fixed points (never the paper's point)
    assert "CASME2->SMIC_NIR TSRG: lam=0.1, mu=0.01 (score 0)" in text
    assert "| Exp.5 | CASME2 | SMIC_NIR | 47.89 | 42.00 | failed[^1] |" in text  # oracle WAR: SVM, TSRG, DRLS
    assert "[^1]: DRLS, CASME2->SMIC_NIR: LinAlgError: singular" in text


def test_csv_has_mf1_the_label_free_rule_and_the_synthetic_mark():
    rows = list(csv.DictReader(io.StringIO(csv_table(_records(), validator="v", synthetic=True))))
    assert set(reports.CSV_COLUMNS) == set(rows[0])
    free = [r for r in rows if r["rule"] == "label-free" and r["method"] == "TSRG"]
    assert len(free) == 1 and free[0]["validator"] == "v" and free[0]["mf1"] == "50.00"
    assert json.loads(free[0]["params"]) == {"lam": 0.1, "mu": 0.01}
    drls = [r for r in rows if r["method"] == "DRLS"]
    assert {r["status"] for r in drls} == {"failed"} and drls[0]["note"] == "LinAlgError: singular"
    assert {r["synthetic"] for r in rows} == {"true"}
    assert {r["benchmark_task"] for r in rows} == {"C->N"}
    assert {r["rule"] for r in rows} == {"oracle", "paper", "fixed", "label-free"}


def test_benchmark_numbers_as_published():
    assert benchmark.published("CASME2", "SMIC_VIS")["TSRG"] == {"mf1": 0.594, "accuracy": 59.2}
    assert benchmark.published("SMIC_NIR", "CASME2")["DRLS"]["accuracy"] == 42.4
    # the two DRLS values no count of correct targets can give (71 and 130 targets)
    assert all(round(100 * k / 71, 1) != 49.8 for k in range(72))
    assert all(round(100 * k / 130, 1) != 42.4 for k in range(131))
    assert benchmark.task_name("SMIC_HS", "SMIC_VIS") == "HS->VIS" and benchmark.task_name("A", "B") is None


def test_grid_map_marks_unevaluated_and_failed_points_and_the_choices(tmp_path):
    records = [r for r in _records() if r["method"] == "TSRG"]
    assert grid_axes(records) == ["lam", "mu"]
    assert grid_axes([r for r in _records() if r["method"] == "SVM"]) is None
    marks = {"oracle": records[2], "fixed": records[1], "label-free": records[0]}
    labels = plot_grid(records, tmp_path / "g.png", marks=marks, title="t", validator="v")
    assert labels == ["not evaluated", "failed", "oracle choice", "fixed choice", "label-free (v) choice"]
    assert (tmp_path / "g.png").stat().st_size > 5000
    # uLSIF's fixed lam="loo" cannot sit on the lambda axis: left off the map, said so in the legend
    loo = [_rec(EXP, "uLSIF", {"lam": v}, 0.5, 0.5, score=1.0) for v in (0.1, 1.0, "loo")]
    assert grid_axes(loo) == ["lam"]
    labels = plot_grid(loo, tmp_path / "u.png", marks={"fixed": loo[2]})
    assert "fixed choice (lam=loo, off the map)" in labels


def test_long_grid_map_keeps_a_bounded_height(tmp_path):
    # TGSR's grid has 271 lambdas: one row each used to give a figure 107 inches tall
    import matplotlib.image

    from cdmer.evaluation.plots import MAX_GRID_HEIGHT

    records = [_rec(EXP, "TGSR", {"lam": 0.001 * (i + 1), "n_selected": k}, 0.5, 0.4 + 0.001 * k)
               for i in range(271) for k in (1, 2, 3)]
    plot_grid(records, tmp_path / "long.png", marks={"oracle": records[5]})
    height = matplotlib.image.imread(tmp_path / "long.png").shape[0]
    assert 0 < height <= MAX_GRID_HEIGHT * 110 * 1.05          # saved at 110 dpi


def test_write_report_records_provenance_and_marks_synthetic_runs(tmp_path, monkeypatch):
    titles = []
    import cdmer.evaluation.plots as plots

    real = plots.plot_confusions
    monkeypatch.setattr(plots, "plot_confusions", lambda items, path, title="": titles.append(title)
                        or real(items, path, title=title))
    records = [r for r in _records() if r["method"] != "DRLS"]
    config = {"command": "cdmer demo", "synthetic": True, "seed": 7}
    write_report(records, tmp_path, config=config, validator="v")
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["synthetic"] is True and data["validator"] == "v" and data["config"]["command"] == "cdmer demo"
    assert data["seeds"]["data"] == 7 and data["versions"]["numpy"] == np.__version__
    assert data["method_defaults"]["SVM"] == {"C": 1.0}
    assert data["method_defaults"]["TSRG"]["lam"] == 1.0
    assert {s["method"] for s in data["selections"]["label-free"]} == {"SVM", "TSRG"}
    assert all("mf1" in s for rule in data["selections"].values() for s in rule)
    assert titles and all(t.endswith("[SYNTHETIC DATA]") for t in titles)
    assert (tmp_path / "grid_TSRG_CASME2_to_SMIC_NIR.png").is_file()
    assert "[SYNTHETIC DATA]" in (tmp_path / "tables.md").read_text()
    assert "true" in (tmp_path / "tables.csv").read_text()


def test_console_summary_names_the_reason_of_a_failed_method():
    from cdmer.cli.evaluate import summary

    text = summary(_records(), validator="v")
    assert "label-free selection (validator v)" in text
    assert "failed [1]" in text and "[1] DRLS, CASME2->SMIC_NIR: LinAlgError: singular" in text
    assert "47.89/50.51/49.00" in text


def test_seeds_are_collected_from_every_method_default():
    defaults = reports.method_defaults(["SVM", "KLIEP"])
    assert defaults["SVM"] == {"C": 1.0}
    assert reports.seeds(defaults) == {"KLIEP": {"random_state": 0}}
    assert reports.seeds({"SA": {"subspacealignmentadapter__random_state": 0, "x": 1}}) == {
        "SA": {"subspacealignmentadapter__random_state": 0}}


def test_results_json_is_streamed_with_the_bytes_of_json_dumps(tmp_path):
    from cdmer.io.atomic import json_default

    odd = {"points": _records() + [{"x": [1, "a", None, True], "nested": {"k": [[1, 2], [3]], "e": {}, "l": []}}],
           "floats": [0.1, 1e-300, float("nan"), float("inf"), -float("inf"), 2.0], "text": "é\u2028\"q\"",
           "keys": {3: "int", 2.5: "float", True: "bool", None: "null"}, "empty": [], "tuple": ("t", "u"),
           "numpy": [np.float64(0.25), np.int64(3), np.arange(3), np.float32(0.5), np.str_("s")], "last": {}}
    for obj in (odd, {}, [], [1, "a"], "s", {"points": []}):
        reports.write_json_streamed(tmp_path / "r.json", obj)
        assert (tmp_path / "r.json").read_text(encoding="utf-8") == json.dumps(obj, indent=2,
                                                                               default=json_default) + "\n"


def test_the_report_shares_one_index_and_its_parts_equal_those_built_alone():
    from cdmer.evaluation.protocol import RecordIndex, missing_reason, select

    records = _records()
    index = RecordIndex(records)
    for rule in ("oracle", "paper", "fixed", "label-free"):
        assert index.select(rule, validator="v") == select(records, rule, validator="v")
        assert index.select(rule, validator="v") is index.select(rule, validator="v")
        for m in ("TSRG", "SVM", "DRLS", "absent"):
            assert index.missing_reason(EXP, m, rule, "v") == missing_reason(records, EXP, m, rule, "v")
    assert markdown_tables(records, validator="v", index=index) == markdown_tables(records, validator="v")
    assert csv_table(records, validator="v", index=index) == csv_table(records, validator="v")
    assert reports.index_layout(index) == reports.table_layout(records)


def test_figures_drawn_by_two_processes_are_those_drawn_by_one(tmp_path):
    records = [r for r in _records() if r["method"] != "DRLS"]
    reports.write_figures(records, tmp_path / "one", validator="v")
    reports.write_figures(records, tmp_path / "two", validator="v", jobs=2)
    one = sorted(p.name for p in (tmp_path / "one").glob("*.png"))
    assert one and one == sorted(p.name for p in (tmp_path / "two").glob("*.png"))
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
