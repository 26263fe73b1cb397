"""LBP-TOP: local binary patterns on three orthogonal planes of a grey volume.

The descriptor of Zhao & Pietikainen ("Dynamic texture recognition using
local binary patterns with an application to facial expressions", TPAMI
2007), computed as the reference MATLAB ``LBPTOP.m`` (X. Huang's
implementation of that paper) computes it, plus the multi-scale block grid
the TSRG paper uses (Zong et al. 2017, section 4.2 (1): "uniform LBP-TOP ...
R = 3, P = 8 ... 1x1, 2x2, 4x4, and 8x8 grids").

Definition (volume ``V`` shaped (T, H, W), radii ``(RX, RY, RT)``):

- Centre voxels: ``RT <= t <= T-1-RT``, ``RY <= y <= H-1-RY``,
  ``RX <= x <= W-1-RX`` (0-based), the same voxels for the three planes.
- Neighbour ``p = 0..P-1`` at angle ``a = 2 pi p / P``:
  XY plane ``(x + RX cos a, y - RY sin a)`` in frame ``t``;
  XT plane ``(x + RX cos a, t + RT sin a)`` in row ``y``;
  YT plane ``(y - RY sin a, t + RT cos a)`` in column ``x``.
- ``sampling="round"`` reads the voxel at each coordinate rounded half up,
  ``floor(c + 0.5)``, evaluated exactly as the reference does (1-based
  coordinate plus offset plus one half, in double precision).
  ``sampling="bilinear"`` interpolates linearly along both in-plane axes (the
  fraction of each offset is constant per neighbour; offsets within 1e-9 of
  an integer are taken as that integer, so that e.g. ``3 cos(pi/2)`` reads
  the grid) and compares the interpolated value exactly.
- Code: ``sum_p s(g_p - g_c) 2^p`` with ``s(v) = 1`` for ``v >= 0`` (LBP of
  Ojala et al., TPAMI 2002, applied per plane as in Zhao & Pietikainen 2007,
  section 3).
- Mapping: ``"raw"`` keeps the ``2^P`` codes; ``"u2"`` numbers the uniform
  codes (at most two circular 0/1 transitions; ``P (P - 1) + 2`` of them, 58
  for P = 8) in increasing code order and puts every other code in one last
  bin (``P (P - 1) + 3`` bins, 59 for P = 8), the order of the LBP toolbox's
  ``getmapping(P, 'u2')``; ``"u2-matlab"`` has the same bins with the
  non-uniform bin first (the order of the ``Code`` table that the reference
  LBP-TOP toolbox loads). Any ``2 <= P <= 16`` is accepted.
- Histograms: one per plane (and per block), normalised to sum 1.

See :func:`lbp_top` for the block grid and the feature layout.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from cdmer.errors import InputError
from cdmer.features import _lbp_kernels as _k

PLANES = ("XY", "XT", "YT")
MAPPINGS = ("u2", "u2-matlab", "raw")
SAMPLINGS = ("round", "bilinear")
MAX_POINTS = 16

__all__ = ["lbp_top", "lbp_top_codes", "lbp_top_layout", "lbp_mapping", "PLANES"]


# ----------------------------------------------------------------- parameters
def _is_int(value):
    try:
        return float(value).is_integer()
    except (TypeError, ValueError):
        return False


def _as_tuple(value, n, name):
    if np.isscalar(value):
        return (value,) * n
    try:
        return tuple(value)
    except TypeError:
        raise InputError(f"expected a number or a sequence of numbers, got {value!r}", field=name) from None


def _check_radii(radii):
    radii = _as_tuple(radii, 3, "radii")
    if len(radii) != 3:
        raise InputError(f"expected three radii (RX, RY, RT), got {radii!r}", field="radii")
    out = []
    for r in radii:
        try:
            rf = float(r)
        except (TypeError, ValueError):
            raise InputError(f"radii must be positive integers, got {radii!r}", field="radii") from None
        if not rf.is_integer() or rf < 1:
            raise InputError(f"radii must be positive integers (the reference samples the grid), "
                             f"got {radii!r}", field="radii")
        out.append(int(rf))
    return tuple(out)


def _check_points(points):
    points = _as_tuple(points, 3, "points")
    if len(points) != 3:
        raise InputError(f"expected an int or three ints (XY, XT, YT), got {points!r}", field="points")
    for p in points:
        if not _is_int(p) or not 2 <= p <= MAX_POINTS:
            raise InputError(f"numbers of points must be integers in 2..{MAX_POINTS}, got {points!r}",
                             field="points")
    return tuple(int(p) for p in points)


def _check_grid(grid):
    grid = _as_tuple(grid, 1, "grid")
    if not grid or any(not _is_int(n) or n < 1 for n in grid):
        raise InputError(f"grid must be a non-empty list of positive integers, got {grid!r}", field="grid")
    return tuple(int(n) for n in grid)


def _check_choice(value, choices, name):
    if value not in choices:
        raise InputError(f"expected one of {', '.join(choices)}, got {value!r}", field=name)
    return value


# -------------------------------------------------------------------- mapping
@lru_cache(maxsize=None)
def _mapping_cached(P, mapping):
    codes = np.arange(2 ** P, dtype=np.int64)
    if mapping == "raw":
        return codes, codes.copy()
    rotated = ((codes << 1) | (codes >> (P - 1))) & (2 ** P - 1)
    x = codes ^ rotated
    transitions = np.zeros_like(codes)
    for b in range(P):
        transitions += (x >> b) & 1
    uniform = codes[transitions <= 2]
    n_bins = P * (P - 1) + 3
    assert uniform.size == n_bins - 1
    lut = np.full(2 ** P, n_bins - 1, dtype=np.int64)
    lut[uniform] = np.arange(uniform.size)
    bin_codes = np.append(uniform, -1)
    if mapping == "u2-matlab":
        lut = (lut + 1) % n_bins
        bin_codes = np.roll(bin_codes, 1)
    return lut, bin_codes


def lbp_mapping(P, mapping="u2"):
    """Return ``(lut, bin_codes)`` of a code mapping for ``P`` points.

    ``lut[code]`` is the bin of ``code``; ``bin_codes[bin]`` is the code a bin
    holds (``-1`` for the bin of all non-uniform codes).
    """
    P = _check_points(P)[0]
    _check_choice(mapping, MAPPINGS, "mapping")
    lut, bin_codes = _mapping_cached(P, mapping)
    return lut.copy(), bin_codes.copy()


def _n_bins(P, mapping):
    return 2 ** P if mapping == "raw" else P * (P - 1) + 3


# --------------------------------------------------------------------- layout
def lbp_top_layout(radii=(3, 3, 3), points=8, sampling="round", mapping="u2", grid=(1, 2, 4, 8)):
    """Describe the feature vector of :func:`lbp_top` with these parameters.

    Returns a JSON-serialisable dict: the parameters, ``n_features``,
    ``bins`` per plane, ``levels`` (for each grid ``n``: ``start``/``stop``
    of its slice of the vector and its ``n_blocks``), the ``order`` and
    ``block_rule`` in words, and ``bin_codes`` (the code each bin holds per
    plane, ``-1`` for the non-uniform bin).
    """
    radii = _check_radii(radii)
    points = _check_points(points)
    _check_choice(sampling, SAMPLINGS, "sampling")
    _check_choice(mapping, MAPPINGS, "mapping")
    grid = _check_grid(grid)
    bins = [_n_bins(P, mapping) for P in points]
    levels = []
    start = 0
    for n in grid:
        size = n * n * sum(bins)
        levels.append({"grid": n, "n_blocks": n * n, "start": start, "stop": start + size})
        start += size
    return {
        "method": "LBP-TOP",
        "radii": list(radii),
        "radii_order": "RX, RY, RT",
        "points": list(points),
        "sampling": sampling,
        "mapping": mapping,
        "grid": list(grid),
        "planes": list(PLANES),
        "bins": bins,
        "n_blocks": sum(n * n for n in grid),
        "n_features": start,
        "levels": levels,
        "order": "grid level (as given), then plane (XY, XT, YT), then block (row-major), then bin",
        "block_rule": "centre-voxel region of size (Hc, Wc) = (H - 2 RY, W - 2 RX); grid n has block "
                      "boundaries at floor(i * Hc / n) and floor(j * Wc / n), i, j = 0..n; "
                      "all centre frames in every block",
        "normalisation": "each block histogram of each plane sums to 1",
        "bin_codes": {plane: _mapping_cached(P, mapping)[1].tolist() for plane, P in zip(PLANES, points)},
    }


# ------------------------------------------------------------------ sampling
def _prepare_volume(volume):
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise InputError(f"expected a grey volume shaped (T, H, W), got shape {vol.shape}", field="volume")
    if vol.dtype == np.uint8:
        return np.ascontiguousarray(vol)
    if not (np.issubdtype(vol.dtype, np.number) or vol.dtype == bool) or np.iscomplexobj(vol):
        raise InputError(f"expected a numeric volume, got dtype {vol.dtype}", field="volume")
    vol = np.ascontiguousarray(vol, dtype=np.float64)
    if not np.all(np.isfinite(vol)):
        raise InputError("the volume contains NaN or inf", field="volume")
    return vol


def _check_size(shape, radii):
    T, H, W = shape
    RX, RY, RT = radii
    for name, n, r, what in (("T", T, RT, "frames"), ("H", H, RY, "rows"), ("W", W, RX, "columns")):
        if n < 2 * r + 1:
            raise InputError(f"the clip has {n} {what} but LBP-TOP with radius {r} needs at least "
                             f"{2 * r + 1} (2 R + 1) {what}", field="volume")


def _angles(P):
    # As the reference evaluates them: (2 * pi * p) / P.
    return (2.0 * math.pi * np.arange(P)) / P


def _round_tables(shape, radii, points):
    """Neighbour coordinate for every centre coordinate, rounded as the reference does."""
    T, H, W = shape
    RX, RY, RT = radii
    Pmax = max(points)
    tt = np.zeros((3, Pmax, T), dtype=np.int64)
    ty = np.zeros((3, Pmax, H), dtype=np.int64)
    tx = np.zeros((3, Pmax, W), dtype=np.int64)
    # 1-based centre coordinates, as in the reference.
    t1 = np.arange(1, T + 1, dtype=np.float64)
    y1 = np.arange(1, H + 1, dtype=np.float64)
    x1 = np.arange(1, W + 1, dtype=np.float64)

    def rounded(c1, offset, n):
        # floor(c + offset + 0.5) evaluated left to right, back to 0-based.
        return np.clip(np.floor((c1 + offset) + 0.5).astype(np.int64) - 1, 0, n - 1)

    for k, P in enumerate(points):
        a = _angles(P)
        for p in range(P):
            cos_a, sin_a = np.cos(a[p]), np.sin(a[p])
            if k == 0:    # XY: (x + RX cos, y - RY sin)
                tt[k, p] = np.arange(T)
                ty[k, p] = rounded(y1, -(RY * sin_a), H)
                tx[k, p] = rounded(x1, RX * cos_a, W)
            elif k == 1:  # XT: (x + RX cos, t + RT sin)
                tt[k, p] = rounded(t1, RT * sin_a, T)
                ty[k, p] = np.arange(H)
                tx[k, p] = rounded(x1, RX * cos_a, W)
            else:         # YT: (y - RY sin, t + RT cos)
                tt[k, p] = rounded(t1, RT * cos_a, T)
                ty[k, p] = rounded(y1, -(RY * sin_a), H)
                tx[k, p] = np.arange(W)
    return tt, ty, tx


def _bilinear_offsets(radii, points):
    """Integer parts and fractions of each neighbour's (t, y, x) offset."""
    RX, RY, RT = radii
    Pmax = max(points)
    off = np.zeros((3, Pmax, 3), dtype=np.float64)
    for k, P in enumerate(points):
        a = _angles(P)
        c, s = np.cos(a), np.sin(a)
        if k == 0:
            off[k, :P, 1], off[k, :P, 2] = -RY * s, RX * c
        elif k == 1:
            off[k, :P, 0], off[k, :P, 2] = RT * s, RX * c
        else:
            off[k, :P, 0], off[k, :P, 1] = RT * c, -RY * s
    near = np.abs(off - np.round(off)) < 1e-9
    off[near] = np.round(off[near])
    whole = np.floor(off)
    return whole.astype(np.int64), off - whole


def _centre_bounds(shape, radii):
    T, H, W = shape
    RX, RY, RT = radii
    return RT, T - RT, RY, H - RY, RX, W - RX


@lru_cache(maxsize=64)
def _sampler(shape, radii, points, sampling):
    """Arguments of the kernels that say where each neighbour is (see ``_lbp_kernels``).

    Cached per clip shape: clips of one database usually share their size.
    The arrays are read-only.
    """
    out = _make_sampler(shape, radii, points, sampling)
    for a in out[1:]:
        a.flags.writeable = False
    return out


def _make_sampler(shape, radii, points, sampling):
    Pmax = max(points)
    dummy_tab = np.zeros((3, Pmax, 1), dtype=np.int64)
    if sampling == "bilinear":
        offsets, fractions = _bilinear_offsets(radii, points)
        return _k.BILINEAR, offsets, fractions, dummy_tab, dummy_tab, dummy_tab
    tt, ty, tx = _round_tables(shape, radii, points)
    t0, t1, y0, y1, x0, x1 = _centre_bounds(shape, radii)
    offsets = np.zeros((3, Pmax, 3), dtype=np.int64)
    constant = True
    for k, P in enumerate(points):
        for p in range(P):
            for axis, (tab, lo, hi) in enumerate(((tt, t0, t1), (ty, y0, y1), (tx, x0, x1))):
                d = tab[k, p, lo:hi] - np.arange(lo, hi)
                offsets[k, p, axis] = d[0]
                constant &= bool(np.all(d == d[0]))
    fractions = np.zeros((3, Pmax, 3), dtype=np.float64)
    if constant:
        return _k.ROUND_OFFSETS, offsets, fractions, dummy_tab, dummy_tab, dummy_tab
    return _k.ROUND_TABLES, offsets, fractions, tt, ty, tx


def lbp_top_codes(volume, radii=(3, 3, 3), points=8, sampling="round"):
    """Return the LBP codes of the three planes at every centre voxel.

    Parameters are those of :func:`lbp_top`. Returns a tuple of three int64
    arrays (XY, XT, YT), each shaped ``(T - 2 RT, H - 2 RY, W - 2 RX)``; entry
    ``[i, j, l]`` is the code of the voxel ``(RT + i, RY + j, RX + l)``.
    """
    radii = _check_radii(radii)
    points = _check_points(points)
    _check_choice(sampling, SAMPLINGS, "sampling")
    vol = _prepare_volume(volume)
    _check_size(vol.shape, radii)
    mode, offsets, fractions, tt, ty, tx = _sampler(vol.shape, radii, tuple(points), sampling)
    out = _k.codes(mode, vol, *_centre_bounds(vol.shape, radii), np.asarray(points, dtype=np.int64),
                   offsets, fractions, tt, ty, tx)
    return out[0], out[1], out[2]


# ---------------------------------------------------------------- histograms
def _block_index(size, n):
    """Block of each of ``size`` positions when split at floor(i * size / n)."""
    bounds = (np.arange(n + 1) * size) // n
    return np.searchsorted(bounds, np.arange(size), side="right") - 1


def lbp_top(volume, radii=(3, 3, 3), points=8, sampling="round", mapping="u2", grid=(1, 2, 4, 8)):
    """LBP-TOP feature vector of a grey volume.

    Parameters
    ----------
    volume : array-like, shape (T, H, W)
        Grey volume (frames first), uint8 or any real type (compared as
        float64).
    radii : (int, int, int)
        ``(RX, RY, RT)``, positive integers; the clip needs at least
        ``2 R + 1`` frames, rows and columns.
    points : int or (int, int, int)
        Neighbours per plane (XY, XT, YT), 2..16.
    sampling : {"round", "bilinear"}
        Neighbour value: voxel at the rounded coordinate (the reference's
        default) or bilinear interpolation.
    mapping : {"u2", "u2-matlab", "raw"}
        Bins per plane: uniform patterns (``P (P - 1) + 3`` bins; non-uniform
        bin last, or first with ``"u2-matlab"``) or all ``2^P`` codes.
    grid : sequence of int
        Spatial grids ``n`` (``n x n`` blocks each); ``(1,)`` gives the three
        whole-volume histograms.

    Returns
    -------
    features : ndarray of float64, shape (n_features,)
        Codes are computed once over the volume. The coded region (the
        centre voxels, ``Hc = H - 2 RY`` rows by ``Wc = W - 2 RX`` columns,
        all centre frames) is split, for each ``n`` in ``grid``, into ``n x
        n`` blocks with boundaries at ``floor(i * Hc / n)`` and ``floor(j *
        Wc / n)``, ``i, j = 0..n`` (block sizes differ by at most one). The
        vector is laid out by grid level (in the order given), then plane
        (XY, XT, YT), then block (row-major), then bin; every block
        histogram of every plane sums to 1. With the defaults (P = 8, u2,
        grids 1, 2, 4, 8): 85 blocks x 3 planes x 59 bins = 15045 values.
        :func:`lbp_top_layout` describes the layout.

    Raises
    ------
    InputError
        Bad parameters, a volume that is not 3-D or not finite, a clip
        smaller than ``2 R + 1`` along an axis, or a grid finer than the
        coded region (an empty block).
    """
    radii = _check_radii(radii)
    points = _check_points(points)
    _check_choice(sampling, SAMPLINGS, "sampling")
    _check_choice(mapping, MAPPINGS, "mapping")
    grid = _check_grid(grid)
    vol = _prepare_volume(volume)
    _check_size(vol.shape, radii)
    t0, t1, y0, y1, x0, x1 = _centre_bounds(vol.shape, radii)
    Hc, Wc = y1 - y0, x1 - x0
    if max(grid) > min(Hc, Wc):
        raise InputError(f"grid {max(grid)} x {max(grid)} is finer than the coded region "
                         f"{Hc} x {Wc} (rows x columns): some blocks would be empty", field="grid")

    # Count on the finest common grid when every grid nests in it (block
    # boundaries floor(i * S / n) are then a subset of the finest ones), so
    # each voxel is counted once per plane; otherwise count every grid.
    finest = math.lcm(*grid)
    counted = (finest,) if finest <= min(Hc, Wc) else grid
    H, W = vol.shape[1], vol.shape[2]
    row_blocks = np.zeros((len(counted), H), dtype=np.int64)
    col_blocks = np.zeros((len(counted), W), dtype=np.int64)
    for i, n in enumerate(counted):
        row_blocks[i, y0:y1] = _block_index(Hc, n)
        col_blocks[i, x0:x1] = _block_index(Wc, n)
    n_cols = np.asarray(counted, dtype=np.int64)
    level_offsets = np.concatenate([[0], np.cumsum([n * n for n in counted])[:-1]]).astype(np.int64)
    bins = [_n_bins(P, mapping) for P in points]
    luts = np.zeros((3, 2 ** max(points)), dtype=np.int64)
    for k, P in enumerate(points):
        luts[k, : 2 ** P] = _mapping_cached(P, mapping)[0]
    hist = np.zeros((3, int(sum(n * n for n in counted)), max(bins)), dtype=np.int64)
    mode, offsets, fractions, tt, ty, tx = _sampler(vol.shape, radii, points, sampling)
    _k.count(mode, vol, t0, t1, y0, y1, x0, x1, np.asarray(points, dtype=np.int64), offsets, fractions,
             tt, ty, tx, luts, row_blocks, col_blocks, n_cols, level_offsets, hist)

    parts = []
    for n in grid:
        if len(counted) == 1:
            f = finest // n
            level = hist.reshape(3, n, f, n, f, -1).sum(axis=(2, 4)).reshape(3, n * n, -1)
        else:
            i = counted.index(n)
            level = hist[:, level_offsets[i]: level_offsets[i] + n * n]
        for k in range(3):
            h = level[k, :, : bins[k]].astype(np.float64)
            parts.append((h / h.sum(axis=1, keepdims=True)).ravel())
    return np.concatenate(parts)
