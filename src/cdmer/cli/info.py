"""``cdmer info``: what a micro-expression database folder holds, like the paper's Table 1."""

import json
from pathlib import Path

DESCRIPTION = """\
Read a CASME II or SMIC database folder in its published layout and print its
clips per three-class label (negative, positive, surprise; paper section 4.1)
and per subject, the clips dropped because their emotion has no three-class
label (CASME II others, fear, sadness), the clips skipped and every warning.

Layouts:
  CASME II  ROOT/CASME2-coding-*.xlsx and ROOT/Cropped/ (or CASME2_RAW_selected/)
            with sub<NN>/<Filename>/<frames>
  SMIC      SMIC_all_cropped/<HS|VIS|NIR>/s<N>/micro/<negative|positive|surprise>/<clip>/
            (ROOT may be SMIC_all_cropped, a modality folder, or hold SMIC_all_cropped)
"""

#: Warnings printed in text mode before "... and N more".
MAX_WARNINGS = 20


def register(sub):
    import argparse

    p = sub.add_parser("info", help="count the clips of a micro-expression database per class and subject",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="database folder")
    p.add_argument("--kind", choices=("auto", "casme2", "smic"), default="auto",
                   help="database layout (default: detect it)")
    p.add_argument("--modality", type=str.upper, choices=("HS", "VIS", "NIR"), default=None,
                   help="SMIC camera, when ROOT holds several")
    p.add_argument("--coding-sheet", metavar="FILE",
                   help="CASME II: the coding sheet to read when ROOT holds several (default: the last "
                        "CASME2-coding-*.xlsx in natural order, the newest date stamp; printed)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (kind, n_clips, per_label, per_subject, dropped, skipped, "
                        "warnings) instead of tables")
    p.set_defaults(func=run)


def run(args):
    from cdmer.io.databases import load_database

    kind, clips, report = load_database(args.root, kind=args.kind, modality=args.modality,
                                        sheet=args.coding_sheet)
    if args.json:
        print(json.dumps(report.to_dict()))
        return 0
    print(format_report(report))
    return 0


def format_report(report):
    """The report as text: a Table 1-like count per label, one line per subject, drops and warnings."""
    from cdmer.io.featureset import CLASS_NAMES

    lines = []
    title = f"{report.kind}: {report.n_clips} clips with a three-class label ({report.root})"
    if report.synthetic:
        title = "SYNTHETIC database (written by cdmer.io.synthetic, not real data)\n" + title
    lines.append(title)
    width = max([len("subject"), len("total")] + [len(s) for s in report.per_subject])
    header = f"  {'':<{width}}" + "".join(f"{c:>10}" for c in CLASS_NAMES) + f"{'total':>8}"
    lines.append(header)
    lines.append(f"  {'total':<{width}}" + "".join(f"{report.per_label[c]:>10}" for c in CLASS_NAMES)
                 + f"{report.n_clips:>8}")
    lines.append("")
    lines.append(f"  {'subject':<{width}}" + "".join(f"{c:>10}" for c in CLASS_NAMES) + f"{'total':>8}")
    for subject, counts in report.per_subject.items():
        lines.append(f"  {subject:<{width}}" + "".join(f"{counts[c]:>10}" for c in CLASS_NAMES)
                     + f"{sum(counts.values()):>8}")
    dropped = sum(report.dropped.values())
    lines.append("")
    if dropped:
        lines.append(f"dropped (no three-class label): {dropped} clips: "
                     + ", ".join(f"{e} {n}" for e, n in report.dropped.items()))
    else:
        lines.append("dropped (no three-class label): none")
    if report.skipped:
        lines.append("skipped: " + ", ".join(f"{reason.replace('_', ' ')} {n}"
                                             for reason, n in report.skipped.items()))
    notes = getattr(report, "notes", None) or []
    lines.extend(notes)
    if report.warnings:
        lines.append(f"warnings ({len(report.warnings)}):")
        lines.extend(f"  {w}" for w in report.warnings[:MAX_WARNINGS])
        if len(report.warnings) > MAX_WARNINGS:
            lines.append(f"  ... and {len(report.warnings) - MAX_WARNINGS} more (--json lists them all)")
    return "\n".join(lines)
