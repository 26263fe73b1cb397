"""Micro-expression database loaders: CASME II and SMIC (HS, VIS, NIR).

:func:`load_database` reads a database folder in its published layout and
returns its clips with a three-class label (``negative``, ``positive``,
``surprise``; paper section 4.1) and a :class:`DatabaseReport` of what was
kept, dropped and skipped. See ``docs/databases.md``.
"""

from __future__ import annotations

from pathlib import Path

from cdmer.errors import InputError
from cdmer.io.databases.casme2 import EMOTION_TO_LABEL, find_coding_sheet, load_casme2, parse_action_units
from cdmer.io.databases.frames import frame_number, list_frames, natural_key
from cdmer.io.databases.report import DatabaseReport
from cdmer.io.databases.smic import MODALITIES, load_smic, resolve_smic_root

__all__ = [
    "DatabaseReport",
    "EMOTION_TO_LABEL",
    "KINDS",
    "MODALITIES",
    "detect_kind",
    "frame_number",
    "list_frames",
    "load_casme2",
    "load_database",
    "load_smic",
    "natural_key",
    "parse_action_units",
]

#: Values accepted by ``load_database(kind=...)`` (case ignored).
KINDS = ("auto", "casme2", "smic", "smic_hs", "smic_vis", "smic_nir")


def detect_kind(root):
    """``"casme2"`` or ``"smic"``: the layout of ``root``.

    Raises
    ------
    InputError
        When ``root`` is neither, naming the files and folders expected.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError("no such folder: expected a CASME II or SMIC database folder", path=root)
    if find_coding_sheet(root) is not None:
        return "casme2"
    try:
        resolve_smic_root(root)
        return "smic"
    except InputError as exc:
        if exc.field == "modality":  # a SMIC tree, with several modalities or an odd name
            return "smic"
    raise InputError("not a known database layout: expected CASME II (CASME2-coding-*.xlsx beside "
                     "Cropped/ or CASME2_RAW_selected/, with sub<NN>/<Filename>/<frames>) or SMIC "
                     "(SMIC_all_cropped/<HS|VIS|NIR>/s<N>/micro/<negative|positive|surprise>/<clip>/<frames>)",
                     path=root)


def load_database(root, kind="auto", modality=None, variant="auto", sheet=None):
    """Load a micro-expression database: its three-class clips and a report.

    Parameters
    ----------
    root : str or Path
        The database folder (see ``docs/databases.md`` for the layouts).
    kind : {"auto", "casme2", "smic", "smic_hs", "smic_vis", "smic_nir"}
        The layout; ``"auto"`` detects it. ``smic_<modality>`` is ``smic``
        with that modality.
    modality : {"HS", "VIS", "NIR"}, optional
        SMIC only: which camera, when ``root`` holds several.
    variant : {"auto", "cropped", "raw"}
        CASME II only: which frame folder (see :func:`load_casme2`).
    sheet : str or Path, optional
        CASME II only: which coding sheet (see :func:`load_casme2`).

    Returns
    -------
    kind : str
        ``CASME2``, ``SMIC_HS``, ``SMIC_VIS`` or ``SMIC_NIR``.
    clips : list of Clip
        Only clips with a three-class label and frames.
    report : DatabaseReport
        Kept clips per label and subject, dropped clips per original emotion,
        skipped clips per reason, and one warning per problem met.

    Raises
    ------
    InputError
        A root that is not a known layout, a spreadsheet without a required
        column, an unknown ``kind`` or ``modality``.
    """
    root = Path(root)
    key = str(kind).lower()
    if key not in KINDS:
        raise InputError(f"unknown database kind {kind!r}: expected one of {', '.join(KINDS)}", field="kind")
    if key.startswith("smic_"):
        implied = key[5:].upper()
        if modality is not None and str(modality).upper() != implied:
            raise InputError(f"kind {kind} and modality {modality} disagree", field="modality")
        key, modality = "smic", implied
    if not root.is_dir():
        raise InputError("no such folder: expected a CASME II or SMIC database folder", path=root)
    if key == "auto":
        key = detect_kind(root)
    if key == "casme2":
        clips, report = load_casme2(root, variant=variant, sheet=sheet)
        return report.kind, clips, report
    if sheet is not None:
        raise InputError("a coding sheet is read only for CASME II", field="sheet")
    return load_smic(root, modality=modality)
