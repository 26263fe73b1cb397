"""``cdmer predict``: label clips with a model written by ``cdmer fit``."""

import argparse
import csv
import io
from pathlib import Path

from cdmer.cli.inputs import add_clip_options, read_inputs
from cdmer.errors import InputError
from cdmer.io.atomic import write_json, write_text
from cdmer.io.provenance import versions

DESCRIPTION = """\
Label clips (frame folders, video files) or a feature file with a model
written by `cdmer fit`. Clips are extracted with the model's recorded
settings. Writes a CSV with one row per clip: id, predicted label and one
decision score per class (LIBSVM one-vs-one votes plus confidences), and
beside it OUT.json: the model, its method and parameters, the extraction
settings and the versions.
"""


def register(sub):
    p = sub.add_parser("predict", help="label clips with a fitted model", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="model file written by cdmer fit")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="one feature file, or frame folders and videos")
    p.add_argument("-o", "--out", type=Path, default=Path("predictions.csv"),
                   help="CSV to write (default: %(default)s)")
    add_clip_options(p)
    p.set_defaults(func=run)


def run(args):
    from cdmer.adaptation.model import AdaptedModel

    model = AdaptedModel.load(args.model)
    if args.size or args.frames or args.face:
        raise InputError("the model fixes the extraction settings; --face, --size and --frames are not "
                         "used by predict", field="--size")
    features = read_inputs(args.inputs, model.extraction_kwargs(),
                           cache=args.out.with_name(args.out.name + ".cache"), jobs=args.jobs,
                           progress=not args.quiet, database="predict")
    labels, scores = model.predict(features)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["clip_id", "predicted"] + [f"score_{c}" for c in model.classes_])
    for clip_id, label, row in zip(features.sample_ids, labels, scores):
        w.writerow([clip_id, label] + [f"{v:.6f}" for v in row])
    write_text(args.out, out.getvalue())
    write_json(args.out.with_name(args.out.name + ".json"), {
        "model": str(args.model), "method": model.method_, "params": model.params_,
        "source": model.source_info_, "extraction": model.extraction_, "inputs": [str(i) for i in args.inputs],
        "model_versions": model.versions_, "versions": versions()})
    counts = {c: int((labels == c).sum()) for c in model.classes_}
    print(f"{len(labels)} clips labelled ({', '.join(f'{k} {v}' for k, v in counts.items())}) -> {args.out}")
    return 0
