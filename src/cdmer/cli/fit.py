"""``cdmer fit``: adapt a labelled database to a new camera's unlabelled clips."""

import argparse
import sys
from pathlib import Path

from cdmer.cli.inputs import (EXIT_STATUS, add_cache_option, add_extraction_options, add_run_options,
                              check_jobs, check_output_dir, check_output_file, extract_clips,
                              extraction_options, is_feature_file)
from cdmer.errors import InputError

DESCRIPTION = f"""\
Fit a cross-database model: the labelled SOURCE features (a .npz written by
`cdmer extract`, or a published .mat file) and the unlabelled TARGET (one
feature file, or frame folders and video files from the new camera).

The target clips are extracted EXACTLY as the source was: every setting comes
from the source's extraction record. Where the record lacks one (the published
.mat features state 112x112 face crops, R3P8, u2, TIM, but neither the number
of frames nor the face crop's margin), fit stops and names the option to give;
an option that contradicts the record is an error. Nothing falls back silently.

Parameters: those fixed with --param are kept; the others are chosen WITHOUT
target labels, by the default label-free validator over the method's grid
(see docs/deployment.md). fit prints the chosen point; the model file records
the grid, the validator and every point's score.

The model file (.npz archive + JSON record, no code) holds the extraction
record, the method, its parameters and the data its deterministic refit
needs; `cdmer predict` reads it. Per-clip features are cached in OUT.cache/
beside the model (--cache DIR to put them elsewhere; safe to delete).

Example (the published CASME II features, a new camera's videos):
  cdmer fit --source CASME2_LBPTOP_R3P8_112x112.mat --target cam/*.mp4 \\
            --frames 10 --margin 0.1 -o cam.model

{EXIT_STATUS}
"""


def register(sub):
    p = sub.add_parser("fit", help="fit a model that adapts a labelled database to a new camera",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, type=Path, help="labelled source features (.npz or .mat)")
    p.add_argument("--target", required=True, nargs="+", metavar="INPUT",
                   help="unlabelled target: one feature file, or frame folders and video files")
    p.add_argument("-m", "--method", default="TSRG",
                   help="a method of the registry: SVM, KMM, KLIEP, uLSIF, STM, TSRG, ... (default: TSRG)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="fix a parameter of the method, e.g. lam=1 (repeatable; typed by the method's "
                        "declared parameter types); the parameters not fixed are chosen label-free")
    p.add_argument("-o", "--out", required=True, type=Path, help="model file to write (not a folder)")
    add_cache_option(p, "OUT.cache beside the model")
    add_extraction_options(p, for_fit=True)
    add_run_options(p, jobs_help="parallel jobs: target clips extracted (threads) and grid tasks of the "
                                 "label-free selection (processes); -1: all cores; default 1")
    p.set_defaults(func=run)


def run(args):
    from cdmer.deployment import Method, ModelBundle
    from cdmer.features.extractor import LBPTOPExtractor
    from cdmer.io.extraction import canonical_record, check_compatible
    from cdmer.io.featureset import load_features

    check_jobs(args.jobs)
    check_output_file(args.out, "--out")
    target_is_features = is_feature_file(args.target)
    cache = args.cache or args.out.with_name(args.out.name + ".cache")
    if not target_is_features:
        check_output_dir(cache, "--cache")
    method = Method(args.method)
    given = method.parse_params(args.param)

    source = load_features(args.source)
    if source.labels is None:
        raise InputError("the source features must be labelled", path=args.source, field="labels")
    options = extraction_options(args)
    say = (lambda *a: None) if args.quiet else print
    failures = []
    if target_is_features:
        target = load_features(args.target[0])
        given_options = {k: v for k, v in options.items() if v is not None}
        check_compatible(source.extraction, given_options, "the source", "the options", path=args.source)
        check_compatible(source.extraction, target.extraction, "the source", "the target", path=target.source)
        record = {**canonical_record(given_options), **canonical_record(target.extraction),
                  **canonical_record(source.extraction)}
    else:
        extractor = LBPTOPExtractor.from_record(source.extraction, **options)
        record = extractor.record()
        say("target extraction (the source's): " + ", ".join(f"{k}={v}" for k, v in _shown(record).items()))
        _, target, failures = extract_clips(args.target, extractor, cache=cache, jobs=args.jobs,
                                            progress=not args.quiet, database="target")
        if target.n_samples == 0:
            raise InputError(f"none of the {len(args.target)} target clips could be extracted "
                             f"(first: {failures[0][2]})", field="--target")
    model = ModelBundle(method.name, given, extractor=record).fit(source, target, progress=not args.quiet,
                                                                 jobs=args.jobs)
    model.save(args.out)
    sel = model.selection_
    chosen = ", ".join(f"{k}={v}" for k, v in model.params_.items()) or "no parameters"
    if sel["rule"] == "label-free":
        n_ok = sum(e["score"] is not None for e in sel["points"])
        how = (f"chosen without target labels by validator {sel['validator']} over {len(sel['grid'])} grid "
               f"points ({n_ok} scored; score {sel['score']:.4g})")
    else:
        how = sel.get("reason", sel["rule"])
    print(f"{method.name}: {chosen} ({how})")
    print(f"fitted on {source.database} ({source.n_samples} labelled) -> {target.n_samples} target samples; "
          f"model written to {args.out}")
    if failures:
        print(f"{len(failures)} of {len(args.target)} target clips failed and were left out (listed above)",
              file=sys.stderr)
        return 1
    return 0


def _shown(record):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in record.items()}
