"""Compiled inner loops of LBP-TOP (numba, ``nogil`` so that threads run in parallel).

The kernels walk the centre voxels row by row. For each row they first fill
one code buffer per plane (neighbour loop outside, voxel loop inside, over
contiguous row slices, so the compiler can vectorise it), then either add
every code, mapped to its bin, to the histogram of the block the voxel lies
in (:func:`count`) or copy the codes out (:func:`codes`, for inspection and
tests). Both share the same row functions. Nothing here allocates per voxel
or calls back into Python.

Neighbour ``p`` of plane ``k`` of the centre ``(t, y, x)`` is found in one of
three ways (``mode``):

- ``ROUND_OFFSETS``: at ``(t, y, x) + offsets[k, p]`` (rounded sampling whose
  rounded offset is the same for every centre, the usual case);
- ``ROUND_TABLES``: at ``(tt[k, p, t], ty[k, p, y], tx[k, p, x])`` (rounded
  sampling in general: the reference rounds ``c + offset`` per coordinate,
  which for offsets within an ulp of a half integer depends on ``c``);
- ``BILINEAR``: interpolated at ``(t, y, x) + offsets[k, p] +
  fractions[k, p]`` (integer part, then a fraction in [0, 1) per axis).
"""

import numpy as np
from numba import njit

ROUND_OFFSETS = 0
ROUND_TABLES = 1
BILINEAR = 2


@njit(cache=True, nogil=True)
def _row_offsets(vol, t, y, x0, nx, points, offsets, codes):
    centre = vol[t, y, x0:x0 + nx]
    for k in range(points.shape[0]):
        row = codes[k]
        row[:] = 0
        for p in range(points[k]):
            xs = x0 + offsets[k, p, 2]
            nb = vol[t + offsets[k, p, 0], y + offsets[k, p, 1], xs:xs + nx]
            for i in range(nx):
                row[i] |= np.int32(nb[i] >= centre[i]) << np.int32(p)


@njit(cache=True, nogil=True)
def _row_tables(vol, t, y, x0, nx, points, tt, ty, tx, codes):
    for k in range(points.shape[0]):
        row = codes[k]
        row[:] = 0
        for p in range(points[k]):
            plane = vol[tt[k, p, t], ty[k, p, y]]
            xmap = tx[k, p]
            for i in range(nx):
                if plane[xmap[x0 + i]] >= vol[t, y, x0 + i]:
                    row[i] |= np.int32(1) << np.int32(p)


@njit(cache=True, nogil=True)
def _row_bilinear(vol, t, y, x0, nx, points, offsets, fractions, codes):
    # Linear interpolation along each axis as a + f (b - a) (x, then y, then
    # t): equal corner values give exactly that value, and a zero fraction
    # reads the grid voxel itself (b is then a).
    centre = vol[t, y, x0:x0 + nx]
    for k in range(points.shape[0]):
        row = codes[k]
        row[:] = 0
        for p in range(points[k]):
            ft = fractions[k, p, 0]
            fy = fractions[k, p, 1]
            fx = fractions[k, p, 2]
            ta = t + offsets[k, p, 0]
            ya = y + offsets[k, p, 1]
            tb = ta + (1 if ft > 0.0 else 0)
            yb = ya + (1 if fy > 0.0 else 0)
            xa = x0 + offsets[k, p, 2]
            xb = xa + (1 if fx > 0.0 else 0)
            a00, b00 = vol[ta, ya, xa:xa + nx], vol[ta, ya, xb:xb + nx]
            a01, b01 = vol[ta, yb, xa:xa + nx], vol[ta, yb, xb:xb + nx]
            a10, b10 = vol[tb, ya, xa:xa + nx], vol[tb, ya, xb:xb + nx]
            a11, b11 = vol[tb, yb, xa:xa + nx], vol[tb, yb, xb:xb + nx]
            bit = np.int32(p)
            # The branches drop only the terms whose fraction is zero (they
            # are then exactly zero), so each gives bit-identical values to
            # the general expression at the end.
            if ft == 0.0 and fy == 0.0 and fx == 0.0:
                for i in range(nx):
                    row[i] |= np.int32(np.float64(a00[i]) >= np.float64(centre[i])) << bit
            elif ft == 0.0:
                for i in range(nx):
                    v00 = np.float64(a00[i])
                    v00 = v00 + fx * (np.float64(b00[i]) - v00)
                    v01 = np.float64(a01[i])
                    v01 = v01 + fx * (np.float64(b01[i]) - v01)
                    row[i] |= np.int32(v00 + fy * (v01 - v00) >= np.float64(centre[i])) << bit
            elif fy == 0.0:
                for i in range(nx):
                    v00 = np.float64(a00[i])
                    v00 = v00 + fx * (np.float64(b00[i]) - v00)
                    v10 = np.float64(a10[i])
                    v10 = v10 + fx * (np.float64(b10[i]) - v10)
                    row[i] |= np.int32(v00 + ft * (v10 - v00) >= np.float64(centre[i])) << bit
            elif fx == 0.0:
                for i in range(nx):
                    v0 = np.float64(a00[i])
                    v0 = v0 + fy * (np.float64(a01[i]) - v0)
                    v1 = np.float64(a10[i])
                    v1 = v1 + fy * (np.float64(a11[i]) - v1)
                    row[i] |= np.int32(v0 + ft * (v1 - v0) >= np.float64(centre[i])) << bit
            else:
                for i in range(nx):
                    v00 = np.float64(a00[i])
                    v00 = v00 + fx * (np.float64(b00[i]) - v00)
                    v01 = np.float64(a01[i])
                    v01 = v01 + fx * (np.float64(b01[i]) - v01)
                    v10 = np.float64(a10[i])
                    v10 = v10 + fx * (np.float64(b10[i]) - v10)
                    v11 = np.float64(a11[i])
                    v11 = v11 + fx * (np.float64(b11[i]) - v11)
                    v0 = v00 + fy * (v01 - v00)
                    v1 = v10 + fy * (v11 - v10)
                    row[i] |= np.int32(v0 + ft * (v1 - v0) >= np.float64(centre[i])) << bit


@njit(cache=True, nogil=True)
def _row(mode, vol, t, y, x0, nx, points, offsets, fractions, tt, ty, tx, codes):
    if mode == ROUND_OFFSETS:
        _row_offsets(vol, t, y, x0, nx, points, offsets, codes)
    elif mode == ROUND_TABLES:
        _row_tables(vol, t, y, x0, nx, points, tt, ty, tx, codes)
    else:
        _row_bilinear(vol, t, y, x0, nx, points, offsets, fractions, codes)


@njit(cache=True, nogil=True)
def count(mode, vol, t0, t1, y0, y1, x0, x1, points, offsets, fractions, tt, ty, tx, luts,
          row_blocks, col_blocks, n_cols, level_offsets, hist):
    """Add the codes of the centre voxels to ``hist`` (planes x blocks x bins).

    The centre voxels are ``t0 <= t < t1``, ``y0 <= y < y1``,
    ``x0 <= x < x1``. ``row_blocks[l, y]`` and ``col_blocks[l, x]`` give the
    block row and column of voxel ``(y, x)`` in counted grid ``l``, which has
    ``n_cols[l]`` block columns and whose first block is
    ``level_offsets[l]``; ``luts[k]`` maps a code of plane ``k`` to its bin.
    """
    nx = x1 - x0
    codes = np.zeros((points.shape[0], nx), dtype=np.int32)
    for t in range(t0, t1):
        for y in range(y0, y1):
            _row(mode, vol, t, y, x0, nx, points, offsets, fractions, tt, ty, tx, codes)
            for k in range(points.shape[0]):
                lut = luts[k]
                row = codes[k]
                h = hist[k]
                for lev in range(row_blocks.shape[0]):
                    base = level_offsets[lev] + row_blocks[lev, y] * n_cols[lev]
                    cols = col_blocks[lev]
                    for i in range(nx):
                        h[base + cols[x0 + i], lut[row[i]]] += 1


@njit(cache=True, nogil=True)
def codes(mode, vol, t0, t1, y0, y1, x0, x1, points, offsets, fractions, tt, ty, tx):
    """Return the codes of the centre voxels, shaped (planes, T', H', W')."""
    nx = x1 - x0
    buf = np.zeros((points.shape[0], nx), dtype=np.int32)
    out = np.zeros((points.shape[0], t1 - t0, y1 - y0, nx), dtype=np.int64)
    for t in range(t0, t1):
        for y in range(y0, y1):
            _row(mode, vol, t, y, x0, nx, points, offsets, fractions, tt, ty, tx, buf)
            out[:, t - t0, y - y0, :] = buf
    return out
