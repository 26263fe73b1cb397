"""What ``fit`` and ``predict`` share: reading features or clips given on the command line."""

import sys
from pathlib import Path

from cdmer.errors import InputError

FEATURE_SUFFIXES = (".npz", ".mat")


def parse_value(text):
    """A command-line parameter value: a float when it reads as a number, else the text."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


def add_clip_options(p):
    """Extraction options for target clips (used when the inputs are clips, not features)."""
    p.add_argument("--face", action="store_true",
                   help="detect and crop the face (OpenCV Haar cascade) before resizing to --size")
    p.add_argument("--on-no-face", choices=["error", "center", "full"], default="error",
                   help="with --face, when no face is found: fail the clip, crop the centre, keep the frame")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                   help="frame size for LBP-TOP (default: the source features' size when recorded)")
    p.add_argument("--frames", type=int, metavar="N",
                   help="temporal normalisation to N frames (default: the source features' when recorded)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="clips extracted in parallel (default: 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def read_inputs(inputs, kwargs, *, cache, jobs, progress, database):
    """Return a FeatureSet from one feature file, or by extracting clips.

    ``kwargs`` are the extraction arguments used when the inputs are clips
    (frame folders or video files).
    """
    from cdmer.features.extract import extract_features
    from cdmer.io.featureset import load_features

    paths = [Path(p) for p in inputs]
    features = [p for p in paths if p.suffix.lower() in FEATURE_SUFFIXES]
    if features:
        if len(paths) != 1:
            raise InputError("give either one feature file or clips (frame folders, videos), not both",
                             field="inputs")
        return load_features(paths[0])
    for p in paths:
        if not p.exists():
            raise InputError("no such file or folder", path=p, field="inputs")
    fs, failures = extract_features(paths, None, n_jobs=jobs, cache_dir=cache, progress=progress,
                                    database=database, **kwargs)
    for clip_id, path, reason in failures:
        print(f"skipped clip {clip_id}: {reason}", file=sys.stderr)
    if fs.n_samples == 0:
        raise InputError(f"none of the {len(paths)} clips could be extracted (first: {failures[0][2]})",
                         field="inputs")
    return fs


def clip_kwargs(args, base):
    """Extraction arguments: ``base`` (from recorded features) updated by the command's options."""
    kwargs = dict(base)
    size = args.size or (base.get("face") or {}).get("size") or base.get("resize")
    if args.face:
        kwargs.pop("resize", None)
        kwargs["face"] = {"size": size, "margin": 0.1, "on_no_face": args.on_no_face}
    elif size:
        kwargs.pop("face", None)
        kwargs["resize"] = tuple(size)
    if args.frames:
        kwargs["frames"] = args.frames
        kwargs.setdefault("interpolation", "tim")
    return kwargs
