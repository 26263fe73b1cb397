"""``cdmer extract``: LBP-TOP features of frame folders, video files or a database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cdmer.cli.inputs import (EXIT_STATUS, add_cache_option, add_extraction_options, add_run_options,
                              check_jobs, check_output_dir, check_output_file, extraction_options)
from cdmer.errors import InputError

DESCRIPTION = f"""\
Extract LBP-TOP features (Zhao & Pietikainen 2007, as in Zong et al. 2017)
from frame folders, video files (mp4, avi, mov, mkv) or a micro-expression
database, into a feature file (.npz) that the other commands read. Its
record holds every extraction setting (the canonical record that `cdmer fit`
copies to the target clips).

Per-clip results go to a cache folder (default OUT.cache beside OUT; --cache
DIR elsewhere), keyed on the clips' CONTENT (SHA-256 of their files) and the
settings: an interrupted run resumes, and a video replaced at the same path
is extracted again. Each clip that fails is reported on stderr; when none
succeeds, no feature file is written.

Examples:
  cdmer extract clips/*/ -o new.npz --size 112 112 --frames 10
  cdmer extract --database-root /data/CASME2 -o casme2.npz -j 2
  cdmer extract cam/*.mp4 -o cam.npz --scheduler tcp://10.0.0.5:8786

{EXIT_STATUS}
"""


def register(subparsers):
    p = subparsers.add_parser(
        "extract", help="extract LBP-TOP features from frame folders, videos or a database",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="frame folders and/or video files (one clip each)")
    p.add_argument("--database-root", metavar="ROOT",
                   help="extract every clip of the database in ROOT (CASME II or SMIC layout)")
    p.add_argument("--coding-sheet", metavar="FILE",
                   help="CASME II: the coding sheet to read when ROOT holds several (default: the last "
                        "CASME2-coding-*.xlsx in natural order, the newest date stamp; printed)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="feature file to write")
    add_extraction_options(p, for_fit=False)
    add_cache_option(p, "OUT.cache beside OUT")
    p.add_argument("--database-name", default="", metavar="NAME",
                   help="database name stored in the file (default: the database's kind, or none)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the clips on the Dask cluster at ADDRESS (tcp://host:port); this process "
                        "reads and writes the cache (needs cdmer[dask])")
    add_run_options(p)
    p.add_argument("--no-progress", dest="quiet", action="store_true", help=argparse.SUPPRESS)  # old spelling
    p.set_defaults(func=run)
    return p


def _load_database(root, sheet):
    try:
        from cdmer.io.databases import load_database
    except ImportError:
        raise InputError("reading a database needs cdmer.io.databases, which this installation lacks; "
                         "pass the clips' frame folders or videos as INPUT instead",
                         field="--database-root") from None
    return load_database(root, sheet=sheet)


def _summary(kind, report):
    """One line about a loaded database."""
    labels = ", ".join(f"{k} {v}" for k, v in report.per_label.items())
    return (f"database {kind}: {report.n_clips} clips ({labels}); {sum(report.dropped.values())} dropped "
            f"(no three-class label), {sum(report.skipped.values())} skipped, {len(report.warnings)} warnings")


def run(args):
    from cdmer.features.extract import as_clips
    from cdmer.features.extractor import LBPTOPExtractor

    check_jobs(args.jobs)
    options = extraction_options(args)
    out = Path(args.output)
    if out.suffix.lower() != ".npz":
        raise InputError("the output must be a .npz file", path=out, field="--output")
    check_output_file(out, "--output")
    cache = Path(args.cache) if args.cache else out.with_name(out.stem + ".cache")
    check_output_dir(cache, "--cache")
    if args.coding_sheet and not args.database_root:
        raise InputError("is read only with --database-root", field="--coding-sheet")
    clips, database, db_clips = [], args.database_name, []
    if args.database_root:
        kind, db_clips, report = _load_database(args.database_root, args.coding_sheet)
        clips.extend(db_clips)
        database = database or str(kind)
        print(_summary(kind, report), file=sys.stderr)
        for note in report.notes:
            print(note, file=sys.stderr)
    for item in args.inputs:
        if not Path(item).exists():
            raise InputError("no such file or folder", path=item, field="INPUT")
    clips.extend(as_clips(args.inputs))
    if not clips:
        raise InputError("nothing to extract: give frame folders or videos as INPUT, or --database-root",
                         field="INPUT")
    clips = as_clips(clips)
    if options["face"] is None:
        precropped = bool(db_clips) and not args.inputs and all(
            c.info.get("variant") == "cropped" for c in db_clips)
        options["face"] = not precropped
        if precropped:
            print("frames are cropped faces (CASME II 'Cropped'): no face detection (--face to force it)",
                  file=sys.stderr)
    params = {k: v for k, v in options.items() if v is not None}
    if not params["face"]:
        params.pop("margin", None)
        params.pop("on_no_face", None)
    extractor = LBPTOPExtractor(**params).fit()
    fs, failures = extractor.extract(clips, None, n_jobs=args.jobs, cache_dir=cache, progress=not args.quiet,
                                     database=database, scheduler=args.scheduler)
    if failures:
        print(f"{len(failures)} of {len(clips)} clip(s) failed:", file=sys.stderr)
        for clip_id, path, reason in failures:
            print(f"  {clip_id}: {reason}", file=sys.stderr)
    if fs.n_samples == 0:
        print(f"no clip could be extracted: no feature file written ({out} left as it was)", file=sys.stderr)
        return 1
    fs.save(out, failures=[list(f) for f in failures])
    print(f"extracted {fs.n_samples} of {len(clips)} clips -> {out} ({fs.n_features} features; cache {cache})")
    return 1 if failures else 0
