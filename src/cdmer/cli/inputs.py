"""What the commands share: their flags, output checks made BEFORE computing, reading features or clips."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cdmer.errors import InputError

FEATURE_SUFFIXES = (".npz", ".mat")

#: The exit statuses, said the same way in every command's --help.
EXIT_STATUS = """\
Exit status: 0 success; 1 some clips failed (each is listed on stderr, the
others are written); 2 bad arguments or input (one line on stderr, nothing
written); 130 interrupted (finished per-clip results are kept: run again to
resume)."""


# ------------------------------------------------------------------ flags
def add_run_options(p, *, jobs_help="clips extracted in parallel (-1: all cores; default 1)"):
    """``-j/--jobs`` and ``--quiet``: the same spelling in every command."""
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help=jobs_help)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def check_jobs(jobs, option="--jobs"):
    """``jobs`` must be a positive number or -1 (all cores); else one line and exit 2."""
    if jobs == 0 or jobs < -1:
        raise InputError(f"must be a positive number or -1 (all cores), got {jobs}", field=option)


def add_cache_option(p, default_text):
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help=f"folder of the per-clip feature cache (default: {default_text}); clips are "
                        "cached by the content of their files and the extraction settings, so a run "
                        "resumes and a replaced video is extracted again")


def add_extraction_options(p, *, for_fit):
    """The extractor's settings as options. ``cdmer extract`` gives them defaults; ``cdmer fit`` takes
    them from the source features' record and accepts an option only to supply what the record lacks
    (an option that contradicts the record is an error)."""
    def d(value, text=None):
        if for_fit:
            return None, "default: the source's"
        return value, f"default: {text if text is not None else value}"

    val, txt = d([3, 3, 3], "3 3 3")
    p.add_argument("--radii", type=int, nargs=3, default=val, metavar=("RX", "RY", "RT"), help=f"LBP radii ({txt})")
    val, txt = d([8], "8")
    p.add_argument("--points", type=int, nargs="+", default=val, metavar="P",
                   help=f"neighbours per plane: one number or three, XY XT YT ({txt})")
    val, txt = d("round")
    p.add_argument("--sampling", choices=["round", "bilinear"], default=val,
                   help=f"neighbour sampling; round: as the reference LBPTOP.m ({txt})")
    val, txt = d("u2")
    p.add_argument("--mapping", choices=["u2", "u2-matlab", "raw"], default=val, help=f"code mapping ({txt})")
    val, txt = d([1, 2, 4, 8], "1 2 4 8")
    p.add_argument("--grid", type=int, nargs="+", default=val, metavar="N",
                   help=f"spatial grids, N x N blocks each ({txt})")
    face_default = ("default: the source's" if for_fit else
                    "default: on, except for a database whose frames are already cropped faces (CASME II "
                    "'Cropped')")
    p.add_argument("--face", action="store_true", default=None,
                   help=f"detect and crop the face (OpenCV Haar cascade on the first frame); {face_default}")
    p.add_argument("--no-face", dest="face", action="store_false", help="use whole frames (no face crop)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                   help="frame size LBP-TOP sees: the face crop's with --face, else the whole frame's "
                        f"({'default: the source' + chr(39) + 's' if for_fit else 'default: keep the size'})")
    val, txt = d(0.1)
    p.add_argument("--margin", type=float, default=val, metavar="M",
                   help=f"face box margin, a fraction of its size ({txt})")
    val, txt = d("error")
    p.add_argument("--on-no-face", choices=["error", "center", "full"], default=val,
                   help=f"with --face, a clip without a detected face: fail it, crop the centre, or keep "
                        f"the frame ({'default: the source' + chr(39) + 's, else error' if for_fit else txt})")
    p.add_argument("--frames", type=int, metavar="N",
                   help="temporal normalisation to N frames "
                        f"({'default: the source' + chr(39) + 's' if for_fit else 'default: keep every frame'})")
    val, txt = d("tim")
    p.add_argument("--interpolation", choices=["tim", "linear"], default=val,
                   help=f"temporal normalisation method ({txt})")


def extraction_options(args):
    """The extraction settings the user gave (None where not given), in canonical key names."""
    points = args.points
    if points is not None:
        if len(points) not in (1, 3):
            raise InputError(f"takes one number or three (XY XT YT), got {points}", field="--points")
        points = points * 3 if len(points) == 1 else points
    return {"radii": args.radii, "points": points, "sampling": args.sampling, "mapping": args.mapping,
            "grid": args.grid, "face": args.face, "size": args.size, "margin": args.margin,
            "on_no_face": args.on_no_face, "frames": args.frames, "interpolation": args.interpolation}


# ---------------------------------------------------------- output checks
def _first_existing(path):
    p = Path(os.path.abspath(path))
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_writable_dir(folder, option, target):
    """Can a file be created in ``folder`` (existing)? Tried for real: permission bits lie to root and on
    some network file systems."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cdmer-write-check-", dir=folder)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise InputError(f"cannot write in {folder} ({exc.strerror or exc})", path=target, field=option) from None


def check_output_file(path, option):
    """``path`` can be written as a FILE: not a folder, no ancestor that is a file, a writable folder.

    Called before any computing, so that a bad output costs nothing.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder; expected a file name", path=path, field=option)
    anchor = _first_existing(path.parent)
    if not anchor.is_dir():
        raise InputError(f"{anchor} is a file, so it cannot hold {path.name}", path=path, field=option)
    _check_writable_dir(anchor, option, path)


def check_output_dir(path, option):
    """``path`` can be used (or created) as a FOLDER."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("is a file; expected a folder", path=path, field=option)
    anchor = _first_existing(path)
    if not anchor.is_dir():
        raise InputError(f"{anchor} is a file, so it cannot hold this folder", path=path, field=option)
    _check_writable_dir(anchor, option, path)


# ------------------------------------------------------------------ inputs
def is_feature_file(inputs):
    """True for one feature file, False for clips; an error for a mixture."""
    paths = [Path(p) for p in inputs]
    features = [p for p in paths if p.suffix.lower() in FEATURE_SUFFIXES]
    if features and len(paths) != 1:
        raise InputError("give either one feature file or clips (frame folders, videos), not both",
                         field="inputs")
    if not features:
        for p in paths:
            if not p.exists():
                raise InputError("no such file or folder", path=p, field="inputs")
    return bool(features)


def extract_clips(inputs, extractor, *, cache, jobs, progress, database, scheduler=None):
    """``(clips, FeatureSet, failures)``: the clips ``inputs`` through ``extractor``; each failure printed
    as one line ``skipped clip ID: reason`` on stderr (the caller decides what none extracted means)."""
    from cdmer.features.extract import as_clips

    clips = as_clips([Path(p) for p in inputs])
    fs, failures = extractor.extract(clips, None, n_jobs=jobs, cache_dir=cache, progress=progress,
                                     database=database, scheduler=scheduler)
    for clip_id, path, reason in failures:
        print(f"skipped clip {clip_id}: {reason}", file=sys.stderr)
    return clips, fs, failures
