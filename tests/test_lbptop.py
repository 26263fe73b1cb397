"""LBP-TOP against the reference histograms, hand-worked codes, scikit-image and the layout rules."""

import math

import numpy as np
import pytest

from cdmer.errors import InputError
from cdmer.features.lbptop import lbp_mapping, lbp_top, lbp_top_codes, lbp_top_layout

# Neighbour offsets for R = 3, P = 8 worked by hand. Angle a = p * 45 deg;
# 3 cos a and 3 sin a are 0, +-3 or +-3/sqrt(2) = +-2.1213; rounded half up
# floor(c + 0.5): 2.1213 -> 2 and -2.1213 -> floor(-1.6213) = -2.
# XY: (dt, dy, dx) = (0, -3 sin a, 3 cos a)
XY = [(0, 0, 3), (0, -2, 2), (0, -3, 0), (0, -2, -2), (0, 0, -3), (0, 2, -2), (0, 3, 0), (0, 2, 2)]
# XT: (dt, dy, dx) = (3 sin a, 0, 3 cos a)
XT = [(0, 0, 3), (2, 0, 2), (3, 0, 0), (2, 0, -2), (0, 0, -3), (-2, 0, -2), (-3, 0, 0), (-2, 0, 2)]
# YT: (dt, dy, dx) = (3 cos a, -3 sin a, 0)
YT = [(3, 0, 0), (2, -2, 0), (0, -3, 0), (-2, -2, 0), (-3, 0, 0), (-2, 2, 0), (0, 3, 0), (2, 2, 0)]
ROUNDED = (XY, XT, YT)
S = 3 / math.sqrt(2)
COS = [1, S / 3, 0, -S / 3, -1, -S / 3, 0, S / 3]
SIN = [0, S / 3, 1, S / 3, 0, -S / 3, -1, -S / 3]


def exact_offset(plane, p):
    """Unrounded (dt, dy, dx) of neighbour p."""
    c, s = 3 * COS[p], 3 * SIN[p]
    return [(0, -s, c), (s, 0, c), (c, -s, 0)][plane]


# ------------------------------------------------------------ reference data
@pytest.mark.parametrize("name", ["a", "b"])
def test_reference_histograms(lbptop_reference, name):
    volumes = np.load(lbptop_reference / "volumes.npz")
    expected = np.loadtxt(lbptop_reference / f"hist_{name}.txt", delimiter=",")
    assert expected.shape == (3, 256)
    got = lbp_top(volumes[name], radii=(3, 3, 3), points=8, sampling="round", mapping="raw", grid=(1,))
    np.testing.assert_allclose(got.reshape(3, 256), expected, rtol=1e-12, atol=0)


# --------------------------------------------------------------- hand-worked
@pytest.mark.parametrize("sampling", ["round", "bilinear"])
def test_single_bright_voxel(sampling):
    # 7x7x7 volume: one centre voxel (3, 3, 3) of value 5, background 0 and
    # one bright voxel of 50 moved through every other position. Bit p is set
    # iff neighbour p >= 5, i.e. iff the bright voxel is what neighbour p
    # reads: with rounding, the voxel at the hand-rounded offset; with
    # bilinear sampling, iff 50 times its interpolation weight
    # (1 - |dx - ox|)(1 - |dy - oy|)... >= 5, the weight of the nearest corner
    # being 0.8787^2 = 0.77 and of the two next ones 0.8787 * 0.1213 = 0.107.
    centre = np.array([3, 3, 3])
    for q in np.ndindex(7, 7, 7):
        if q == (3, 3, 3):
            continue
        vol = np.zeros((7, 7, 7), dtype=np.uint8)
        vol[3, 3, 3] = 5
        vol[q] = 50
        d = np.array(q) - centre
        codes = [c.item() for c in lbp_top_codes(vol, sampling=sampling)]
        for plane in range(3):
            expected = 0
            for p in range(8):
                if sampling == "round":
                    hit = tuple(d) == ROUNDED[plane][p]
                else:
                    w = np.prod([max(0.0, 1 - abs(di - oi)) for di, oi in zip(d, exact_offset(plane, p))])
                    hit = 50 * w >= 5
                expected |= hit << p
            assert codes[plane] == expected, (q, plane)
    # Spot checks written out: the bright voxel 3 columns right is neighbour 0
    # of XY and XT; 2 rows up and 2 right is neighbour 1 of XY.
    vol = np.zeros((7, 7, 7), dtype=np.uint8)
    vol[3, 3, 3], vol[3, 3, 6] = 5, 50
    assert [c.item() for c in lbp_top_codes(vol, sampling=sampling)] == [1, 1, 0]
    vol = np.zeros((7, 7, 7), dtype=np.uint8)
    vol[3, 3, 3], vol[3, 1, 5] = 5, 50
    assert [c.item() for c in lbp_top_codes(vol, sampling=sampling)] == [2, 0, 0]


@pytest.mark.parametrize("sampling", ["round", "bilinear"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_constant_volume_sets_every_bit(sampling, dtype):
    vol = np.full((9, 11, 12), 7, dtype=dtype)
    for codes in lbp_top_codes(vol, sampling=sampling):
        assert codes.shape == (3, 5, 6)
        assert np.all(codes == 255)
    raw = lbp_top(vol, sampling=sampling, mapping="raw", grid=(1,)).reshape(3, 256)
    assert np.all(raw[:, 255] == 1) and raw.sum() == 3
    # 255 is the last of the 58 uniform codes: bin 57 in u2, 58 in u2-matlab.
    u2 = lbp_top(vol, sampling=sampling, grid=(1,)).reshape(3, 59)
    assert np.all(u2[:, 57] == 1)
    u2m = lbp_top(vol, sampling=sampling, mapping="u2-matlab", grid=(1,)).reshape(3, 59)
    assert np.all(u2m[:, 58] == 1)


@pytest.mark.parametrize("sampling", ["round", "bilinear"])
def test_linear_ramp_in_t(sampling):
    # V = 10 t: neighbour >= centre iff its time offset >= 0.
    # XY: all in the same frame -> every bit -> 255.
    # XT: offset 3 sin a >= 0 for p = 0..4 (sin pi is 1e-16, read as 0) -> 31.
    # YT: offset 3 cos a >= 0 for p = 0, 1, 2, 6, 7 (cos pi/2 and cos 3pi/2
    # are +-1e-16, read as 0) -> 1 + 2 + 4 + 64 + 128 = 199.
    t = np.arange(9, dtype=np.float64)
    vol = np.broadcast_to(10 * t[:, None, None], (9, 8, 10)).astype(np.uint8)
    xy, xt, yt = lbp_top_codes(vol, sampling=sampling)
    assert np.all(xy == 255) and np.all(xt == 31) and np.all(yt == 199)


def _reference_codes(vol, R, P):
    """Literal transcription of the reference's loops (1-based, rounded)."""
    T, H, W = vol.shape
    out = np.zeros((3, T - 2 * R, H - 2 * R, W - 2 * R), dtype=np.int64)
    for i in range(R + 1, T - R + 1):
        for yc in range(R + 1, H - R + 1):
            for xc in range(R + 1, W - R + 1):
                c = vol[i - 1, yc - 1, xc - 1]
                for p in range(P):
                    a = (2 * math.pi * p) / P
                    X = math.floor(xc + R * math.cos(a) + 0.5)
                    Y = math.floor(yc - R * math.sin(a) + 0.5)
                    Zs = math.floor(i + R * math.sin(a) + 0.5)
                    Zc = math.floor(i + R * math.cos(a) + 0.5)
                    bits = (vol[i - 1, Y - 1, X - 1] >= c, vol[Zs - 1, yc - 1, X - 1] >= c,
                            vol[Zc - 1, Y - 1, xc - 1] >= c)
                    for k in range(3):
                        out[k, i - R - 1, yc - R - 1, xc - R - 1] += int(bits[k]) << p
    return out


@pytest.mark.parametrize("R, P", [(3, 8), (3, 6), (1, 12), (2, 4)])
def test_codes_match_reference_loops(R, P):
    # P = 6, 12 with odd R put offsets on half integers, where the reference's
    # per-coordinate rounding matters (the table path of the kernel).
    vol = np.random.default_rng(R * 100 + P).integers(0, 6, size=(2 * R + 3, 2 * R + 5, 2 * R + 6))
    got = np.stack(lbp_top_codes(vol.astype(np.uint8), radii=(R, R, R), points=P))
    np.testing.assert_array_equal(got, _reference_codes(vol, R, P))


# ---------------------------------------------------------------- skimage
@pytest.mark.parametrize("P, R", [(8, 3), (8, 1), (16, 2), (4, 1)])
def test_xy_codes_match_skimage(P, R):
    skimage_feature = pytest.importorskip("skimage.feature")
    # scikit-image's "default" LBP reads neighbour p at (row - R sin a,
    # col + R cos a), a = 2 pi p / P, bilinearly interpolated, and weights it
    # 2^p with s(g_p - g_c >= 0): with rows as y this is our XY plane
    # (x + R cos a, y - R sin a) exactly (y grows downwards in both). It
    # rounds the offsets to 5 decimals and interpolates as (1 - d) a + d b,
    # which on flat patches can fall an ulp below the centre; on noise (no
    # exact ties) the codes must agree everywhere.
    rng = np.random.default_rng(P + R)
    vol = rng.integers(0, 256, size=(2 * R + 3, 40, 50)).astype(np.uint8)
    xy, _, _ = lbp_top_codes(vol, radii=(R, R, R), points=P, sampling="bilinear")
    for i, t in enumerate(range(R, vol.shape[0] - R)):
        ref = skimage_feature.local_binary_pattern(vol[t], P, R, method="default")
        np.testing.assert_array_equal(xy[i], ref[R:-R, R:-R].astype(np.int64))


# ------------------------------------------------------------- u2 and layout
def _transitions(code, P):
    bits = [(code >> b) & 1 for b in range(P)]
    return sum(bits[b] != bits[(b + 1) % P] for b in range(P))


@pytest.mark.parametrize("P", [4, 8, 16])
def test_u2_mapping(P):
    lut, bin_codes = lbp_mapping(P, "u2")
    uniform = [c for c in range(2 ** P) if _transitions(c, P) <= 2]
    assert len(uniform) == P * (P - 1) + 2
    if P == 8:
        assert len(uniform) == 58
    assert lut.max() == P * (P - 1) + 2 and len(bin_codes) == P * (P - 1) + 3
    # uniform codes in increasing order, one shared last bin for the rest
    np.testing.assert_array_equal(lut[uniform], np.arange(len(uniform)))
    others = np.setdiff1d(np.arange(2 ** P), uniform)
    assert np.all(lut[others] == len(uniform))
    assert list(bin_codes[:-1]) == uniform and bin_codes[-1] == -1
    lut_m, codes_m = lbp_mapping(P, "u2-matlab")
    assert np.all(lut_m[others] == 0)
    np.testing.assert_array_equal(lut_m[uniform], np.arange(1, len(uniform) + 1))
    assert codes_m[0] == -1


def _block_sizes(size, n):
    b = [(i * size) // n for i in range(n + 1)]
    return np.diff(b)


def test_multiscale_layout_and_sums():
    rng = np.random.default_rng(7)
    vol = rng.integers(0, 256, size=(12, 45, 38)).astype(np.uint8)
    f = lbp_top(vol)
    assert f.shape == (15045,) and f.dtype == np.float64
    hists = f.reshape(-1, 59)
    assert hists.shape == (85 * 3, 59)
    np.testing.assert_allclose(hists.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    layout = lbp_top_layout()
    assert layout["n_features"] == 15045 and layout["n_blocks"] == 85 and layout["bins"] == [59] * 3
    assert [lv["start"] for lv in layout["levels"]] == [0, 177, 177 + 4 * 177, 177 + 20 * 177]

    # The 1x1 histogram is the voxel-weighted mean of the 2x2 block histograms.
    Hc, Wc = 45 - 6, 38 - 6
    rows, cols = _block_sizes(Hc, 2), _block_sizes(Wc, 2)
    weights = np.outer(rows, cols).ravel()          # row-major blocks
    level1 = f[:177].reshape(3, 59)
    level2 = f[177:177 + 4 * 177].reshape(3, 4, 59)   # plane, then block
    mean = (level2 * weights[None, :, None]).sum(axis=1) / weights.sum()
    np.testing.assert_allclose(level1, mean, rtol=1e-12, atol=1e-15)

    # Each level equals lbp_top with that grid alone, and block (i, j) of the
    # 4x4 grid equals the whole-volume histogram of that block's sub-volume
    # (with its R-wide border so that its centre voxels are exactly the block).
    level4 = lbp_top(vol, grid=(4,))
    np.testing.assert_array_equal(f[177 * 5: 177 * 21], level4)
    rb = [(i * Hc) // 4 for i in range(5)]
    cb = [(j * Wc) // 4 for j in range(5)]
    blocks = level4.reshape(3, 16, 59)
    for i in range(4):
        for j in range(4):
            sub = vol[:, rb[i]: rb[i + 1] + 6, cb[j]: cb[j + 1] + 6]
            np.testing.assert_allclose(blocks[:, i * 4 + j], lbp_top(sub, grid=(1,)).reshape(3, 59),
                                       rtol=1e-12)


@pytest.mark.parametrize("grid", [(3, 2), (5, 7)])
def test_other_grids_and_points_per_plane(grid):
    # (3, 2) is counted on the common 6x6 grid, (5, 7) level by level (35 > 24 rows).
    vol = np.random.default_rng(3).integers(0, 256, size=(9, 30, 33)).astype(np.uint8)
    f = lbp_top(vol, grid=grid, points=(8, 4, 16))
    bins = 59 + 15 + 243
    n0, n1 = grid[0] ** 2, grid[1] ** 2
    assert f.shape == ((n0 + n1) * bins,)
    np.testing.assert_array_equal(f[: n0 * bins], lbp_top(vol, grid=grid[:1], points=(8, 4, 16)))
    np.testing.assert_array_equal(f[n0 * bins:], lbp_top(vol, grid=grid[1:], points=(8, 4, 16)))
    for start, n, b in ((0, n0, 59), (n0 * 59, n0, 15), (n0 * 74, n0, 243)):
        np.testing.assert_allclose(f[start: start + n * b].reshape(n, b).sum(axis=1), 1.0, atol=1e-12)


def test_bilinear_equals_round_for_integer_offsets():
    # P = 4 and radius 2: every offset is 0 or +-2, so both samplings read the same voxels.
    vol = np.random.default_rng(5).integers(0, 256, size=(7, 20, 21)).astype(np.uint8)
    a = lbp_top(vol, radii=(2, 2, 2), points=4, sampling="round")
    b = lbp_top(vol, radii=(2, 2, 2), points=4, sampling="bilinear")
    np.testing.assert_array_equal(a, b)


def test_float_and_uint8_volumes_agree():
    vol = np.random.default_rng(11).integers(0, 256, size=(8, 20, 20)).astype(np.uint8)
    np.testing.assert_array_equal(lbp_top(vol), lbp_top(vol.astype(np.float32)))


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("shape, what", [((6, 20, 20), "6 frames"), ((10, 6, 20), "6 rows"),
                                         ((10, 20, 5), "5 columns")])
def test_too_small_clip(shape, what):
    with pytest.raises(InputError, match=f"{what} but LBP-TOP with radius 3 needs at least 7"):
        lbp_top(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize("kwargs, match", [
    ({"radii": (2.5, 3, 3)}, "radii must be positive integers"),
    ({"radii": (3, 3)}, "three radii"),
    ({"points": 17}, "2..16"),
    ({"points": (8, 8)}, "three ints"),
    ({"mapping": "riu2"}, "expected one of u2, u2-matlab, raw"),
    ({"sampling": "nearest"}, "expected one of round, bilinear"),
    ({"grid": (1, 40)}, "finer than the coded region"),
    ({"grid": (0,)}, "positive integers"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(InputError, match=match):
        lbp_top(np.zeros((8, 20, 20), dtype=np.uint8), **kwargs)


def test_bad_volumes():
    with pytest.raises(InputError, match="shaped \\(T, H, W\\)"):
        lbp_top(np.zeros((20, 20)))
    with pytest.raises(InputError, match="NaN or inf"):
        lbp_top(np.full((8, 20, 20), np.nan))
