"""Clips: one face video clip, as a frame folder or a video file.

A :class:`Clip` says where a clip's frames are and what is known about it;
:func:`cdmer.io.video.read_clip` turns it into a grey volume. Database
loaders (:mod:`cdmer.io.databases`) return lists of clips.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Clip:
    """One clip.

    Parameters
    ----------
    clip_id : str
        Unique identifier within its database (e.g. ``sub01/EP02_01f``).
    path : Path
        The frame folder or the video file.
    frames : list of Path, optional
        The frame files to use, in temporal order, already restricted to the
        clip window (onset..offset) when one is known. ``None`` for a video
        file or to use every frame of the folder.
    subject : str
        Subject identifier.
    emotion : str
        The emotion as the database codes it (e.g. ``happiness``).
    label : str, optional
        The three-class label (``negative``, ``positive``, ``surprise``), or
        ``None`` when unknown or dropped.
    onset, apex, offset : int, optional
        Frame numbers as the database gives them (``apex`` may be unknown).
    database : str
        Database name (``CASME2``, ``SMIC_HS`` ...).
    info : dict
        Anything else the loader knows (action units, warnings, ...).
    """

    clip_id: str
    path: Path
    frames: list[Path] | None = None
    subject: str = ""
    emotion: str = ""
    label: str | None = None
    onset: int | None = None
    apex: int | None = None
    offset: int | None = None
    database: str = ""
    info: dict = field(default_factory=dict)


def clip_digest(clip) -> str:
    """SHA-256 (hex) of the CONTENT of a clip's files: what a per-clip cache is keyed on.

    The full bytes of every file are hashed (no size/mtime shortcut): for a
    video file its bytes; for a frame folder or a frame list each frame's
    name and bytes, in the order they are read. Replacing a video by another
    at the same path, or editing one frame, changes the digest; touching a
    file or moving a folder does not. Hashing reads each file once (about
    1 GB/s), much less than decoding and LBP-TOP cost.
    """
    from cdmer.errors import InputError
    from cdmer.io.video import list_frames

    h = hashlib.sha256()
    path = Path(clip.path)
    if clip.frames is not None:
        files = [Path(f) for f in clip.frames]
    elif not path.exists():
        raise InputError("no such file or folder", path=path)
    elif path.is_dir():
        files = list_frames(path)
    else:
        files = [path]
    for f in files:
        h.update(f.name.encode() + b"\0")
        try:
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        except OSError as exc:
            raise InputError(f"cannot read ({exc.strerror or exc})", path=f) from None
        h.update(b"\0")
    return h.hexdigest()
