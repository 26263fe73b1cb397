"""Temporal normalisation of a clip to a given number of frames.

Two methods:

- :func:`tim`, the temporal interpolation model of Zhou, Zhao & Pietikainen
  ("Towards a practical lipreading system", CVPR 2011), which Pfister et al.
  (ICCV 2011) used to bring micro-expression clips to a common length before
  LBP-TOP.
- :func:`linear`, plain linear interpolation between the two nearest frames.

TIM, from its definition. The ``n`` frames of a clip are the vertices of a
path graph (frame ``i`` linked to frame ``i + 1``). The eigenvectors of its
Laplacian ``L = D - A`` are, for ``k = 1..n-1`` (``k = 0`` is the constant
vector),

    y_k(i) = cos(pi k (i - 1/2) / n) = sin(pi k i / n + pi (n - k) / (2 n)),   i = 1..n,

the second form being the closed form Zhou et al. give, which extends to a
continuous curve ``F(t) = [sin(pi k t + pi (n - k) / (2 n))]_k`` on
``t in [1/n, 1]`` passing through the embedded frames at ``t = i / n``. A
linear map ``W`` takes the curve to the mean-removed frames,
``xi_i = W F(i / n)``: the ``n - 1`` eigenvectors are orthogonal, each with
squared norm ``n / 2``, and orthogonal to the constant vector, so the least
squares solution is exact and has the closed form
``W = (2 / n) Xi Y^T`` (``Xi`` the mean-removed frames as columns, ``Y`` the
``(n - 1) x n`` eigenvector matrix). New frames are ``W F(t) + mean`` at
``N`` positions evenly spaced over ``[1/n, 1]``, so the first and last frames
are kept. (Zhou et al. first reduce the frames with PCA; keeping all
components, as here, gives the same frames since the map is linear.)

What TIM gives: each pixel's time course is replaced by its cosine series
(the DCT-II interpolant of its ``n`` samples); it is exact at the original
frames and for any time course that is a combination of the ``n`` cosines,
but not linear between frames for a time course that is linear (a linear
ramp acquires small ripples, largest near the ends). (Equation numbers of
Zhou et al. are not cited: the derivation above is self-contained.)
"""

from __future__ import annotations

import numpy as np

from cdmer.errors import InputError

METHODS = ("tim", "linear")

__all__ = ["tim", "linear", "resample", "tim_matrix", "METHODS"]


def _check(volume, n_frames, *, path=None):
    volume = np.asarray(volume)
    if volume.ndim != 3 or 0 in volume.shape:
        raise InputError(f"expected a non-empty volume shaped (T, H, W), got shape {volume.shape}",
                         path=path, field="volume")
    if not (float(n_frames).is_integer() and n_frames >= 2):
        raise InputError(f"the target number of frames must be an integer >= 2, got {n_frames!r}",
                         field="frames")
    if volume.shape[0] < 2:
        raise InputError(f"temporal interpolation needs at least 2 frames, the clip has {volume.shape[0]}",
                         path=path, field="volume")
    return volume, int(n_frames)


def tim_curve(n, t):
    """The curve ``F(t)`` of a path graph with ``n`` vertices, shaped ``(n - 1, len(t))``."""
    k = np.arange(1, n)[:, None]
    t = np.asarray(t, dtype=np.float64)[None, :]
    return np.sin(np.pi * k * t + np.pi * (n - k) / (2.0 * n))


def tim_matrix(n, n_frames):
    """Matrix ``M`` (``n x N``) with new frames ``= mean + Xi M`` (``Xi`` mean-removed frames as columns)."""
    Y = tim_curve(n, np.arange(1, n + 1) / n)                  # eigenvectors at the frames
    positions = np.linspace(1.0 / n, 1.0, n_frames)
    return (2.0 / n) * Y.T @ tim_curve(n, positions)          # W F(t) with W = (2/n) Xi Y^T


def tim(volume, n_frames, *, path=None):
    """Resample a clip to ``n_frames`` frames with TIM; returns float64 ``(n_frames, H, W)``."""
    volume, N = _check(volume, n_frames, path=path)
    n = volume.shape[0]
    frames = volume.reshape(n, -1).astype(np.float64)
    mean = frames.mean(axis=0)
    out = tim_matrix(n, N).T @ (frames - mean) + mean
    return out.reshape((N,) + volume.shape[1:])


def linear(volume, n_frames, *, path=None):
    """Resample a clip to ``n_frames`` frames by linear interpolation at evenly spaced times.

    New frame ``j`` lies at ``j (T - 1) / (N - 1)`` in frame units (first and
    last frames kept). Returns float64 ``(n_frames, H, W)``.
    """
    volume, N = _check(volume, n_frames, path=path)
    n = volume.shape[0]
    pos = np.linspace(0.0, n - 1.0, N)
    lo = np.minimum(np.floor(pos).astype(int), n - 2)
    frac = (pos - lo)[:, None, None]
    v = volume.astype(np.float64)
    return v[lo] + frac * (v[lo + 1] - v[lo])


def resample(volume, n_frames, method="tim", *, path=None):
    """Resample a clip to ``n_frames`` frames with ``method`` (``"tim"`` or ``"linear"``)."""
    if method not in METHODS:
        raise InputError(f"expected one of {', '.join(METHODS)}, got {method!r}", field="interpolation")
    return (tim if method == "tim" else linear)(volume, n_frames, path=path)
