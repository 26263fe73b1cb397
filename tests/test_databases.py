"""Database loaders (CASME II, SMIC) on fixture trees built here in the real layouts, and ``cdmer info``."""

import json
from collections import Counter

import cv2
import numpy as np
import openpyxl
import pytest

from cdmer.errors import InputError
from cdmer.io.databases import list_frames, load_database, parse_action_units

HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion"]
BLANK = np.zeros((4, 4), np.uint8)


def write_sheet(path, rows, header=HEADER):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append(list(row))
    wb.save(path)


def write_frames(folder, numbers, pattern="img{}.jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        cv2.imwrite(str(folder / pattern.format(n)), BLANK)


def casme2_tree(root, rows, folders, variant="CASME2_RAW_selected", pattern="img{}.jpg"):
    """rows: sheet rows; folders: {(subject number, filename): frame numbers}."""
    root.mkdir(parents=True, exist_ok=True)
    write_sheet(root / "CASME2-coding-20140508.xlsx", rows)
    for (s, name), numbers in folders.items():
        write_frames(root / variant / f"sub{s:02d}" / name, numbers, pattern)
    return root


def clip_warnings(report):
    """Per-clip warnings (without the empty-class notes of small fixtures)."""
    return [w for w in report.warnings if "after mapping to three classes" not in w]


def numbers_of(clip):
    return [int("".join(ch for ch in p.stem if ch.isdigit())) for p in clip.frames]


# ------------------------------------------------------------------ frames
def test_list_frames_natural_order_and_only_images(tmp_path):
    write_frames(tmp_path, [100, 9, 10, 1])
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    (tmp_path / ".hidden.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_frames(tmp_path)] == ["img1.jpg", "img9.jpg", "img10.jpg", "img100.jpg"]


# ------------------------------------------------------------------ CASME II
def test_casme2_window_labels_and_fields(tmp_path):
    root = casme2_tree(tmp_path / "c", [
        (1, "EP02_01f", 46, 59, 86, "12", "happiness"),
        (2, "EP03_02", 3, 5, 9, "4+L10", "disgust"),
        (2, "EP05_01", 1, 2, 3, "14", "repression"),
        (3, "EP01_01", 10, 12, 14, "1+2", "surprise"),
        (3, "EP02_04", 1, 2, 3, "R12", "others"),
    ], {(1, "EP02_01f"): range(40, 101), (2, "EP03_02"): range(1, 12), (2, "EP05_01"): range(1, 4),
        (3, "EP01_01"): range(8, 17), (3, "EP02_04"): range(1, 4)})
    kind, clips, report = load_database(root)
    assert kind == "CASME2" and report.kind == "CASME2"
    by_id = {c.clip_id: c for c in clips}
    assert set(by_id) == {"sub01/EP02_01f", "sub02/EP03_02", "sub02/EP05_01", "sub03/EP01_01"}
    c = by_id["sub01/EP02_01f"]
    assert numbers_of(c) == list(range(46, 87))  # window onset..offset, natural order (img100 after img99)
    assert (c.subject, c.emotion, c.label, c.onset, c.apex, c.offset, c.database) == (
        "sub01", "happiness", "positive", 46, 59, 86, "CASME2")
    assert c.path == root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    assert by_id["sub02/EP03_02"].label == "negative" and by_id["sub02/EP05_01"].label == "negative"
    assert by_id["sub02/EP03_02"].info["action_units"] == ["4", "L10"]
    assert by_id["sub02/EP03_02"].info["action_units_raw"] == "4+L10"
    assert by_id["sub03/EP01_01"].label == "surprise"
    assert report.per_label == {"negative": 2, "positive": 1, "surprise": 1}
    assert report.per_subject["sub02"] == {"negative": 2, "positive": 0, "surprise": 0}
    assert report.dropped == {"others": 1}
    assert report.warnings == []  # every class present
    assert report.synthetic is False


def test_casme2_cropped_folder_is_preferred(tmp_path):
    root = casme2_tree(tmp_path / "c", [(1, "EP01", 2, 3, 4, "12", "happiness")], {(1, "EP01"): range(1, 6)},
                       variant="Cropped", pattern="reg_img{}.jpg")
    write_frames(root / "CASME2_RAW_selected" / "sub01" / "EP01", range(1, 6))
    _, clips, _ = load_database(root)
    assert [p.name for p in clips[0].frames] == ["reg_img2.jpg", "reg_img3.jpg", "reg_img4.jpg"]
    _, clips, _ = load_database(root, variant="raw")
    assert [p.name for p in clips[0].frames] == ["img2.jpg", "img3.jpg", "img4.jpg"]


@pytest.mark.parametrize("apex", ["/", -1, "-1", None, "abc"])
def test_casme2_unknown_apex(tmp_path, apex):
    root = casme2_tree(tmp_path / "c", [(4, "EP12_01f", 2, apex, 5, "12", "happiness")],
                       {(4, "EP12_01f"): range(1, 8)})
    _, clips, report = load_database(root)
    assert clips[0].apex is None
    assert numbers_of(clips[0]) == [2, 3, 4, 5]
    assert len(clip_warnings(report)) == 1
    assert "sub04/EP12_01f" in report.warnings[0] and "ApexFrame" in report.warnings[0]
    assert clips[0].info["warnings"] == clip_warnings(report)


def test_casme2_window_outside_frames(tmp_path):
    root = casme2_tree(tmp_path / "c", [
        (1, "A", 5, 8, 20, "12", "happiness"),    # reaches past the last frame 10
        (1, "B", 50, 55, 60, "12", "happiness"),  # does not meet 1..10 at all
        (1, "C", 7, 6, 3, "12", "happiness"),     # onset after offset
        (1, "D", "", 6, "/", "12", "happiness"),  # window unknown
    ], {(1, n): range(1, 11) for n in "ABCD"})
    _, clips, report = load_database(root)
    by_id = {c.clip_id: c for c in clips}
    assert numbers_of(by_id["sub01/A"]) == [5, 6, 7, 8, 9, 10]
    assert numbers_of(by_id["sub01/B"]) == list(range(1, 11))
    assert numbers_of(by_id["sub01/C"]) == list(range(1, 11))
    assert numbers_of(by_id["sub01/D"]) == list(range(1, 11))
    warn = {w.split(":")[0]: w for w in report.warnings}
    assert "5..20" in warn["sub01/A"] and "1..10" in warn["sub01/A"]
    assert "50..60" in warn["sub01/B"] and "1..10" in warn["sub01/B"]
    assert "sub01/C" in warn and "sub01/D" in warn
    assert by_id["sub01/C"].apex == 6  # kept as given, with a warning about the window


def test_casme2_gap_inside_window_is_reported(tmp_path):
    root = casme2_tree(tmp_path / "c", [(1, "A", 1, 3, 6, "12", "happiness")], {(1, "A"): [1, 2, 4, 5, 6]})
    _, clips, report = load_database(root)
    assert numbers_of(clips[0]) == [1, 2, 4, 5, 6]
    assert any("1 frame(s) missing" in w for w in report.warnings)


@pytest.mark.parametrize("cell, tokens, unknown", [
    ("4+L10", ["4", "L10"], False),
    ("R12", ["R12"], False),
    ("?", [], True),
    (None, [], True),
    (12, ["12"], False),
    (12.0, ["12"], False),
    ("1+2+25", ["1", "2", "25"], False),
    ("AU4 + AU7", ["4", "7"], False),
])
def test_parse_action_units(cell, tokens, unknown):
    got, got_unknown, invalid = parse_action_units(cell)
    assert (got, got_unknown, invalid) == (tokens, unknown, [])


def test_parse_action_units_invalid_part():
    tokens, unknown, invalid = parse_action_units("4+xyz")
    assert tokens == ["4"] and not unknown and invalid == ["xyz"]


def test_casme2_action_unit_quirks_in_clips(tmp_path):
    root = casme2_tree(tmp_path / "c", [(1, "A", 1, 2, 3, "?", "happiness"), (1, "B", 1, 2, 3, "R12", "happiness")],
                       {(1, "A"): range(1, 4), (1, "B"): range(1, 4)})
    _, clips, report = load_database(root)
    a, b = clips
    assert a.info["action_units"] == [] and a.info["action_units_unknown"] and a.info["action_units_raw"] == "?"
    assert b.info["action_units"] == ["R12"] and not b.info["action_units_unknown"]
    assert clip_warnings(report) == []


def test_casme2_missing_folder_orphan_folder_duplicate_row(tmp_path):
    root = casme2_tree(tmp_path / "c", [
        (1, "A", 1, 2, 3, "12", "happiness"),
        (1, "A", 2, 3, 4, "4", "disgust"),        # duplicate: the first row wins
        (1, "MISSING", 1, 2, 3, "12", "happiness"),
        (1, "GONE", 1, 2, 3, "7", "others"),     # dropped anyway: its folder is not needed
    ], {(1, "A"): range(1, 6), (1, "ORPHAN"): range(1, 4), (2, "ORPHAN2"): range(1, 4)})
    _, clips, report = load_database(root)
    assert [c.clip_id for c in clips] == ["sub01/A"]
    assert clips[0].label == "positive" and numbers_of(clips[0]) == [1, 2, 3]
    assert report.skipped == {"duplicate_row": 1, "missing_folder": 1, "no_row": 2}
    assert report.dropped == {"others": 1}
    text = "\n".join(report.warnings)
    for needle in ("sub01/A: row 3 duplicates row 2", "sub01/MISSING", "sub01/ORPHAN", "sub02/ORPHAN2"):
        assert needle in text
    assert "GONE" not in text


def test_casme2_empty_class_is_a_warning(tmp_path):
    root = casme2_tree(tmp_path / "c", [(1, "A", 1, 2, 3, "12", "happiness"), (1, "B", 1, 2, 3, "4", "disgust")],
                       {(1, "A"): range(1, 4), (1, "B"): range(1, 4)})
    _, clips, report = load_database(root)
    assert report.per_label == {"negative": 1, "positive": 1, "surprise": 0}
    assert any("no clip of class 'surprise'" in w for w in report.warnings)


def test_casme2_table1_counts(tmp_path):
    # The 247 clips of CASME II in five classes (paper section 4.1); Table 1: 91 / 32 / 25.
    emotions = ["disgust"] * 64 + ["repression"] * 27 + ["happiness"] * 32 + ["surprise"] * 25 + ["others"] * 99
    rng = np.random.default_rng(0)
    rng.shuffle(emotions)
    rows, folders = [], {}
    for k, emotion in enumerate(emotions):
        s, name = 1 + k % 26, f"EP{k:03d}_01"
        rows.append((s, name, 10, 11, 12, "?", emotion))
        folders[(s, name)] = [10, 11, 12]
    root = casme2_tree(tmp_path / "c", rows, folders)
    _, clips, report = load_database(root)
    expected = Counter({"disgust": "negative", "repression": "negative", "happiness": "positive",
                        "surprise": "surprise"}.get(e) for e in emotions)
    assert report.per_label == {"negative": 91, "positive": 32, "surprise": 25}
    assert report.per_label == {k: expected[k] for k in ("negative", "positive", "surprise")}
    assert report.n_clips == len(clips) == 148
    assert report.dropped == {"others": 99}
    assert len(report.per_subject) == 26
    assert sum(sum(c.values()) for c in report.per_subject.values()) == 148
    assert report.warnings == []


def test_casme2_missing_and_renamed_columns(tmp_path):
    root = tmp_path / "c"
    write_frames(root / "Cropped" / "sub01" / "A", [1])
    header = ["Subject", "Filename", "Onset", "ApexFrame", "OffsetFrame", "AUs", "Estimated Emotion"]
    write_sheet(root / "CASME2-coding-1.xlsx", [(1, "A", 1, 1, 1, "12", "happiness")], header)
    with pytest.raises(InputError) as err:
        load_database(root)
    msg = str(err.value)
    assert "CASME2-coding-1.xlsx" in msg and "'OnsetFrame'" in msg and "'Action Units'" in msg
    assert "'ApexFrame'" not in msg.split("expected")[0]


def test_casme2_column_names_ignore_case_and_spaces(tmp_path):
    root = tmp_path / "c"
    write_frames(root / "Cropped" / "sub01" / "A", [1, 2])
    header = ["subject", "FileName", "Onset Frame", "apex_frame", "OFFSETFRAME", "Action Units", "Estimated  Emotion"]
    write_sheet(root / "CASME2-coding-1.xlsx", [(1, "A", 1, 2, 2, "12", "Happiness")], header)
    _, clips, _ = load_database(root)
    assert clips[0].label == "positive"


def test_casme2_bad_files(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "CASME2-coding-1.xlsx").write_bytes(b"not a zip")
    write_frames(root / "Cropped" / "sub01" / "A", [1])
    with pytest.raises(InputError, match="CASME2-coding-1.xlsx.*xlsx workbook"):
        load_database(root)
    other = tmp_path / "d"
    other.mkdir()
    write_sheet(other / "CASME2-coding-1.xlsx", [])
    with pytest.raises(InputError, match="Cropped/ or CASME2_RAW_selected/"):
        load_database(other)


def test_unknown_layout_names_what_was_expected(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError) as err:
        load_database(tmp_path / "x")
    msg = str(err.value)
    assert str(tmp_path / "x") in msg and "CASME2-coding-*.xlsx" in msg and "SMIC_all_cropped" in msg
    with pytest.raises(InputError, match="kind"):
        load_database(tmp_path / "x", kind="casme3")
    with pytest.raises(InputError, match="no such folder"):
        load_database(tmp_path / "missing")


# ------------------------------------------------------------------ SMIC
def smic_tree(root, counts, modalities=("HS", "VIS", "NIR"), subjects=8):
    """counts: {class: n}; clips spread over subjects; 3 frames each."""
    for modality in modalities:
        k = 0
        for label, n in counts.items():
            for i in range(n):
                s = 1 + k % subjects
                write_frames(root / modality / f"s{s}" / "micro" / label / f"s{s}_{label[:2]}_{i:02d}",
                             range(100, 103), "image{:06d}.bmp")
                k += 1
        write_frames(root / modality / "s1" / "non_micro" / "negative" / "s1_ne_99", range(3), "image{}.bmp")
    return root


def test_smic_table1_counts_and_roots(tmp_path):
    root = smic_tree(tmp_path / "SMIC_all_cropped", {"negative": 28, "positive": 23, "surprise": 20})
    for args in [(tmp_path / "SMIC_all_cropped", "VIS"), (tmp_path / "SMIC_all_cropped" / "VIS", None),
                 (tmp_path, "VIS"), (tmp_path / "SMIC_all_cropped" / "VIS", "VIS")]:
        kind, clips, report = load_database(args[0], modality=args[1])
        assert kind == "SMIC_VIS"
        assert report.per_label == {"negative": 28, "positive": 23, "surprise": 20}
        assert report.dropped == {} and report.warnings == []
    assert all(len(c.frames) == 3 and c.database == "SMIC_VIS" for c in clips)
    assert {c.subject for c in clips} == {f"s{i}" for i in range(1, 9)}
    assert all(c.onset is None and c.apex is None and c.offset is None for c in clips)
    kind, _, _ = load_database(root, kind="smic_nir")
    assert kind == "SMIC_NIR"
    kind, _, _ = load_database(root, kind="smic", modality="hs")
    assert kind == "SMIC_HS"


def test_smic_modality_errors(tmp_path):
    root = smic_tree(tmp_path / "SMIC_all_cropped", {"negative": 2}, modalities=("VIS", "NIR"))
    with pytest.raises(InputError, match="several modalities.*NIR, VIS"):
        load_database(root)
    with pytest.raises(InputError, match="no SMIC HS folder"):
        load_database(root, modality="HS")
    with pytest.raises(InputError, match="modality NIR was asked"):
        load_database(root / "VIS", modality="NIR")
    with pytest.raises(InputError, match="modality"):
        load_database(root, modality="UV")
    odd = tmp_path / "odd"
    (root / "VIS").rename(odd)
    with pytest.raises(InputError, match="modality is unknown"):
        load_database(odd)
    kind, clips, _ = load_database(odd, modality="VIS")
    assert kind == "SMIC_VIS" and len(clips) == 2


def test_smic_quirks(tmp_path):
    root = smic_tree(tmp_path / "SMIC_all_cropped", {"negative": 3, "positive": 2}, modalities=("HS",))
    hs = root / "HS"
    (hs / "s1" / "micro" / "negative" / "s1_ne_00" / "Thumbs.db").write_bytes(b"x")
    (hs / "s2" / "micro" / "positive" / "s2_po_empty").mkdir(parents=True)
    write_frames(hs / "s3" / "micro" / "other" / "s3_ot_01", [1, 2])
    (hs / "notes").mkdir()
    kind, clips, report = load_database(tmp_path / "SMIC_all_cropped")  # one modality: chosen
    assert kind == "SMIC_HS"
    assert report.per_label == {"negative": 3, "positive": 2, "surprise": 0}
    assert report.dropped == {"other": 1}
    assert report.skipped == {"no_frames": 1}
    text = "\n".join(report.warnings)
    assert "s2/s2_po_empty" in text and "s3/micro/other" in text and "notes" in text
    assert any("no clip of class 'surprise'" in w for w in report.warnings)
    assert all(p.suffix == ".bmp" for c in clips for p in c.frames)


# ------------------------------------------------------------------ CLI
def cli(argv):
    from cdmer.cli.main import main

    return main(argv)


def test_cli_info_json(tmp_path, capsys):
    root = casme2_tree(tmp_path / "c", [
        (1, "A", 1, "/", 3, "12", "happiness"),
        (1, "B", 1, 2, 3, "4", "disgust"),
        (2, "C", 1, 2, 3, "?", "others"),
        (2, "D", 1, 2, 3, "?", "others"),
        (2, "E", 1, 2, 3, "?", "fear"),
    ], {(1, n): range(1, 4) for n in "AB"})
    assert cli(["info", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)  # exactly one JSON object
    assert data["kind"] == "CASME2"
    assert data["n_clips"] == 2
    assert data["per_label"] == {"negative": 1, "positive": 1, "surprise": 0}
    assert data["dropped"] == {"fear": 1, "others": 2}
    assert any("sub01/A" in w for w in data["warnings"])
    assert data["synthetic"] is False


def test_cli_info_text(tmp_path, capsys):
    root = smic_tree(tmp_path / "SMIC_all_cropped", {"negative": 28, "positive": 23, "surprise": 20})
    assert cli(["info", str(root), "--modality", "nir"]) == 0
    out = capsys.readouterr().out
    assert "SMIC_NIR: 71 clips" in out
    total = next(line for line in out.splitlines() if line.strip().startswith("total") and "28" in line)
    assert total.split()[1:] == ["28", "23", "20", "71"]
    assert "s8" in out


def test_cli_info_bad_root(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli(["info", str(tmp_path / "empty")]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cdmer info: error:") and "CASME2-coding" in err[0]
    assert "Traceback" not in captured.err and captured.out == ""
