"""CASME II: the coding spreadsheet and the frame folders.

Layout (Yan et al., PLoS ONE 2014)::

    ROOT/CASME2-coding-*.xlsx              coding sheet, first worksheet
    ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg     cropped faces, or
    ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg

The sheet has one row per clip with the columns ``Subject`` (an integer; the
folders are zero padded, ``sub01``), ``Filename`` (the clip folder),
``OnsetFrame``, ``ApexFrame``, ``OffsetFrame`` (frame numbers, as in the frame
file names: ``img46`` is frame 46), ``Action Units`` and ``Estimated
Emotion``. Column names are matched ignoring case, spaces and underscores;
other columns are ignored.

Three-class protocol of the paper (section 4.1): happiness -> positive,
disgust and repression -> negative, surprise -> surprise; others, fear and
sadness have no three-class label and are dropped (counted per emotion in the
report).

Quirks of the real sheet and folders, and what the loader does (each time
with a warning naming the clip):

- apex ``/``, ``-``, ``-1``, empty or not a number: ``apex`` is ``None``;
- onset or offset missing or not a number, or onset after offset: the window
  is unknown and every frame present is used;
- onset..offset reaching outside the frames present: the frames present inside
  the window are used, or every frame present when none is inside; the
  message gives both ranges;
- frame numbers missing inside the window (a gap): the frames present are
  used;
- action units such as ``4+L10``, ``R12``, ``?``: parsed into tokens
  (``['4', 'L10']``); ``?`` or an empty cell means unknown; the raw text is
  kept in ``info['action_units_raw']``;
- a row whose folder is missing, a folder without a row, a folder without
  frames: skipped;
- duplicate rows (same subject and filename): the first is kept.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from cdmer.errors import InputError
from cdmer.io.clips import Clip
from cdmer.io.databases.frames import frame_number, list_frames, natural_key
from cdmer.io.databases.report import is_synthetic, summarise

KIND = "CASME2"

#: Required columns: normalised name -> name as the real sheet spells it.
COLUMNS = {
    "subject": "Subject",
    "filename": "Filename",
    "onsetframe": "OnsetFrame",
    "apexframe": "ApexFrame",
    "offsetframe": "OffsetFrame",
    "actionunits": "Action Units",
    "estimatedemotion": "Estimated Emotion",
}

#: The emotions CASME II codes.
EMOTIONS = ("happiness", "surprise", "disgust", "repression", "others", "fear", "sadness")

#: Three-class mapping of the paper (section 4.1); other emotions are dropped.
EMOTION_TO_LABEL = {
    "happiness": "positive",
    "disgust": "negative",
    "repression": "negative",
    "surprise": "surprise",
}

#: Frame folder variants, in the order ``variant="auto"`` tries them.
FRAME_FOLDERS = {"cropped": "Cropped", "raw": "CASME2_RAW_selected"}

SHEET_GLOB = "CASME2-coding-*.xlsx"

_SUBJECT = re.compile(r"^(?:sub)?0*(\d+)$", re.IGNORECASE)
_AU_TOKEN = re.compile(r"^([LRBT]?)(\d+)([A-E]?)$")
_UNKNOWN_APEX = {"", "/", "-", "-1", "?"}


def coding_sheets(root):
    """Every coding sheet ``CASME2-coding-*.xlsx`` in ``root``, in natural order."""
    root = Path(root)
    return sorted((p for p in root.glob("*.xlsx")
                   if p.name.lower().startswith("casme2-coding-") and not p.name.startswith("~$")),
                  key=lambda p: natural_key(p.name))


def find_coding_sheet(root):
    """The coding sheet ``CASME2-coding-*.xlsx`` in ``root``, or ``None``.

    When several match, the last in natural order (the newest date stamp,
    e.g. ``CASME2-coding-20190701.xlsx`` after ``CASME2-coding-20140508.xlsx``)
    is returned; :func:`load_casme2` says so in its report's ``notes``.
    """
    sheets = coding_sheets(root)
    return sheets[-1] if sheets else None


def read_coding_sheet(path):
    """Read the rows of a CASME II coding sheet.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` file; its first worksheet is read.

    Returns
    -------
    list of dict
        One dict per non-empty row, keyed by the normalised column names of
        :data:`COLUMNS` (raw cell values), plus ``row``: the spreadsheet row
        number, for messages.

    Raises
    ------
    InputError
        When the file is not a workbook, has no header row, or lacks a
        required column (all missing ones are named).
    """
    import openpyxl

    path = Path(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(f"cannot be read as an .xlsx workbook ({exc})", path=path) from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header, header_row = None, 0
        for header_row, values in enumerate(rows, start=1):
            if any(_blank(v) is not None for v in values):
                header = values
                break
        expected = ", ".join(COLUMNS.values())
        if header is None:
            raise InputError(f"the first worksheet is empty: expected a header row with columns {expected}",
                             path=path, field="header")
        index = {}
        for i, name in enumerate(header):
            key = _normalise(name)
            if key in COLUMNS and key not in index:
                index[key] = i
        missing = [COLUMNS[k] for k in COLUMNS if k not in index]
        if missing:
            found = ", ".join(repr(str(h)) for h in header if _blank(h) is not None)
            raise InputError(f"missing column(s) {', '.join(repr(m) for m in missing)} in the header row "
                             f"{header_row}: expected {expected}; found {found}",
                             path=path, field=", ".join(missing))
        out = []
        for number, values in enumerate(rows, start=header_row + 1):
            if not any(_blank(v) is not None for v in values):
                continue
            record = {k: (values[i] if i < len(values) else None) for k, i in index.items()}
            record["row"] = number
            out.append(record)
        return out
    finally:
        workbook.close()


def parse_action_units(value):
    """Split an ``Action Units`` cell into FACS tokens.

    ``"4+L10"`` -> ``['4', 'L10']``; ``"R12"`` -> ``['R12']``; ``12`` (a
    number cell) -> ``['12']``; ``"AU4"`` -> ``['4']``. A side prefix
    (``L``, ``R``, ``B``, ``T``) and an intensity suffix (``A``..``E``) are
    kept in the token.

    Returns
    -------
    tokens : list of str
        The valid tokens, in the cell's order.
    unknown : bool
        True for ``?`` or an empty cell (action units not coded).
    invalid : list of str
        Parts that are not action-unit tokens (left out of ``tokens``).
    """
    text = _cell_text(value)
    if text in ("", "?"):
        return [], True, []
    tokens, invalid = [], []
    for part in re.split(r"[+,;/\s]+", text):
        if not part:
            continue
        token = part.upper()
        if token.startswith("AU"):
            token = token[2:]
        m = _AU_TOKEN.match(token)
        if m:
            tokens.append(f"{m.group(1)}{int(m.group(2))}{m.group(3)}")
        elif part == "?":
            continue
        else:
            invalid.append(part)
    unknown = not tokens and not invalid
    return tokens, unknown, invalid


def load_casme2(root, variant="auto", sheet=None):
    """Load the clips of CASME II that have a three-class label.

    Parameters
    ----------
    root : str or Path
        The folder holding ``CASME2-coding-*.xlsx`` and a frame folder.
    variant : {"auto", "cropped", "raw"}
        Which frame folder: ``Cropped`` (faces cropped and aligned by the
        database authors, ``reg_img*.jpg``) or ``CASME2_RAW_selected``
        (``img*.jpg``). ``"auto"`` takes ``Cropped`` when present.
    sheet : str or Path, optional
        The coding sheet to read (a path, or a file name in ``root``). By
        default the only ``CASME2-coding-*.xlsx`` in ``root``; with several,
        the last in natural order (newest date stamp), named in the report's
        ``notes`` together with the others.

    Returns
    -------
    clips : list of Clip
        Kept clips, in sheet order; ``frames`` restricted to onset..offset.
    report : DatabaseReport

    Raises
    ------
    InputError
        When the sheet or the frame folder is missing, or the sheet lacks a
        column.
    """
    root = Path(root)
    notes = []
    if sheet is not None:
        sheet = Path(sheet)
        if not sheet.is_absolute() and not sheet.exists():
            sheet = root / sheet
        if not sheet.is_file():
            raise InputError("no such coding sheet", path=sheet, field="sheet")
    else:
        sheets = coding_sheets(root)
        if not sheets:
            raise InputError(f"no CASME II coding sheet: expected a file {SHEET_GLOB} in this folder",
                             path=root)
        sheet = sheets[-1]
        if len(sheets) > 1:
            notes.append(f"{len(sheets)} coding sheets in {root}: {', '.join(p.name for p in sheets)}; "
                         f"read {sheet.name} (the last in natural order, the newest date stamp); "
                         "--coding-sheet FILE reads another")
    frames_dir, variant = _frames_folder(root, variant)
    rows = read_coding_sheet(sheet)

    subject_dirs = {}
    warnings, dropped, skipped = [], {}, {}
    for sub in sorted((p for p in frames_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        m = re.match(r"^sub0*(\d+)$", sub.name, re.IGNORECASE)
        if m:
            subject_dirs.setdefault(int(m.group(1)), sub)
        else:
            warnings.append(f"{sub}: ignored, not a subject folder (expected sub<NN>)")

    seen = {}  # (subject number, filename lower) -> first row number
    clips = []
    for record in rows:
        row = record["row"]
        subject_number = _subject_number(record["subject"])
        filename = _cell_text(record["filename"])
        if subject_number is None or not filename:
            warnings.append(f"{sheet.name} row {row}: skipped, Subject {_show(record['subject'])} / Filename "
                            f"{_show(record['filename'])}: expected a subject number and a clip folder name")
            skipped["bad_row"] = skipped.get("bad_row", 0) + 1
            continue
        subject = f"sub{subject_number:02d}"
        clip_id = f"{subject}/{filename}"
        key = (subject_number, filename.lower())
        if key in seen:
            warnings.append(f"{clip_id}: row {row} duplicates row {seen[key]}; kept row {seen[key]}")
            skipped["duplicate_row"] = skipped.get("duplicate_row", 0) + 1
            continue
        seen[key] = row

        emotion = _cell_text(record["estimatedemotion"]).lower()
        label = EMOTION_TO_LABEL.get(emotion)
        if label is None:
            name = emotion or "(empty)"
            dropped[name] = dropped.get(name, 0) + 1
            if emotion not in EMOTIONS:
                warnings.append(f"{clip_id}: Estimated Emotion {_show(record['estimatedemotion'])} is not one of "
                                f"{', '.join(EMOTIONS)}; dropped")
            continue

        folder = _clip_folder(subject_dirs.get(subject_number), filename)
        if folder is None:
            warnings.append(f"{clip_id}: skipped, no frame folder {frames_dir.name}/{subject}/{filename} "
                            f"for row {row}")
            skipped["missing_folder"] = skipped.get("missing_folder", 0) + 1
            continue
        clip_id = f"{subject}/{folder.name}"
        clip_warnings = []
        numbered = _numbered_frames(folder, clip_id, clip_warnings)
        if not numbered:
            warnings.extend(clip_warnings)
            warnings.append(f"{clip_id}: skipped, no numbered frame in {folder}")
            skipped["no_frames"] = skipped.get("no_frames", 0) + 1
            continue

        onset = _frame_value(record["onsetframe"])
        offset = _frame_value(record["offsetframe"])
        apex = _frame_value(record["apexframe"])
        if apex is None or apex < 0:
            clip_warnings.append(f"{clip_id}: ApexFrame {_show(record['apexframe'])} is not a frame number; "
                                 "apex unknown")
            apex = None
        frames = _window(numbered, onset, offset, record, clip_id, clip_warnings)
        if apex is not None and onset is not None and offset is not None and not onset <= apex <= offset:
            clip_warnings.append(f"{clip_id}: ApexFrame {apex} lies outside OnsetFrame..OffsetFrame "
                                 f"{onset}..{offset}; kept as given")

        tokens, unknown, invalid = parse_action_units(record["actionunits"])
        if invalid:
            clip_warnings.append(f"{clip_id}: Action Units {_show(record['actionunits'])}: "
                                 f"{', '.join(map(repr, invalid))} not action-unit tokens (e.g. 4, L10, R12); "
                                 "left out")
        warnings.extend(clip_warnings)
        clips.append(Clip(
            clip_id=clip_id,
            path=folder,
            frames=frames,
            subject=subject,
            emotion=emotion,
            label=label,
            onset=onset,
            apex=apex,
            offset=offset,
            database=KIND,
            info={
                "action_units": tokens,
                "action_units_unknown": unknown,
                "action_units_raw": _cell_text(record["actionunits"]),
                "row": row,
                "variant": variant,
                "warnings": clip_warnings,
            },
        ))

    claimed = {(n, f) for n, f in seen}
    for number, sub in subject_dirs.items():
        for folder in sorted((p for p in sub.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            if (number, folder.name.lower()) not in claimed:
                warnings.append(f"{sub.name}/{folder.name}: skipped, folder has no row in {sheet.name}")
                skipped["no_row"] = skipped.get("no_row", 0) + 1

    report = summarise(KIND, root, clips, dropped, skipped, warnings, synthetic=is_synthetic(root))
    report.notes = notes + [f"coding sheet: {sheet}"]
    return clips, report


def _frames_folder(root, variant):
    variant = str(variant).lower()
    if variant not in ("auto", *FRAME_FOLDERS):
        raise InputError(f"unknown CASME II frame folder variant {variant!r}: expected auto, cropped or raw",
                         field="variant")
    choices = FRAME_FOLDERS if variant == "auto" else {variant: FRAME_FOLDERS[variant]}
    for name, folder in choices.items():
        if (root / folder).is_dir():
            return root / folder, name
    expected = " or ".join(f"{f}/" for f in choices.values())
    raise InputError(f"no CASME II frame folder: expected {expected} (sub<NN>/<Filename>/<frames>) "
                     "beside the coding sheet", path=root)


def _clip_folder(subject_dir, filename):
    if subject_dir is None:
        return None
    folder = subject_dir / filename
    if folder.is_dir():
        return folder
    matches = [p for p in subject_dir.iterdir() if p.is_dir() and p.name.lower() == filename.lower()]
    return matches[0] if matches else None


def _numbered_frames(folder, clip_id, warnings):
    """(number, path) pairs of the frames of ``folder``, by number; warns on unnumbered or repeated numbers."""
    numbered, unnumbered = {}, []
    for path in list_frames(folder):
        number = frame_number(path)
        if number is None:
            unnumbered.append(path.name)
        elif number in numbered:
            warnings.append(f"{clip_id}: {path.name} repeats frame number {number} of "
                            f"{numbered[number].name}; ignored")
        else:
            numbered[number] = path
    if unnumbered:
        warnings.append(f"{clip_id}: {len(unnumbered)} frame file(s) without a frame number ignored "
                        f"(e.g. {unnumbered[0]})")
    return sorted(numbered.items())


def _window(numbered, onset, offset, record, clip_id, warnings):
    """The frame paths of the onset..offset window among the ``numbered`` frames present."""
    first, last = numbered[0][0], numbered[-1][0]
    present = f"{first}..{last} ({len(numbered)} frames)"
    every = [p for _, p in numbered]
    if onset is None or offset is None or onset < 0 or offset < 0:
        warnings.append(f"{clip_id}: OnsetFrame {_show(record['onsetframe'])} / OffsetFrame "
                        f"{_show(record['offsetframe'])}: expected frame numbers; window unknown, using "
                        f"every frame present {present}")
        return every
    if onset > offset:
        warnings.append(f"{clip_id}: OnsetFrame {onset} is after OffsetFrame {offset}; window unknown, using "
                        f"every frame present {present}")
        return every
    inside = [(n, p) for n, p in numbered if onset <= n <= offset]
    if not inside:
        warnings.append(f"{clip_id}: window {onset}..{offset} does not meet the frames present {present}; "
                        "using every frame present")
        return every
    lo, hi = inside[0][0], inside[-1][0]
    if onset < first or offset > last:
        warnings.append(f"{clip_id}: window {onset}..{offset} reaches outside the frames present {present}; "
                        f"using the {len(inside)} frames {lo}..{hi}")
    if len(inside) != hi - lo + 1:
        warnings.append(f"{clip_id}: {hi - lo + 1 - len(inside)} frame(s) missing inside {lo}..{hi}; "
                        f"using the {len(inside)} present")
    return [p for _, p in inside]


def _normalise(name):
    return re.sub(r"[\s_]+", "", str(name or "")).lower()


def _blank(value):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


def _cell_text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _show(value):
    return repr(_cell_text(value))


def _subject_number(value):
    m = _SUBJECT.match(_cell_text(value))
    return int(m.group(1)) if m else None


def _frame_value(value):
    """A frame number from a cell, or ``None`` when the cell is empty, ``/``, ``-`` or not an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = _cell_text(value)
    if text in _UNKNOWN_APEX:
        return None if text != "-1" else -1
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None
