"""LBP-TOP features of many clips -> :class:`~cdmer.io.featureset.FeatureSet`.

Each clip goes through: read (:func:`cdmer.io.video.read_clip`), optional
face crop and resize (:func:`cdmer.io.face.crop_faces`), optional temporal
normalisation to ``frames`` frames (:mod:`cdmer.io.temporal`; the
interpolated frames are rounded to ``uint8`` and clipped to 0..255, as
frames written to image files would be, so that flat regions keep their
exact ties), then :func:`cdmer.features.lbptop.lbp_top`.

Runs resume: each clip's vector is written atomically to ``cache_dir`` as
``<clip id>-<key>.npy`` (plus a ``.json`` with its frame counts and face
box), the key covering the extractor parameters and the clip's CONTENT (the
full SHA-256 of its files, :func:`cdmer.io.clips.clip_digest`), so a second
run with the same inputs reads the cached vectors and computes nothing, and
another video at the same path is extracted afresh. Clips run in parallel threads (joblib):
the LBP-TOP kernel is compiled with numba ``nogil``, and OpenCV and NumPy
release the GIL too.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from cdmer.errors import InputError
from cdmer.features.lbptop import lbp_top, lbp_top_layout
from cdmer.io.atomic import atomic_path, write_json
from cdmer.io.clips import Clip, clip_digest
from cdmer.io.extraction import canonical_record, to_json
from cdmer.io.featureset import FeatureSet
from cdmer.io.provenance import versions

__all__ = ["extract_features", "as_clips"]

_CACHE_VERSION = 2  # 2: keyed on the clips' content, canonical records


def as_clips(items):
    """Turn paths (frame folders, video files) and :class:`Clip` objects into clips.

    A path's clip id is its name (without the suffix for a file); when two
    names collide, the full paths are the ids.
    """
    items = list(items)
    paths = [Path(i) for i in items if not isinstance(i, Clip)]
    names = [p.stem if p.suffix else p.name for p in paths]
    unique = len(set(names)) == len(names)
    clips, j = [], 0
    for item in items:
        if isinstance(item, Clip):
            clips.append(item)
            continue
        path = paths[j]
        clips.append(Clip(clip_id=names[j] if unique else str(path), path=path))
        j += 1
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise InputError(f"clip ids must be unique; repeated: {', '.join(dup[:5])}", field="clip_id")
    return clips


def _params(radii, points, sampling, mapping, grid, face, resize, frames, interpolation):
    """The canonical record (:mod:`cdmer.io.extraction`) of these arguments, and the layout."""
    if face is not None and resize is not None:
        raise InputError("give the output size in face['size'] when cropping faces, not resize",
                         field="resize")
    if resize is not None:
        from cdmer.io.face import check_size

        resize = list(check_size(resize))
    if face is not None:
        face = dict(face)
        unknown = set(face) - {"size", "margin", "on_no_face"}
        if unknown:
            raise InputError(f"unknown face options {sorted(unknown)} (expected size, margin, on_no_face)",
                             field="face")
        if face.get("size") is not None:
            from cdmer.io.face import check_size

            face["size"] = list(check_size(face["size"]))
        if face.get("on_no_face", "error") not in ("error", "center", "full"):
            raise InputError(f"expected error, center or full, got {face['on_no_face']!r}", field="on_no_face")
    if frames is not None and not (float(frames).is_integer() and frames >= 2):
        raise InputError(f"frames must be an integer >= 2 or None, got {frames!r}", field="frames")
    if interpolation not in ("tim", "linear"):
        raise InputError(f"expected tim or linear, got {interpolation!r}", field="interpolation")
    layout = lbp_top_layout(radii=radii, points=points, sampling=sampling, mapping=mapping, grid=grid)
    record = canonical_record({
        "radii": layout["radii"], "points": layout["points"], "sampling": sampling, "mapping": mapping,
        "grid": layout["grid"],
        "face": face is not None,
        "size": (face or {}).get("size") if face is not None else resize,
        "margin": None if face is None else float(face.get("margin", 0.1)),
        "on_no_face": None if face is None else face.get("on_no_face", "error"),
        "frames": None if frames is None else int(frames),
        "interpolation": interpolation if frames is not None else None,
    })
    return to_json(record), layout


def _cache_stem(clip, params, digest):
    """File stem of a clip's cache entry: its id and a hash of its CONTENT digest and the parameters.

    The clip's path is not part of the key: the same bytes at another path
    reuse the entry, other bytes at the same path do not.
    """
    blob = json.dumps({"v": _CACHE_VERSION, "params": params, "content_sha256": digest}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", clip.clip_id).strip("._") or "clip"
    return f"{safe[:80]}-{key}"


def _compute(clip, params):
    from cdmer.io.face import crop_faces
    from cdmer.io.temporal import resample
    from cdmer.io.video import read_clip

    volume = read_clip(clip)
    info = {"frames_in": int(volume.shape[0]), "face": None}
    if params["face"]:
        volume, info["face"] = crop_faces(volume, params["size"], margin=params["margin"],
                                          on_no_face=params["on_no_face"], path=clip.path)
    elif params["size"] is not None:
        from cdmer.io.face import resize_frames

        volume = resize_frames(volume, params["size"])
    if params["frames"] is not None:
        volume = resample(volume, params["frames"], params["interpolation"], path=clip.path)
        volume = np.clip(np.floor(volume + 0.5), 0, 255).astype(np.uint8)
    info["frames_out"] = int(volume.shape[0])
    info["size"] = [int(volume.shape[2]), int(volume.shape[1])]
    try:
        x = lbp_top(volume, radii=params["radii"], points=params["points"], sampling=params["sampling"],
                    mapping=params["mapping"], grid=params["grid"])
    except InputError as exc:
        raise InputError(exc.reason, path=clip.path, field=exc.field) from None
    return x, info


def _cached(clip, params, cache_dir):
    """``(digest, npy, json, hit)``: the clip's content digest, cache files and cached result (or None)."""
    digest = clip_digest(clip)
    if cache_dir is None:
        return digest, None, None, None
    stem = _cache_stem(clip, params, digest)
    npy, json_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    if npy.is_file() and json_path.is_file():
        try:
            info = json.loads(json_path.read_text(encoding="utf-8"))
            return digest, npy, json_path, (np.load(npy, allow_pickle=False), info)
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    return digest, npy, json_path, None


def _safe_compute(clip, params):
    """``(vector, info, None)`` or ``(None, None, reason)``: one clip, never raising for its input."""
    try:
        x, info = _compute(clip, params)
    except InputError as exc:
        return None, None, str(exc)
    except (OSError, MemoryError) as exc:
        return None, None, f"{clip.path}: {type(exc).__name__}: {exc}"
    return x, info, None


def _store(npy, json_path, x, info):
    """Write a cache entry (on the client, as results arrive): the vector first, then its record."""
    with atomic_path(npy) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, x, allow_pickle=False)
    write_json(json_path, info)


def _one(clip, params, cache_dir):
    """Return ``(vector, info, None)`` or ``(None, None, reason)`` for one clip (local, cache included)."""
    try:
        digest, npy, json_path, hit = _cached(clip, params, cache_dir)
    except InputError as exc:
        return None, None, str(exc)
    if hit is not None:
        x, info = hit
        return x, {**info, "content_sha256": digest}, None
    x, info, reason = _safe_compute(clip, params)
    if reason is None:
        info = {**info, "content_sha256": digest}
        if npy is not None:
            _store(npy, json_path, x, info)
    return x, info, reason


def _absolute(clip):
    """``clip`` with its folder or file and frame paths made absolute (for workers on other machines)."""
    from dataclasses import replace

    frames = None if clip.frames is None else [Path(f).absolute() for f in clip.frames]
    return replace(clip, path=Path(clip.path).absolute(), frames=frames)


def _run_on_cluster(clips, params, cache_dir, jobs, scheduler, bar):
    """Extract on a Dask cluster through :func:`cdmer.parallel.get_executor`; the client reads and
    writes the cache, the workers compute the clips that are not cached."""
    from cdmer.parallel import get_executor

    results = [None] * len(clips)
    todo = []
    for i, clip in enumerate(clips):
        try:
            digest, npy, json_path, hit = _cached(clip, params, cache_dir)
        except InputError as exc:
            results[i] = (None, None, str(exc))
            bar.update()
            continue
        if hit is not None:
            results[i] = (hit[0], {**hit[1], "content_sha256": digest}, None)
            bar.update()
        else:
            todo.append((i, digest, npy, json_path))
    if todo:
        with get_executor(jobs, scheduler) as ex:
            # workers resolve paths in their own working directory: send absolute ones
            args = [(_absolute(clips[i]), params) for i, *_ in todo]
            for k, res in ex.imap_unordered(_safe_compute, args):
                i, digest, npy, json_path = todo[k]
                if isinstance(res, BaseException):
                    res = (None, None, f"{type(res).__name__}: {res}")
                x, info, reason = res
                if reason is None:
                    info = {**info, "content_sha256": digest}
                    if npy is not None:
                        _store(npy, json_path, x, info)
                results[i] = (x, info, reason)
                bar.update()
    return results


def extract_features(clips, out_path=None, *, radii=(3, 3, 3), points=8, sampling="round", mapping="u2",
                     grid=(1, 2, 4, 8), face=None, frames=None, interpolation="tim", n_jobs=1,
                     cache_dir=None, progress=True, database="", resize=None, scheduler=None):
    """Extract LBP-TOP features of many clips.

    Parameters
    ----------
    clips : sequence of Clip, str or Path
        Clips, frame folders or video files (see :func:`as_clips`).
    out_path : str or Path, optional
        Save the :class:`FeatureSet` there (``.npz``, atomically).
    radii, points, sampling, mapping, grid
        LBP-TOP parameters (:func:`cdmer.features.lbptop.lbp_top`).
    face : dict, optional
        Crop faces first: ``size`` (width, height) or ``None`` to keep the
        crop size, ``margin`` (fraction, default 0.1), ``on_no_face``
        (``"error"``, ``"center"``, ``"full"``); see :mod:`cdmer.io.face`.
        ``None``: use the frames as they are.
    resize : (int, int), optional
        Without ``face``: resize whole frames to (width, height).
    frames : int, optional
        Temporal normalisation to this many frames (``None``: keep).
    interpolation : {"tim", "linear"}
        Method of the temporal normalisation.
    n_jobs : int
        Clips extracted in parallel (threads); ``-1`` for all cores.
    scheduler : str, optional
        Address of a Dask scheduler: the clips run there as independent
        tasks (:func:`cdmer.parallel.get_executor`); this process reads and
        writes the cache.
    cache_dir : str or Path, optional
        Folder of per-clip results, for resuming (``None``: no cache). An
        entry is keyed on the clip's content (:func:`cdmer.io.clips.clip_digest`,
        full SHA-256 of its files) and the parameters, never on its path.
    progress : bool
        Show a progress bar (tqdm, on stderr).
    database : str
        Database name stored in the set (default: the clips' common
        ``database`` if they have one).

    Returns
    -------
    features : FeatureSet
        One row per clip that was extracted, in input order. ``labels`` are
        the clips' labels when every extracted clip has one, else ``None``.
        ``extraction`` holds the parameters, ``layout``
        (:func:`lbp_top_layout`), ``versions`` and per-clip ``frames_in``,
        ``frames_out`` (before and after temporal normalisation) and
        ``face_boxes``.
    failures : list of (clip_id, path, reason)
        Clips that could not be read or extracted; the others are not
        affected.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    clips = as_clips(clips)
    params, layout = _params(radii, points, sampling, mapping, grid, face, resize, frames, interpolation)
    if cache_dir is not None:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)

    results = [None] * len(clips)
    bar = tqdm(total=len(clips), desc="LBP-TOP", unit="clip", disable=not progress)
    try:
        if scheduler is not None:
            results = _run_on_cluster(clips, params, cache_dir, n_jobs, scheduler, bar)
        elif n_jobs == 1 or len(clips) <= 1:
            for i, clip in enumerate(clips):
                results[i] = _one(clip, params, cache_dir)
                bar.update()
        else:
            jobs = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
                delayed(_one)(clip, params, cache_dir) for clip in clips)
            for i, res in enumerate(jobs):
                results[i] = res
                bar.update()
    finally:
        bar.close()

    rows, kept, infos, failures = [], [], [], []
    for clip, (x, info, reason) in zip(clips, results):
        if reason is not None:
            failures.append((clip.clip_id, str(clip.path), reason))
            continue
        rows.append(x)
        kept.append(clip)
        infos.append(info)
    labels = [c.label for c in kept]
    if not database:
        names = {c.database for c in kept if c.database}
        database = names.pop() if len(names) == 1 else ""
    extraction = {"method": "LBP-TOP", **params}
    if params["frames"] is not None:
        extraction["interpolated_frames"] = "rounded to uint8"
    extraction.update({
        "layout": layout,
        "versions": versions(),
        "frames_in": [i["frames_in"] for i in infos],
        "frames_out": [i["frames_out"] for i in infos],
        "face_boxes": [None if i["face"] is None else i["face"] for i in infos],
        "content_sha256": [i.get("content_sha256") for i in infos],
        "n_failed": len(failures),
    })
    X = np.vstack(rows) if rows else np.zeros((0, layout["n_features"]))
    fs = FeatureSet(
        X=X,
        labels=labels if kept and all(lab is not None for lab in labels) else None,
        sample_ids=[c.clip_id for c in kept],
        subjects=[c.subject for c in kept],
        database=database,
        extraction=extraction,
    )
    if out_path is not None:
        fs.save(out_path, failures=[list(f) for f in failures])
    return fs, failures
