"""Benchmark of LBP-TOP: the numba extractor against a vectorised NumPy transcription.

Run from the repository root::

    python benchmarks/bench_lbptop.py            # kernels + a CASME II-sized run
    python benchmarks/bench_lbptop.py --quick    # kernels only

1. Throughput, in centre voxels per second on one core, of the full
   three-plane, four-level (1, 2, 4, 8 grids) u2 extraction with R = 3, P = 8,
   rounded sampling, for a 308 x 257 x 60 clip and a 112 x 112 x 10 clip,
   measured side by side (interleaved, best of several runs) for
   :func:`cdmer.features.lbptop.lbp_top` and for the NumPy transcription of
   the same definition below; both outputs are checked equal. The last
   column is ``lbp_top`` with bilinear sampling, for reference.
2. A whole "CASME II-sized" extraction: 148 synthetic clips of 67 frames of
   308 x 257 pixels (width x height) written as JPEG frame folders to a
   temporary folder, extracted with 2 jobs, timed from the folders to the
   feature set (the writing is timed separately).

The machine may be shared: compare ratios measured in the same run, not
absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np


# --------------------------------------------------------- NumPy transcription
def _u2_lut(P):
    codes = np.arange(2 ** P)
    rot = ((codes << 1) | (codes >> (P - 1))) & (2 ** P - 1)
    x = codes ^ rot
    trans = sum((x >> b) & 1 for b in range(P))
    uniform = codes[trans <= 2]
    lut = np.full(2 ** P, uniform.size, dtype=np.int64)
    lut[uniform] = np.arange(uniform.size)
    return lut, uniform.size + 1


def numpy_lbp_top(vol, R=3, P=8, grid=(1, 2, 4, 8)):
    """LBP-TOP (rounded sampling, u2, block grids) with whole-array NumPy operations.

    Offsets rounded half up once per neighbour (identical to the reference's
    per-coordinate rounding for R = 3, P = 8); codes of each plane by shifted
    slices of the volume; block histograms with ``np.bincount``.
    """
    T, H, W = vol.shape
    lut, nbins = _u2_lut(P)
    centre = vol[R:T - R, R:H - R, R:W - R]
    feats = []
    codes = []
    for plane in range(3):
        code = np.zeros(centre.shape, dtype=np.int64)
        for p in range(P):
            a = (2 * math.pi * p) / P
            c, s = R * math.cos(a), R * math.sin(a)
            d = [(0, -s, c), (s, 0, c), (c, -s, 0)][plane]
            dt, dy, dx = (math.floor(v + 0.5) for v in d)
            nb = vol[R + dt:T - R + dt, R + dy:H - R + dy, R + dx:W - R + dx]
            code |= (nb >= centre).astype(np.int64) << p
        codes.append(lut[code])
    Tc, Hc, Wc = centre.shape
    for n in grid:
        rows = np.searchsorted((np.arange(n + 1) * Hc) // n, np.arange(Hc), side="right") - 1
        cols = np.searchsorted((np.arange(n + 1) * Wc) // n, np.arange(Wc), side="right") - 1
        block = (rows[:, None] * n + cols[None, :])[None]
        for plane in range(3):
            h = np.bincount((block * nbins + codes[plane]).ravel(), minlength=n * n * nbins)
            h = h.reshape(n * n, nbins).astype(np.float64)
            feats.append((h / h.sum(axis=1, keepdims=True)).ravel())
    return np.concatenate(feats)


# ----------------------------------------------------------------- kernels
def bench_kernels(repeats):
    from cdmer.features.lbptop import lbp_top

    rng = np.random.default_rng(0)
    print("Full three-plane, 4-level (1,2,4,8) u2 LBP-TOP, R = 3, P = 8, rounded sampling, one thread")
    print(f"{'clip (W x H x T)':>20} {'centre voxels':>14} {'numba Mvox/s':>13} {'numpy Mvox/s':>13} "
          f"{'ratio':>7} {'bilinear Mvox/s':>16}")
    rows = []
    for W, H, T in ((308, 257, 60), (112, 112, 10)):
        vol = rng.integers(0, 256, size=(T, H, W), dtype=np.uint8)
        n_vox = (T - 6) * (H - 6) * (W - 6)
        a = lbp_top(vol)      # compiles (or loads the cache) once
        b = numpy_lbp_top(vol)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
        lbp_top(vol, sampling="bilinear")
        t_numba, t_numpy, t_bilinear = [], [], []
        for _ in range(repeats):    # interleaved, so all see the same load
            t0 = time.perf_counter()
            lbp_top(vol)
            t_numba.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            numpy_lbp_top(vol)
            t_numpy.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            lbp_top(vol, sampling="bilinear")
            t_bilinear.append(time.perf_counter() - t0)
        vn, vp, vb = (n_vox / min(t) / 1e6 for t in (t_numba, t_numpy, t_bilinear))
        print(f"{f'{W} x {H} x {T}':>20} {n_vox:>14,d} {vn:>13.1f} {vp:>13.1f} {vn / vp:>6.1f}x {vb:>16.1f}")
        rows.append((W, H, T, n_vox, vn, vp, vb))
    return rows


# ------------------------------------------------------- CASME II-sized run
def _synthetic_clip(rng, T, H, W):
    """A smooth moving pattern plus noise, so the JPEGs look like images, not pure noise."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    fx, fy, phase = rng.uniform(0.02, 0.08, size=3)
    frames = []
    for t in range(T):
        base = 128 + 60 * np.sin(fx * x + fy * y + phase + 0.05 * t)
        frames.append(np.clip(base + rng.normal(0, 12, size=(H, W)), 0, 255).astype(np.uint8))
    return frames


def bench_database(n_clips, n_jobs, workdir=None):
    import cv2

    from cdmer.features.extract import extract_features

    W, H, T = 308, 257, 67
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        folders = []
        for i in range(n_clips):
            folder = tmp / f"clip{i:03d}"
            folder.mkdir()
            for j, frame in enumerate(_synthetic_clip(rng, T, H, W)):
                cv2.imwrite(str(folder / f"img{j + 1}.jpg"), frame)
            folders.append(folder)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        fs, failures = extract_features(folders, n_jobs=n_jobs, cache_dir=tmp / "cache", progress=False)
        t_extract = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_features(folders, n_jobs=n_jobs, cache_dir=tmp / "cache", progress=False)
        t_resume = time.perf_counter() - t0
    assert not failures and fs.X.shape == (n_clips, 15045)
    n_vox = n_clips * (T - 6) * (H - 6) * (W - 6)
    print(f"\nCASME II-sized run: {n_clips} clips of {W} x {H} x {T} (JPEG frame folders), {n_jobs} jobs")
    print(f"  writing the JPEGs:           {t_write:6.1f} s ({n_clips * T} files)")
    print(f"  extraction (read + LBP-TOP): {t_extract:6.1f} s  ({n_clips / t_extract:.1f} clips/s, "
          f"{n_vox / t_extract / 1e6:.0f} M centre voxels/s overall)")
    print(f"  resumed run (all cached):    {t_resume:6.2f} s")
    return t_write, t_extract, t_resume


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="kernels only, no CASME II-sized run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=148)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"cores visible: {os.cpu_count()}")
    bench_kernels(args.repeats)
    if not args.quick:
        bench_database(args.clips, args.jobs)


if __name__ == "__main__":
    main()
