"""Reading clips, face cropping and temporal normalisation."""

import cv2
import numpy as np
import pytest
from scipy.fft import dct

from cdmer.errors import InputError
from cdmer.io.clips import Clip
from cdmer.io.face import PAPER_SIZES, crop_faces, face_box
from cdmer.io.temporal import linear, resample, tim
from cdmer.io.video import natural_key, read_clip, read_frames


def write_png(path, image):
    assert cv2.imwrite(str(path), image)
    return path


# ----------------------------------------------------------------- reading
def test_frame_folder_natural_order(tmp_path):
    # frame value = its number, so the order is visible in the volume
    for n in (10, 2, 1, 11, 3):
        write_png(tmp_path / f"img{n}.png", np.full((4, 5), n, dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")
    vol = read_frames(tmp_path)
    assert vol.shape == (5, 4, 5) and vol.dtype == np.uint8
    assert vol[:, 0, 0].tolist() == [1, 2, 3, 10, 11]
    assert sorted(["a10.jpg", "a9.jpg", "a100.jpg"], key=natural_key) == ["a9.jpg", "a10.jpg", "a100.jpg"]
    # an explicit list is read in the given order
    vol = read_frames([tmp_path / "img3.png", tmp_path / "img1.png"])
    assert vol[:, 0, 0].tolist() == [3, 1]
    # a Clip uses its frame list when set, else its folder
    assert read_clip(Clip("c", tmp_path, frames=[tmp_path / "img2.png"]))[:, 0, 0].tolist() == [2]
    assert read_clip(Clip("c", tmp_path)).shape[0] == 5


def test_colour_to_grey(tmp_path):
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, size=(6, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "f1.png", bgr)
    grey = read_frames(tmp_path)[0]
    b, g, r = (bgr[..., i].astype(float) for i in range(3))
    expected = np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5)
    np.testing.assert_array_equal(grey, expected)
    # OpenCV's fixed-point conversion agrees to within one grey level
    assert np.abs(grey.astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(int)).max() <= 1


def test_missing_and_empty(tmp_path):
    with pytest.raises(InputError, match="nope: no such file or folder"):
        read_frames(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="empty: no frames in folder"):
        read_frames(empty)
    with pytest.raises(InputError, match="gone.png: no such frame file"):
        read_frames([tmp_path / "gone.png"])


def test_unreadable_and_truncated_images(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    write_png(bad / "1.png", np.zeros((4, 4), np.uint8))
    (bad / "2.png").write_bytes(b"this is not a png")
    with pytest.raises(InputError, match="2.png: not a readable image"):
        read_frames(bad)

    trunc = tmp_path / "trunc"
    trunc.mkdir()
    ok, data = cv2.imencode(".jpg", np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8))
    (trunc / "1.jpg").write_bytes(data.tobytes())
    (trunc / "2.jpg").write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(InputError, match="2.jpg: truncated JPEG"):
        read_frames(trunc)
    assert read_frames([trunc / "1.jpg"]).shape == (1, 32, 32)


def test_frames_of_different_sizes(tmp_path):
    write_png(tmp_path / "1.png", np.zeros((4, 4), np.uint8))
    write_png(tmp_path / "2.png", np.zeros((4, 6), np.uint8))
    with pytest.raises(InputError, match=r"frame of size 6 x 4 .* first frame is 4 x 4 .*2\.png"):
        read_frames(tmp_path)


def test_video_without_frames(tmp_path):
    fake = tmp_path / "broken.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    with pytest.raises(InputError, match="broken.mp4: .*(zero frames|not a readable video)"):
        read_frames(fake)
    with pytest.raises(InputError, match="unknown clip type '.xyz'"):
        (tmp_path / "clip.xyz").write_text("x")
        read_frames(tmp_path / "clip.xyz")


def test_real_video_decode_and_face(carphone_video):
    vol = read_frames(carphone_video)
    assert vol.shape == (120, 144, 176) and vol.dtype == np.uint8
    # decoding again gives the same frames; grey is the luma of OpenCV's BGR frame
    cap = cv2.VideoCapture(str(carphone_video))
    ok, frame = cap.read()
    cap.release()
    assert ok
    b, g, r = (frame[..., i].astype(float) for i in range(3))
    np.testing.assert_array_equal(vol[0], np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5))

    (x0, y0, x1, y1), how = face_box(vol, margin=0.0)
    assert how == "face"
    # the man's face is in the middle of the upper frame, some 60 pixels wide
    assert 40 <= x1 - x0 <= 100 and 40 <= y1 - y0 <= 100
    assert 40 <= (x0 + x1) / 2 <= 130 and 30 <= (y0 + y1) / 2 <= 100
    faces, info = crop_faces(vol, (56, 64), margin=0.1)
    assert faces.shape == (120, 64, 56) and faces.dtype == np.uint8
    bx0, by0, bx1, by1 = info["box"]
    assert bx0 <= x0 and by0 <= y0 and bx1 >= x1 and by1 >= y1   # the margin widens the box
    same, _ = crop_faces(vol, None, margin=0.0)
    np.testing.assert_array_equal(same, vol[:, y0:y1, x0:x1])


def test_no_face(tmp_path):
    vol = np.full((3, 60, 80), 128, dtype=np.uint8)
    with pytest.raises(InputError, match="clipdir: no face found on the first frame"):
        crop_faces(vol, (20, 30), path=tmp_path / "clipdir")
    faces, info = crop_faces(vol, None, on_no_face="center")
    assert info == {"box": [10, 0, 70, 60], "how": "center"} and faces.shape == (3, 60, 60)
    faces, info = crop_faces(vol, (20, 30), on_no_face="full")
    assert info["box"] == [0, 0, 80, 60] and faces.shape == (3, 30, 20)
    with pytest.raises(InputError, match="size must be"):
        crop_faces(vol, (20,), on_no_face="full")
    with pytest.raises(InputError, match="expected one of error, center, full"):
        crop_faces(vol, on_no_face="skip")


def test_paper_sizes_are_width_height():
    # faces taller than wide, as CASME II's 280 x 340 (w x h) face area
    for w, h in PAPER_SIZES.values():
        assert h > w
    assert PAPER_SIZES["CASME2"] == (257, 308) and PAPER_SIZES["SMIC"] == (139, 170)


# ---------------------------------------------------------------- temporal
def test_tim_keeps_frames_when_length_unchanged():
    vol = np.random.default_rng(0).integers(0, 256, size=(9, 5, 6)).astype(np.uint8)
    out = tim(vol, 9)
    assert out.shape == (9, 5, 6) and out.dtype == np.float64
    np.testing.assert_allclose(out, vol, rtol=0, atol=1e-9)


def _dct_interpolant(x, u):
    """Cosine-series (DCT-II) interpolant of samples x at 0-based positions u, via scipy."""
    n = len(x)
    X = dct(x, type=2)                       # X_k = 2 sum_i x_i cos(pi k (2 i + 1) / (2 n))
    k = np.arange(1, n)[:, None]
    return X[0] / (2 * n) + (X[1:, None] * np.cos(np.pi * k * (2 * u[None, :] + 1) / (2 * n))).sum(0) / n


@pytest.mark.parametrize("n, N", [(5, 12), (10, 4), (7, 13)])
def test_tim_is_the_cosine_interpolant(n, N):
    rng = np.random.default_rng(n * N)
    vol = rng.normal(size=(n, 3, 2))
    out = tim(vol, N)
    u = np.linspace(0, n - 1, N)             # new frames evenly spaced, ends kept
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(out[:, i, j], _dct_interpolant(vol[:, i, j], u), atol=1e-10)
    np.testing.assert_allclose(out[0], vol[0], atol=1e-10)
    np.testing.assert_allclose(out[-1], vol[-1], atol=1e-10)


def test_tim_on_a_cosine_and_a_ramp():
    # A time course that is one of the path graph's eigenvectors,
    # cos(pi k (i + 1/2) / n) (0-based i), is reproduced exactly between frames.
    n, N, k = 8, 22, 3
    i = np.arange(n)
    course = np.cos(np.pi * k * (i + 0.5) / n)
    out = tim(np.broadcast_to(course[:, None, None], (n, 2, 2)), N)[:, 0, 0]
    u = np.linspace(0, n - 1, N)
    np.testing.assert_allclose(out, np.cos(np.pi * k * (u + 0.5) / n), atol=1e-12)
    # A linear ramp: exact at the original frames (N = 2n - 1 keeps them at
    # even outputs) but not linear in between (the cosine series ripples).
    ramp = np.broadcast_to(np.arange(n, dtype=float)[:, None, None], (n, 1, 1))
    out = tim(ramp, 2 * n - 1)[:, 0, 0]
    np.testing.assert_allclose(out[::2], np.arange(n), atol=1e-12)
    assert np.abs(out[1::2] - (np.arange(n - 1) + 0.5)).max() > 1e-3
    # plain linear interpolation is exactly linear
    np.testing.assert_allclose(linear(ramp, 2 * n - 1)[:, 0, 0], np.arange(2 * n - 1) / 2, atol=1e-12)


def test_linear_interpolation_values():
    vol = np.array([0, 10, 40], dtype=np.uint8)[:, None, None] * np.ones((1, 2, 3), np.uint8)
    out = linear(vol, 5)
    assert out.shape == (5, 2, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out[:, 0, 0], [0, 5, 10, 25, 40])


def test_temporal_errors():
    with pytest.raises(InputError, match="at least 2 frames"):
        tim(np.zeros((1, 4, 4)), 10)
    with pytest.raises(InputError, match="integer >= 2"):
        linear(np.zeros((5, 4, 4)), 1)
    with pytest.raises(InputError, match="expected one of tim, linear"):
        resample(np.zeros((5, 4, 4)), 4, "cubic")
