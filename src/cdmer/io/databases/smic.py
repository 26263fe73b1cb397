"""SMIC (HS, VIS, NIR): the cropped frame folders, labelled by folder name.

Layout (Li et al., FG 2013, the ``SMIC_all_cropped`` release)::

    SMIC_all_cropped/<HS|VIS|NIR>/s<N>/micro/<negative|positive|surprise>/<clip>/<frames>
    SMIC_all_cropped/<HS|VIS|NIR>/s<N>/non_micro/...      ignored

``root`` may be any of:

- the modality folder itself (``.../SMIC_all_cropped/VIS``): the modality is
  its name, or ``modality`` when the folder has another name;
- the folder holding the modality folders (``SMIC_all_cropped`` or any
  folder with ``HS/``, ``VIS/``, ``NIR/`` inside): ``modality`` chooses one,
  and may be left out when only one is there;
- the folder holding ``SMIC_all_cropped``.

The three-class label is the class folder's name (case ignored). SMIC clips
are already cut to the micro-expression, so every frame of the clip folder
is used and ``onset``, ``apex``, ``offset`` are ``None``. A class folder with
another name is dropped (counted in the report, with a warning); a clip folder
without frames is skipped with a warning; non-image files (``Thumbs.db``)
are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from cdmer.errors import InputError
from cdmer.io.clips import Clip
from cdmer.io.databases.frames import list_frames, natural_key
from cdmer.io.databases.report import is_synthetic, summarise
from cdmer.io.featureset import CLASS_NAMES

MODALITIES = ("HS", "VIS", "NIR")

_SUBJECT = re.compile(r"^s\d+$", re.IGNORECASE)

LAYOUT = ("SMIC_all_cropped/<HS|VIS|NIR>/s<N>/micro/<negative|positive|surprise>/<clip>/<frames>")


def resolve_smic_root(root, modality=None):
    """Find the modality folder of a SMIC tree.

    Parameters
    ----------
    root : str or Path
        See the module docstring for the accepted folders.
    modality : {"HS", "VIS", "NIR"}, optional

    Returns
    -------
    folder : Path
        The modality folder (holding ``s<N>`` subject folders).
    modality : str
        ``HS``, ``VIS`` or ``NIR``.

    Raises
    ------
    InputError
        When no SMIC layout is found, the modality is unknown or absent, or
        several modalities are present and none was chosen.
    """
    root = Path(root)
    if modality is not None:
        modality = str(modality).upper()
        if modality not in MODALITIES:
            raise InputError(f"unknown SMIC modality {modality!r}: expected HS, VIS or NIR", field="modality")
    if _has_subjects(root):
        name = root.name.upper()
        if name in MODALITIES:
            if modality is not None and modality != name:
                raise InputError(f"this is the SMIC {name} folder, but modality {modality} was asked",
                                 path=root, field="modality")
            return root, name
        if modality is None:
            raise InputError("SMIC subject folders found but the modality is unknown: name the folder HS, VIS "
                             "or NIR, or pass the modality", path=root, field="modality")
        return root, modality
    if (root / "SMIC_all_cropped").is_dir():
        return resolve_smic_root(root / "SMIC_all_cropped", modality)
    present = {p.name.upper(): p for p in _subdirs(root) if p.name.upper() in MODALITIES and _has_subjects(p)}
    if not present:
        raise InputError(f"not a SMIC folder: expected {LAYOUT} (this folder may be SMIC_all_cropped, a "
                         "modality folder, or hold SMIC_all_cropped)", path=root)
    if modality is None:
        if len(present) > 1:
            raise InputError(f"SMIC folder with several modalities ({', '.join(sorted(present))}): choose one "
                             "(--modality)", path=root, field="modality")
        modality = next(iter(present))
    if modality not in present:
        raise InputError(f"no SMIC {modality} folder with s<N>/micro/ inside; present: "
                         f"{', '.join(sorted(present))}", path=root, field="modality")
    return present[modality], modality


def load_smic(root, modality=None):
    """Load the micro-expression clips of one SMIC modality.

    Parameters
    ----------
    root : str or Path
        See the module docstring.
    modality : {"HS", "VIS", "NIR"}, optional

    Returns
    -------
    kind : str
        ``SMIC_HS``, ``SMIC_VIS`` or ``SMIC_NIR``.
    clips : list of Clip
        Sorted by subject, class and clip name (natural order).
    report : DatabaseReport
    """
    root = Path(root)
    folder, modality = resolve_smic_root(root, modality)
    kind = f"SMIC_{modality}"
    clips, warnings, dropped, skipped = [], [], {}, {}
    for subject_dir in _subdirs(folder):
        if not _SUBJECT.match(subject_dir.name):
            warnings.append(f"{subject_dir}: ignored, not a subject folder (expected s<N>)")
            continue
        micro = _child(subject_dir, "micro")
        if micro is None:
            warnings.append(f"{subject_dir.name}: no micro/ folder; subject skipped")
            continue
        subject = subject_dir.name
        for class_dir in _subdirs(micro):
            label = class_dir.name.lower()
            clip_dirs = _subdirs(class_dir)
            if label not in CLASS_NAMES:
                dropped[class_dir.name] = dropped.get(class_dir.name, 0) + len(clip_dirs)
                warnings.append(f"{subject}/micro/{class_dir.name}: {len(clip_dirs)} clip(s) dropped, class "
                                f"folder is not one of {', '.join(CLASS_NAMES)}")
                continue
            for clip_dir in clip_dirs:
                clip_id = f"{subject}/{clip_dir.name}"
                frames = list_frames(clip_dir)
                if not frames:
                    warnings.append(f"{clip_id}: skipped, no frame in {clip_dir}")
                    skipped["no_frames"] = skipped.get("no_frames", 0) + 1
                    continue
                clips.append(Clip(clip_id=clip_id, path=clip_dir, frames=frames, subject=subject,
                                  emotion=class_dir.name, label=label, database=kind,
                                  info={"modality": modality, "warnings": []}))
    report = summarise(kind, root, clips, dropped, skipped, warnings,
                       synthetic=is_synthetic(folder, folder.parent))
    return kind, clips, report


def _subdirs(folder):
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


def _child(folder, name):
    for p in folder.iterdir():
        if p.is_dir() and p.name.lower() == name:
            return p
    return None


def _has_subjects(folder):
    """True when ``folder`` holds at least one ``s<N>/micro`` subject folder."""
    if not folder.is_dir():
        return False
    return any(_SUBJECT.match(p.name) and _child(p, "micro") is not None for p in _subdirs(folder))
