"""``cdmer extract``: LBP-TOP features of frame folders, video files or a database.

Examples::

    cdmer extract clips/*/ -o new.npz --size 112 112 --frames 10
    cdmer extract --database-root /data/CASME2 -o casme2.npz --jobs 2

Writes a feature file (``.npz``) readable by the other commands. Per-clip
results go to a cache folder (default ``OUT.cache`` beside the output) so an
interrupted run resumes. Exit status: 0 when every clip was extracted, 1 when
some failed (listed at the end), 2 for bad arguments or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cdmer.errors import InputError


def register(subparsers):
    p = subparsers.add_parser(
        "extract", help="extract LBP-TOP features from frame folders, videos or a database",
        description="Extract LBP-TOP features (Zhao & Pietikainen 2007, as in Zong et al. 2017) from "
                    "frame folders, video files (mp4, avi, mov, mkv) or a micro-expression database.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="frame folders and/or video files (one clip each)")
    p.add_argument("--database-root", metavar="ROOT",
                   help="extract every clip of the database in ROOT (CASME II or SMIC layout)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="feature file to write")
    p.add_argument("--jobs", type=int, default=1, help="clips extracted in parallel (-1: all cores)")
    p.add_argument("--radii", type=int, nargs=3, default=[3, 3, 3], metavar=("RX", "RY", "RT"),
                   help="LBP radii")
    p.add_argument("--points", type=int, nargs="+", default=[8], metavar="P",
                   help="neighbours per plane: one number or three (XY XT YT)")
    p.add_argument("--sampling", choices=["round", "bilinear"], default="round",
                   help="neighbour sampling (round: as the reference LBPTOP.m)")
    p.add_argument("--mapping", choices=["u2", "u2-matlab", "raw"], default="u2", help="code mapping")
    p.add_argument("--grid", type=int, nargs="+", default=[1, 2, 4, 8], metavar="N",
                   help="spatial grids (N x N blocks each)")
    p.add_argument("--face", action=argparse.BooleanOptionalAction, default=None,
                   help="detect and crop the face (OpenCV Haar cascade on the first frame); default: on, "
                        "except for a database whose frames are already cropped faces (CASME II 'Cropped')")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                   help="resize frames (the face crop with --face) to W x H pixels")
    p.add_argument("--margin", type=float, default=0.1, help="face box margin (fraction of its size)")
    p.add_argument("--on-no-face", choices=["error", "center", "full"], default="error",
                   help="when no face is found: fail the clip, crop the centre square, or keep the frame")
    p.add_argument("--frames", type=int, metavar="N", help="temporally normalise every clip to N frames")
    p.add_argument("--interpolation", choices=["tim", "linear"], default="tim",
                   help="temporal normalisation method")
    p.add_argument("--cache", metavar="DIR", help="per-clip cache folder (default: OUT.cache beside OUT)")
    p.add_argument("--database-name", default="", metavar="NAME", help="database name stored in the file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _load_database(root):
    try:
        from cdmer.io.databases import load_database
    except ImportError:
        raise InputError("reading a database needs cdmer.io.databases, which this installation lacks; "
                         "pass the clips' frame folders or videos as INPUT instead",
                         field="--database-root") from None
    return load_database(root)


def _summary(kind, report):
    """One line about a loaded database (the report object is another module's; read it softly)."""
    n = getattr(report, "n_clips", None)
    per_label = getattr(report, "per_label", None) or {}
    dropped = sum((getattr(report, "dropped", None) or {}).values())
    skipped = sum((getattr(report, "skipped", None) or {}).values())
    warnings = len(getattr(report, "warnings", None) or [])
    labels = ", ".join(f"{k} {v}" for k, v in per_label.items())
    return (f"database {kind}: {n} clips ({labels}); {dropped} dropped (no three-class label), "
            f"{skipped} skipped, {warnings} warnings")


def run(args):
    from cdmer.features.extract import as_clips, extract_features

    if args.jobs == 0 or args.jobs < -1:
        raise InputError(f"--jobs must be a positive number or -1, got {args.jobs}", field="--jobs")
    if len(args.points) not in (1, 3):
        raise InputError(f"--points takes one number or three (XY XT YT), got {args.points}", field="--points")
    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        raise InputError("the output must be a .npz file", path=out, field="--output")
    clips, database, db_clips = [], args.database_name, []
    if args.database_root:
        kind, db_clips, report = _load_database(args.database_root)
        clips.extend(db_clips)
        database = database or str(kind)
        print(_summary(kind, report), file=sys.stderr)
    for item in args.inputs:
        if not Path(item).exists():
            raise InputError("no such file or folder", path=item, field="INPUT")
    clips.extend(as_clips(args.inputs))
    if not clips:
        raise InputError("nothing to extract: give frame folders or videos as INPUT, or --database-root",
                         field="INPUT")
    clips = as_clips(clips)
    use_face = args.face
    if use_face is None:
        precropped = bool(db_clips) and not args.inputs and all(
            c.info.get("variant") == "cropped" for c in db_clips)
        use_face = not precropped
        if precropped:
            print("frames are cropped faces (CASME II 'Cropped'): no face detection (--face to force it)",
                  file=sys.stderr)
    face = {"size": args.size, "margin": args.margin, "on_no_face": args.on_no_face} if use_face else None
    cache = Path(args.cache) if args.cache else out.with_name(out.stem + ".cache")
    points = args.points[0] if len(args.points) == 1 else tuple(args.points)
    fs, failures = extract_features(
        clips, out, radii=tuple(args.radii), points=points, sampling=args.sampling, mapping=args.mapping,
        grid=tuple(args.grid), face=face, frames=args.frames,
        interpolation=args.interpolation, n_jobs=args.jobs, cache_dir=cache,
        progress=not args.no_progress, database=database, resize=None if use_face else args.size)
    print(f"extracted {fs.n_samples} of {len(clips)} clips -> {out} ({fs.n_features} features; cache {cache})")
    if failures:
        print(f"{len(failures)} clip(s) failed:", file=sys.stderr)
        for clip_id, path, reason in failures:
            print(f"  {clip_id}: {reason}", file=sys.stderr)
        return 1
    return 0
