"""Clips: one face video clip, as a frame folder or a video file.

A :class:`Clip` says where a clip's frames are and what is known about it;
:func:`cdmer.io.video.read_clip` turns it into a grey volume. Database
loaders (:mod:`cdmer.io.databases`) return lists of clips.
"""

from __future__ import annotations

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
