"""Extraction records: how a feature set was made, in ONE canonical form.

A feature file records the settings of the LBP-TOP extractor that made it.
Records come in several spellings: ``points`` as ``8`` or ``[8, 8, 8]``, the
face crop as a ``face`` dict (``{"size", "margin", "on_no_face"}``) or as
``face_size`` (the published ``.mat`` preset), a whole-frame ``resize``, lists
or tuples. :func:`canonical_record` turns every spelling into one canonical
dict, so that comparing two records compares meanings, not spellings.

The canonical keys are the parameters of
:class:`cdmer.features.extractor.LBPTOPExtractor` (:data:`KEYS`):

``radii``
    tuple of 3 ints (RX, RY, RT).
``points``
    tuple of 3 ints (XY, XT, YT); an int ``P`` means ``(P, P, P)``.
``sampling``, ``mapping``
    str.
``grid``
    tuple of ints.
``face``
    bool: the face was detected and cropped before resizing.
``size``
    ``(width, height)`` of the frames LBP-TOP saw (the face crop's size with
    ``face``, else the whole-frame resize), or ``None`` (native size).
``margin``, ``on_no_face``
    the face crop's margin (float) and its policy; ``None`` without ``face``.
``frames``
    int, the temporal normalisation's number of frames, or ``None`` (none).
``interpolation``
    ``"tim"`` or ``"linear"``; ``None`` when ``frames`` is ``None``.

A key ABSENT from a canonical record means "not recorded" (the published
features do not say how many frames TIM produced, nor how faces were
cropped); a key present with ``None`` means "recorded: not done".
"""

from __future__ import annotations

from cdmer.errors import InputError

#: The canonical keys, in the extractor's parameter order.
KEYS = ("radii", "points", "sampling", "mapping", "grid", "face", "size", "margin", "on_no_face",
        "frames", "interpolation")

#: The command-line option that sets each key (``cdmer extract`` / ``cdmer fit``).
OPTIONS = {
    "radii": "--radii RX RY RT", "points": "--points P", "sampling": "--sampling round|bilinear",
    "mapping": "--mapping u2|u2-matlab|raw", "grid": "--grid N ...", "face": "--face / --no-face",
    "size": "--size W H", "margin": "--margin M", "on_no_face": "--on-no-face error|center|full",
    "frames": "--frames N", "interpolation": "--interpolation tim|linear",
}


def _ints(value, key, n=None):
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = (value,)
        else:
            values = tuple(value)
        out = []
        for v in values:
            f = float(v)
            if not f.is_integer():
                raise ValueError
            out.append(int(f))
    except (TypeError, ValueError):
        raise InputError(f"expected integers, got {value!r}", field=key) from None
    if n is not None and len(out) == 1 and n == 3 and key == "points":
        out = out * 3
    if n is not None and len(out) != n:
        raise InputError(f"expected {n} integers, got {value!r}", field=key)
    return tuple(out)


def canonical_record(extraction) -> dict:
    """Return the canonical form (see the module docstring) of an extraction record.

    Accepts the records written by every cdmer version (``face`` dict or
    bool, ``resize``, ``face_size``) and the canonical form itself; keys that
    are not extractor settings (layout, versions, per-clip frame counts) are
    dropped. Keys the record does not state stay absent.
    """
    e = dict(extraction or {})
    out = {}
    if e.get("radii") is not None:
        out["radii"] = _ints(e["radii"], "radii", 3)
    if e.get("points") is not None:
        out["points"] = _ints(e["points"], "points", 3)
    for key in ("sampling", "mapping"):
        if e.get(key) is not None:
            out[key] = str(e[key])
    if e.get("grid") is not None:
        out["grid"] = _ints(e["grid"], "grid")

    face = e.get("face")
    if isinstance(face, dict):  # cdmer <= 0.x: {"size", "margin", "on_no_face"}
        out["face"] = True
        if face.get("size") is not None:
            out["size"] = _ints(face["size"], "size", 2)
        elif "size" in face:
            out["size"] = None
        if face.get("margin") is not None:
            out["margin"] = float(face["margin"])
        if face.get("on_no_face") is not None:
            out["on_no_face"] = str(face["on_no_face"])
    elif isinstance(face, bool):
        out["face"] = face
    elif "face" in e and face is None:  # recorded: no face crop
        out["face"] = False
    if e.get("face_size") is not None:  # the published .mat preset: faces cropped to this size
        out["face"] = True
        out["size"] = _ints(e["face_size"], "face_size", 2)
    if "size" in e and "size" not in out:
        out["size"] = None if e["size"] is None else _ints(e["size"], "size", 2)
    if "resize" in e and "size" not in out and out.get("face") is not True:
        out["size"] = None if e["resize"] is None else _ints(e["resize"], "resize", 2)
    for key, cast in (("margin", float), ("on_no_face", str)):
        if key in e and key not in out and e[key] is not None:
            out[key] = cast(e[key])
    if out.get("face") is False:  # no crop: its settings mean nothing
        out["margin"] = None
        out["on_no_face"] = None

    if "frames" in e:
        frames = e["frames"]
        if frames is None:
            out["frames"] = None
        else:
            out["frames"] = _ints(frames, "frames", 1)[0]
    if e.get("interpolation") is not None:
        out["interpolation"] = str(e["interpolation"])
    if out.get("frames", 0) is None:
        out["interpolation"] = None
    return {k: out[k] for k in KEYS if k in out}


def differences(a, b) -> list[str]:
    """Keys stated by both canonical records with different values, as ``"key: a vs b"``."""
    ca, cb = canonical_record(a), canonical_record(b)
    return [f"{k}: {_show(ca[k])} vs {_show(cb[k])}" for k in KEYS if k in ca and k in cb and ca[k] != cb[k]]


def check_compatible(a, b, what_a, what_b, *, path=None):
    """Raise :class:`InputError` when two records state different values for a setting."""
    diff = differences(a, b)
    if diff:
        raise InputError(f"{what_a} and {what_b} were extracted with different settings ({'; '.join(diff)})",
                         path=path, field="extraction")


def missing(record) -> list[str]:
    """Canonical keys that ``record`` does not state and that define the features.

    ``margin`` matters only with a face crop, ``interpolation`` only with
    ``frames``; ``on_no_face`` is never required (see below).
    """
    c = canonical_record(record)
    out = [k for k in ("radii", "points", "sampling", "mapping", "grid", "face", "size", "frames")
           if k not in c]
    if c.get("face") is True and "margin" not in c:
        # on_no_face is a policy for clips without a detectable face; its default
        # "error" fails such clips loudly, so it is never required
        out.append("margin")
    if c.get("frames") is not None and "interpolation" not in c:
        out.append("interpolation")
    return out


def _show(value):
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def to_json(record) -> dict:
    """The canonical record with lists instead of tuples (for JSON files)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in canonical_record(record).items()}
