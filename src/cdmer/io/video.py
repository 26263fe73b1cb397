"""Reading clips: frame folders, lists of frame files and video files -> grey volumes.

A clip becomes a grey ``uint8`` volume shaped ``(T, H, W)`` (frames first).
Colour frames are converted with the luma weights of ITU-R BT.601,
``Y = 0.299 R + 0.587 G + 0.114 B``, computed in double precision and rounded
half up (OpenCV's ``cvtColor(BGR2GRAY)`` uses the same weights in 14-bit fixed
point, which can differ by one grey level on rare pixels; doing it here makes
the result independent of the OpenCV build). Grey images are kept as they
are (not expanded to colour and back); 16-bit images are scaled to 8 bits
(``v / 257``, rounded).

Every problem with the input is an :class:`~cdmer.errors.InputError` naming
the file or folder: a missing path, a folder without frames, an unreadable
or truncated image, a video that decodes to no frame, frames of different
sizes within a clip.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cdmer.errors import InputError

#: Extensions of frame images (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
#: Extensions of video files read with OpenCV's VideoCapture (lower case).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")

__all__ = ["read_frames", "read_clip", "frame_files", "list_frames", "natural_key", "to_grey",
           "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]


def natural_key(path):
    """Sort key putting ``img2`` before ``img10`` (digit runs compare as numbers)."""
    name = Path(path).name
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", name) if part != ""] + [(2, 0, name)]


def frame_files(folder):
    """The frame images of an existing ``folder`` in natural order; empty when it has none.

    Hidden files (``.DS_Store``) and other files (``Thumbs.db``) are not frames.
    """
    return sorted((p for p in Path(folder).iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS),
                  key=natural_key)


def list_frames(folder):
    """Return the frame images of ``folder`` in natural order; an error when there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError("no such folder", path=folder)
    if not folder.is_dir():
        raise InputError("not a folder", path=folder)
    frames = frame_files(folder)
    if not frames:
        raise InputError(f"no frames in folder (expected images: {', '.join(IMAGE_EXTENSIONS)})",
                         path=folder)
    return frames


def to_grey(image):
    """Grey ``uint8`` image from a grey, BGR or BGRA ``uint8`` image (BT.601 luma, rounded half up)."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image
    b = image[..., 0].astype(np.float64)
    g = image[..., 1].astype(np.float64)
    r = image[..., 2].astype(np.float64)
    return np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5).astype(np.uint8)


def _read_image(path):
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError("no such frame file", path=path)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise InputError("empty image file", path=path)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        # libjpeg decodes a truncated file with a warning, filling the rest
        # grey; refuse it instead. A JPEG ends with the EOI marker FF D9
        # (some writers pad with zero bytes after it).
        tail = np.trim_zeros(data[-64:], "b")
        if tail.size < 2 or tail[-2] != 0xFF or tail[-1] != 0xD9:
            raise InputError("truncated JPEG image (no end-of-image marker)", path=path)
    image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise InputError("not a readable image", path=path)
    if image.dtype == np.uint16:
        image = np.floor(image / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"unsupported image type {image.dtype} (expected 8- or 16-bit)", path=path)
    return to_grey(image)


def _quiet_decoder():
    """Silence FFmpeg's own log lines ("moov atom not found") on the process's stderr.

    OpenCV's FFmpeg backend reads ``OPENCV_FFMPEG_LOGLEVEL`` when it opens a
    file; -8 is FFmpeg's ``AV_LOG_QUIET``. A decoding problem still reaches
    the user, as this module's one-line :class:`InputError`. A value the user
    set (to debug a video) is kept. FFmpeg reads the level once, at the
    process's first open: a program that opened a video with OpenCV before
    calling cdmer keeps its own level.
    """
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _read_video(path):
    _quiet_decoder()
    import cv2

    path = Path(path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError("not a readable video file", path=path)
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(to_grey(frame))
    finally:
        cap.release()
    if not frames:
        raise InputError("the video decodes to zero frames (unreadable or truncated)", path=path)
    return _stack(frames, [f"{path} frame {i}" for i in range(len(frames))], path)


def _stack(frames, names, where):
    shape = frames[0].shape
    for frame, name in zip(frames, names):
        if frame.shape != shape:
            raise InputError(f"frame of size {frame.shape[1]} x {frame.shape[0]} (width x height) in a "
                             f"clip whose first frame is {shape[1]} x {shape[0]} ({name})", path=where)
    return np.ascontiguousarray(np.stack(frames))


def read_frames(path_or_list):
    """Read a clip as a grey volume.

    Parameters
    ----------
    path_or_list : str, Path or sequence of them
        A folder of frame images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``,
        ``.tif``; read in natural order, ``img2`` before ``img10``), an
        explicit list of frame files (read in the given order), or a video
        file (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, decoded with OpenCV).

    Returns
    -------
    volume : ndarray of uint8, shape (T, H, W)
    """
    if isinstance(path_or_list, (list, tuple)):
        paths = [Path(p) for p in path_or_list]
        if not paths:
            raise InputError("empty list of frames", field="frames")
        where = paths[0].parent
        return _stack([_read_image(p) for p in paths], [str(p) for p in paths], where)
    path = Path(path_or_list)
    if not path.exists():
        raise InputError("no such file or folder", path=path)
    if path.is_dir():
        paths = list_frames(path)
        return _stack([_read_image(p) for p in paths], [str(p) for p in paths], path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return _read_video(path)
    if suffix in IMAGE_EXTENSIONS:
        return _read_image(path)[None]
    raise InputError(f"unknown clip type '{path.suffix}' (expected a frame folder, an image "
                     f"({', '.join(IMAGE_EXTENSIONS)}) or a video ({', '.join(VIDEO_EXTENSIONS)}))",
                     path=path)


def read_clip(clip):
    """Read a :class:`cdmer.io.clips.Clip`: its ``frames`` if set, else its ``path``.

    ``clip.frames`` is already restricted to the clip window by the database
    loader; this function reads what it is given.
    """
    if clip.frames is not None:
        if len(clip.frames) == 0:
            raise InputError(f"clip '{clip.clip_id}' has an empty frame list", path=clip.path,
                             field="frames")
        return read_frames(list(clip.frames))
    return read_frames(clip.path)
