"""Face detection and cropping of a clip (one box for the whole clip).

The box comes from OpenCV's frontal-face Haar cascade
(``haarcascade_frontalface_default.xml``) run on the **first frame** of the
clip: micro-expression clips start at the onset, a neutral face, and the head
barely moves within a clip, so one box detected where the face is neutral
suits every frame (a box per frame would make the crop jitter, which LBP-TOP
would read as motion). Of several detections the largest is taken. The box
is enlarged by ``margin`` (a fraction of its width on the left and the right,
of its height at the top and the bottom), clipped to the frame, cut out of
every frame and resized to ``size = (width, height)``.

When no face is found: ``on_no_face="error"`` (the default) raises an
:class:`~cdmer.errors.InputError` naming the clip; ``on_no_face="center"``
uses the largest centred square instead; ``on_no_face="full"`` uses the whole
frame. A crop is never empty.

Sizes of the paper (Zong et al. 2017, section 4.1): CASME II faces "308 x
257", SMIC faces "170 x 139". The paper does not say which number is the
width; CASME II's own description gives its face area as about 280 x 340
(width x height), i.e. taller than wide with the same 1.2 ratio as 308/257,
so both are read as height x width: :data:`PAPER_SIZES` holds them as
``(width, height)``.
"""

from __future__ import annotations

import threading

import numpy as np

from cdmer.errors import InputError

#: Face sizes of the paper as (width, height); see the module docstring.
PAPER_SIZES = {"CASME2": (257, 308), "SMIC": (139, 170)}
ON_NO_FACE = ("error", "center", "full")

_local = threading.local()

__all__ = ["detect_face", "face_box", "crop_faces", "resize_frames", "PAPER_SIZES"]


def _cascade():
    # One classifier per thread: detectMultiScale is not documented as safe
    # to call on one object from several threads.
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        import cv2

        file = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(file)
        if cascade.empty():
            raise InputError("cannot load OpenCV's Haar cascade", path=file)
        _local.cascade = cascade
    return cascade


def detect_face(frame, *, scale_factor=1.1, min_neighbors=5, min_size=None):
    """Return the largest face box ``(x, y, w, h)`` in a grey frame, or ``None``.

    ``min_size`` (pixels, default an eighth of the shorter side, at least 20)
    ignores smaller detections.
    """
    import cv2

    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    if min_size is None:
        min_size = max(20, min(frame.shape) // 8)
    equalised = cv2.equalizeHist(frame)
    faces = _cascade().detectMultiScale(equalised, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                        minSize=(int(min_size), int(min_size)))
    if len(faces) == 0:
        return None
    faces = np.asarray(faces).reshape(-1, 4)
    x, y, w, h = faces[np.argmax(faces[:, 2] * faces[:, 3])]
    return int(x), int(y), int(w), int(h)


def face_box(volume, *, margin=0.1, on_no_face="error", path=None):
    """Return the crop box ``(x0, y0, x1, y1)`` (exclusive ends) of a clip and how it was found.

    Returns ``(box, how)`` with ``how`` in ``"face"``, ``"center"``, ``"full"``.
    """
    if on_no_face not in ON_NO_FACE:
        raise InputError(f"expected one of {', '.join(ON_NO_FACE)}, got {on_no_face!r}", field="on_no_face")
    if not (np.isscalar(margin) and 0 <= float(margin) <= 2):
        raise InputError(f"margin must be a fraction of the face box in [0, 2], got {margin!r}",
                         field="margin")
    volume = np.asarray(volume)
    if volume.ndim != 3 or 0 in volume.shape:
        raise InputError(f"expected a non-empty grey volume (T, H, W), got shape {volume.shape}",
                         path=path, field="volume")
    H, W = volume.shape[1:]
    found = detect_face(volume[0])
    if found is not None:
        x, y, w, h = found
        mx, my = int(round(margin * w)), int(round(margin * h))
        box = (max(0, x - mx), max(0, y - my), min(W, x + w + mx), min(H, y + h + my))
        how = "face"
    elif on_no_face == "error":
        raise InputError("no face found on the first frame (OpenCV Haar cascade); pass "
                         "on_no_face='center' (--on-no-face center) to crop the centre square instead, "
                         "or --no-face for frames that are already cropped faces", path=path)
    elif on_no_face == "center":
        side = min(H, W)
        x0, y0 = (W - side) // 2, (H - side) // 2
        box = (x0, y0, x0 + side, y0 + side)
        how = "center"
    else:
        box = (0, 0, W, H)
        how = "full"
    assert box[2] > box[0] and box[3] > box[1]
    return box, how


def resize_frames(volume, size):
    """Resize every frame to ``size = (width, height)``.

    Area averaging (``INTER_AREA``) when shrinking both sides, else bilinear
    (``INTER_LINEAR``).
    """
    import cv2

    w, h = check_size(size)
    volume = np.asarray(volume)
    if volume.shape[1:] == (h, w):
        return np.ascontiguousarray(volume)
    shrink = volume.shape[2] >= w and volume.shape[1] >= h
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(np.ascontiguousarray(f), (w, h), interpolation=method) for f in volume])


def check_size(size):
    """Return ``(width, height)`` as ints, or raise InputError."""
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InputError(f"size must be (width, height), got {size!r}", field="size") from None
    if w < 1 or h < 1 or (w, h) != tuple(size):
        raise InputError(f"size must be two positive integers (width, height), got {size!r}", field="size")
    return w, h


def crop_faces(volume, size=None, *, margin=0.1, on_no_face="error", path=None):
    """Crop the face of a clip and resize it.

    Parameters
    ----------
    volume : ndarray of uint8, shape (T, H, W)
    size : (int, int), optional
        Output ``(width, height)``; ``None`` keeps the crop's size.
    margin : float
        Fraction of the detected box added on each side.
    on_no_face : {"error", "center", "full"}
        What to do when the first frame has no detectable face.
    path : str or Path, optional
        The clip, for error messages.

    Returns
    -------
    faces : ndarray of uint8, shape (T, height, width)
    info : dict
        ``box`` ``[x0, y0, x1, y1]`` in the input frames and ``how`` it was
        found (``face``, ``center``, ``full``).
    """
    if size is not None:
        check_size(size)
    box, how = face_box(volume, margin=margin, on_no_face=on_no_face, path=path)
    x0, y0, x1, y1 = box
    crop = np.ascontiguousarray(np.asarray(volume)[:, y0:y1, x0:x1])
    if size is not None:
        crop = resize_frames(crop, size)
    return crop, {"box": [int(v) for v in box], "how": how}
