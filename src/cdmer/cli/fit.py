"""``cdmer fit``: adapt a labelled database to a new camera's unlabelled clips."""

import argparse
from pathlib import Path

from cdmer.cli.inputs import add_clip_options, clip_kwargs, parse_value, read_inputs
from cdmer.errors import InputError

DESCRIPTION = """\
Fit a cross-database model: the labelled SOURCE features (a .npz written by
cdmer or a published .mat file) and the unlabelled TARGET (a feature file, or
frame folders and video files from the new camera, extracted here with the
source's LBP-TOP settings). The model file holds the adaptation (TSRG by
default), the classifier, the extractor settings and the versions;
`cdmer predict` uses it to label clips.

Example:
  cdmer fit --source casme2.npz --target new_camera/clip*/ --face --size 112 112 --frames 10 -o cam.model
"""


def register(sub):
    p = sub.add_parser("fit", help="fit a model that adapts a labelled database to a new camera",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True, type=Path, help="labelled source features (.npz or .mat)")
    p.add_argument("--target", required=True, nargs="+", metavar="INPUT",
                   help="unlabelled target: one feature file, or frame folders and video files")
    p.add_argument("-m", "--method", default="TSRG", help="SVM, KMM, KLIEP, uLSIF, STM or TSRG (default: TSRG)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter of the method, e.g. lam=1 (repeatable; default: the method's fixed setting)")
    p.add_argument("-o", "--out", required=True, type=Path, help="model file to write")
    add_clip_options(p)
    p.set_defaults(func=run)


def parse_params(values, fixed):
    params = dict(fixed)
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise InputError(f"expected NAME=VALUE, got {text!r}", field="--param")
        params[name] = parse_value(value)
    return params


def run(args):
    from cdmer.adaptation.methods import get_method
    from cdmer.adaptation.model import AdaptedModel, extraction_kwargs
    from cdmer.io.featureset import load_features

    source = load_features(args.source)
    method = get_method(args.method)
    params = parse_params(args.param, method.fixed)
    kwargs = clip_kwargs(args, extraction_kwargs(source.extraction))
    target = read_inputs(args.target, kwargs, cache=args.out.with_name(args.out.name + ".cache"),
                         jobs=args.jobs, progress=not args.quiet, database="target")
    try:
        model = AdaptedModel(method.name, params).fit(source, target)
    except TypeError as exc:
        raise InputError(f"{method.name}: {exc}", field="--param") from None
    model.save(args.out)
    print(f"fitted {method.name} ({', '.join(f'{k}={v}' for k, v in params.items()) or 'no parameters'}) "
          f"on {source.database} ({source.n_samples} labelled) -> {target.n_samples} target clips; "
          f"model written to {args.out}")
    return 0
