"""Frame files of a clip folder: their order (:mod:`cdmer.io.video`) and their numbers.

Database folders hold one image per frame, named with a running number
(``img46.jpg``, ``reg_img46.jpg``, ``image000123.bmp``). Lexical order puts
``img100`` before ``img46``; frames are sorted *naturally* (digit runs compare
as integers), which is the temporal order in every supported layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from cdmer.io.video import frame_files as list_frames
from cdmer.io.video import natural_key

__all__ = ["frame_number", "list_frames", "natural_key"]

_DIGITS = re.compile(r"(\d+)")


def frame_number(path):
    """The frame number in a frame file name: its last digit run, or ``None``.

    ``img46.jpg`` and ``reg_img46.jpg`` are frame 46 (CASME II counts frames
    from 1 in its file names and its coding sheet alike).
    """
    runs = _DIGITS.findall(Path(path).stem)
    return int(runs[-1]) if runs else None
