"""``cdmer predict``: label clips with a model written by ``cdmer fit``."""

import argparse
import csv
import io
from pathlib import Path

from cdmer.cli.inputs import (EXIT_STATUS, add_cache_option, add_run_options, check_jobs, check_output_dir,
                              check_output_file, extract_clips, is_feature_file)
from cdmer.io.atomic import write_json, write_text
from cdmer.io.provenance import versions

DESCRIPTION = f"""\
Label clips (frame folders, video files) or one feature file with a model
written by `cdmer fit`. Clips are extracted with the model's recorded
settings (the source's; no extraction option is taken). Writes a CSV with one
row per input, in input order: clip_id, predicted label, status ("ok", or
the reason a clip failed, its label then empty) and one decision score per
class; and beside it OUT.json: the model, its method and parameters, how they
were chosen, the extraction record and the versions. Per-clip features are
cached in OUT.cache/ beside the CSV (--cache DIR to put them elsewhere).

Loading a model refits it from the data it holds (deterministic; seconds to a
minute for TSRG on 15045 features).

{EXIT_STATUS}
"""


def register(sub):
    p = sub.add_parser("predict", help="label clips with a fitted model", description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="model file written by cdmer fit")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="one feature file, or frame folders and videos")
    p.add_argument("-o", "--out", type=Path, default=Path("predictions.csv"),
                   help="CSV to write (default: predictions.csv)")
    add_cache_option(p, "OUT.cache beside the CSV")
    add_run_options(p)
    p.set_defaults(func=run)


def run(args):
    from cdmer.deployment import ModelBundle
    from cdmer.io.featureset import load_features

    check_jobs(args.jobs)
    check_output_file(args.out, "--out")
    record_path = args.out.with_name(args.out.name + ".json")
    check_output_file(record_path, "--out")
    features_given = is_feature_file(args.inputs)
    cache = args.cache or args.out.with_name(args.out.name + ".cache")
    if not features_given:
        check_output_dir(cache, "--cache")
    model = ModelBundle.load(args.model, progress=not args.quiet)
    if features_given:
        features = load_features(args.inputs[0])
        ids, failures = features.sample_ids.tolist(), []
    else:
        extractor = model.clip_extractor()
        clips, features, failures = extract_clips(args.inputs, extractor, cache=cache, jobs=args.jobs,
                                                  progress=not args.quiet, database="predict")
        ids = [c.clip_id for c in clips]
    labels, scores = (model.predict(features) if features.n_samples else ([], None))
    done = {cid: (labels[k], None if scores is None else scores[k])
            for k, cid in enumerate(features.sample_ids.tolist())}
    reasons = {clip_id: reason for clip_id, _, reason in failures}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    classes = list(model.classes_)
    w.writerow(["clip_id", "predicted", "status"] + [f"score_{c}" for c in classes])
    for clip_id in ids:
        if clip_id in done:
            label, row = done[clip_id]
            cells = [""] * len(classes) if row is None else [f"{v:.6f}" for v in row]
            w.writerow([clip_id, label, "ok"] + cells)
        else:
            w.writerow([clip_id, "", "failed: " + " ".join(str(reasons.get(clip_id, "not extracted")).split())]
                       + [""] * len(classes))
    write_text(args.out, out.getvalue())
    write_json(record_path, {
        "model": str(args.model), "method": model.method_, "params": model.params_,
        "selection": {k: v for k, v in (model.selection_ or {}).items() if k not in ("points", "grid")},
        "source": model.source_info_, "extraction": model.extractor_, "inputs": [str(i) for i in args.inputs],
        "failed": len(failures), "model_versions": model.versions_, "versions": versions()})
    counts = {c: int(sum(1 for lab in labels if lab == c)) for c in classes}
    print(f"{len(labels)} of {len(ids)} clips labelled ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
          f"-> {args.out}")
    return 1 if failures else 0
