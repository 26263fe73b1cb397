"""The SYNTHETIC database generator: byte determinism, loader round trip, motion, cameras, learnability."""

import hashlib
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from cdmer.errors import InputError
from cdmer.io import synthetic
from cdmer.io.databases import load_database

# The paper's three-class mapping (section 4.1), written out independently of the code.
PAPER_MAP = {"happiness": "positive", "disgust": "negative", "repression": "negative", "surprise": "surprise"}


def tree_hashes(root):
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn")
    return synthetic.write_synthetic_databases(root, seed=0, size="tiny")


def test_same_seed_same_bytes_other_seed_other_bytes(tiny, tmp_path):
    again = synthetic.write_synthetic_databases(tmp_path / "a", seed=0, size="tiny")
    first = tree_hashes(tiny["CASME2"].parent)
    second = tree_hashes(again["CASME2"].parent)
    assert len(first) > 100 and any(k.endswith(".xlsx") for k in first)
    assert first == second
    other = tree_hashes(synthetic.write_synthetic_databases(tmp_path / "b", seed=1, size="tiny")["CASME2"].parent)
    changed = [k for k in set(first) & set(other) if first[k] != other[k]]
    assert set(first) != set(other) or changed
    png = [k for k in first if k.endswith(".png")]
    assert sum(first[k] != other.get(k) for k in png) > len(png) // 2


def test_round_trip_counts(tiny):
    spec = synthetic.SIZES["tiny"]
    kind, clips, report = load_database(tiny["CASME2"])
    assert kind == "CASME2" and report.synthetic
    expected = {"negative": 0, "positive": 0, "surprise": 0}
    dropped = {}
    for emotion, n in spec["casme2_counts"].items():
        if emotion in PAPER_MAP:
            expected[PAPER_MAP[emotion]] += n
        else:
            dropped[emotion] = n
    assert report.per_label == expected
    assert report.dropped == dropped
    assert report.warnings == [] and report.skipped == {}
    assert len(report.per_subject) == spec["casme2_subjects"]
    for clip in clips:
        # The folder holds two neutral frames on each side of the onset..offset window.
        assert len(clip.frames) == clip.offset - clip.onset + 1
        assert len(list(clip.path.iterdir())) == len(clip.frames) + 4
        assert clip.onset < clip.apex < clip.offset
        assert clip.info["action_units"] or clip.info["action_units_unknown"]
    for modality in ("VIS", "NIR"):
        kind, clips, report = load_database(tiny["SMIC"], modality=modality)
        assert kind == f"SMIC_{modality}" and report.synthetic
        assert report.per_label == spec["smic_counts"]
        assert report.warnings == []
        assert all(len(c.frames) >= 7 for c in clips)  # LBP-TOP with RT = 3 needs 7 frames
    vis = load_database(tiny["SMIC_VIS"])[1]
    nir = load_database(tiny["SMIC_NIR"])[1]
    assert [c.clip_id for c in vis] == [c.clip_id for c in nir]  # the same events, two cameras
    assert [len(c.frames) for c in vis] == [len(c.frames) for c in nir]


def test_says_it_is_synthetic(tiny):
    for folder in (tiny["CASME2"], tiny["SMIC"], tiny["SMIC_VIS"], tiny["SMIC_NIR"]):
        assert (folder / "README.txt").read_text().startswith("SYNTHETIC")
    wb = openpyxl.load_workbook(tiny["CASME2"] / "CASME2-coding-synthetic.xlsx")
    assert "SYNTHETIC" in wb.properties.title
    assert wb["README"]["A1"].value.startswith("SYNTHETIC")
    assert wb.worksheets[0]["A1"].value == "Subject"


def test_camera_frames_and_noise(tiny):
    spec = synthetic.SIZES["tiny"]
    noise = {}
    for name, folder in (("casme2", tiny["CASME2"]), ("smic_vis", tiny["SMIC_VIS"]), ("smic_nir", tiny["SMIC_NIR"])):
        camera = synthetic.CAMERAS[name].scaled(spec["resolution"], spec["fps"])
        _, clips, _ = load_database(folder)
        volume = np.stack([cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in clips[0].frames])
        assert volume.dtype == np.uint8 and volume.ndim == 3
        assert volume.shape[1:] == camera.size
        # Temporal noise: median absolute difference of consecutive frames over all clips.
        diffs = []
        for clip in clips:
            v = np.stack([cv2.imread(str(p), 0) for p in clip.frames]).astype(float)
            diffs.append(np.median(np.abs(np.diff(v, axis=0))))
        noise[name] = np.median(diffs)
    assert noise["casme2"] < noise["smic_vis"] < noise["smic_nir"]


def test_intensity_profile():
    t = np.array([-0.1, 0.0, 0.05, 0.1, 0.2, 0.3, 0.5])
    rise, fall = 0.1, 0.2
    got = synthetic.intensity(t, rise, fall)
    expected = [0.0, 0.0, np.sin(np.pi / 4) ** 2, 1.0, np.cos(np.pi / 4) ** 2, 0.0, 0.0]
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("emotion, moving, still", [
    ("surprise", "brows", "cheeks"),
    ("happiness", "mouth", "brows"),
    ("disgust", "glabella", "cheeks"),
])
def test_motion_is_at_the_facial_action(emotion, moving, still, monkeypatch):
    monkeypatch.setattr(synthetic, "JITTER", 0.0)
    monkeypatch.setattr(synthetic, "DRIFT", 0.0)
    rng = np.random.default_rng(3)
    face = synthetic.draw_face(rng)
    camera = synthetic.Camera("clean", fps=60.0, size=synthetic.CANVAS, noise=0.0, blur=0.0,
                              illumination=0.0, flicker=0.0)
    clip = synthetic.generate_clip(face, emotion, camera, np.random.default_rng(4), pad=2)
    v = clip.volume.astype(float)
    assert clip.onset == 2 and clip.offset == len(v) - 3 and clip.onset < clip.apex < clip.offset
    # Before onset only the (zero) jitter acts: neutral frames are identical.
    assert np.array_equal(v[0], v[1])
    change = np.abs(v[clip.apex] - v[0])
    cx, _ = face.center
    brow_y = int(face.eye_y - face.brow_y)
    regions = {
        "brows": change[brow_y - 6:brow_y + 5, int(cx - face.eye_dx - 8):int(cx + face.eye_dx + 8)],
        "glabella": change[brow_y - 6:brow_y + 5, int(cx - 7):int(cx + 7)],
        "mouth": change[int(face.mouth_y - 6):int(face.mouth_y + 6),
                        int(cx - face.mouth_w - 5):int(cx + face.mouth_w + 5)],
        "cheeks": change[int(face.nose_y - 4):int(face.nose_y + 2),
                         int(cx - face.eye_dx - 4):int(cx - face.eye_dx + 4)],
    }
    assert regions[moving].mean() > 3 * regions[still].mean()
    assert regions[moving].max() > 10  # visible at apex (grey levels)


def test_overwrite_rules(tmp_path):
    synthetic.write_synthetic_databases(tmp_path, seed=0, size="tiny")
    with pytest.raises(InputError, match="already exists"):
        synthetic.write_synthetic_databases(tmp_path, seed=0, size="tiny")
    synthetic.write_synthetic_databases(tmp_path, seed=1, size="tiny", overwrite=True)
    other = tmp_path / "o"
    (other / "SMIC").mkdir(parents=True)
    (other / "SMIC" / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="not written by cdmer.io.synthetic"):
        synthetic.write_synthetic_databases(other, seed=0, size="tiny", overwrite=True)
    assert (other / "SMIC" / "precious.txt").read_text() == "keep me"
    with pytest.raises(InputError, match="size"):
        synthetic.write_synthetic_databases(tmp_path / "x", size="huge")


@pytest.mark.slow
def test_learnable_within_camera_harder_across(tmp_path):
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    from cdmer.features.lbptop import lbp_top

    paths = synthetic.write_synthetic_databases(tmp_path, seed=0, size="small")

    def features(folder):
        _, clips, _ = load_database(folder)
        X = [lbp_top(np.stack([cv2.imread(str(p), 0) for p in c.frames]), radii=(3, 3, 3), points=8,
                     sampling="round", mapping="u2", grid=(1, 2, 4, 8)) for c in clips]
        return np.asarray(X), np.asarray([c.label for c in clips])

    Xc, yc = features(paths["CASME2"])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    within = cross_val_score(SVC(kernel="linear", C=1.0), Xc, yc, cv=folds).mean()
    majority = max(np.mean(yc == c) for c in np.unique(yc))
    svm = SVC(kernel="linear", C=1.0).fit(Xc, yc)
    cross = {}
    for name in ("SMIC_VIS", "SMIC_NIR"):
        Xt, yt = features(paths[name])
        cross[name] = np.mean(svm.predict(Xt) == yt)
    assert within >= majority + 0.15, (within, majority)
    assert within >= max(cross.values()) + 0.15, (within, cross)
