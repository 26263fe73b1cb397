"""Label-free model selection on the six real experiments: tables, leave-one-experiment-out, figure.

Usage (from the checkout; the real features are read in place)::

    # 1. every method's grid with every validator's score at every point (the protocol computes them)
    F=../shared/data/real-features
    cdmer evaluate $F/CASME2_LBPTOP_R3P8_112x112.mat $F/SMIC_VIS_LBPTOP_R3P8_112x112.mat \
        $F/SMIC_NIR_LBPTOP_R3P8_112x112.mat --solver exact -j 2 -o docs/results/benchmark
    # 2. tables, LOEO, figure -> docs/model-selection/ (markdown fragments + PNG)
    python benchmarks/model_selection.py report docs/results/benchmark/results.json \
        --features ../shared/data/real-features --out docs/model-selection

``from-results`` re-scores the validators that need only predictions on a
results.json of an older cdmer whose records carry no ``validators``.
``report`` reads records with ``validators`` = ``{name: score}`` (the
protocol's own ``results.json``), and the target labels from the feature
files (``--features``) when the file has no ``y_true``.
"""

import argparse
import json
import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

EXPERIMENTS = [("CASME2", "SMIC_VIS"), ("CASME2", "SMIC_NIR"), ("SMIC_VIS", "CASME2"), ("SMIC_VIS", "SMIC_NIR"),
               ("SMIC_NIR", "CASME2"), ("SMIC_NIR", "SMIC_VIS")]
FILES = {"CASME2": "CASME2_LBPTOP_R3P8_112x112.mat", "SMIC_VIS": "SMIC_VIS_LBPTOP_R3P8_112x112.mat",
         "SMIC_NIR": "SMIC_NIR_LBPTOP_R3P8_112x112.mat"}


# ---------------------------------------------------------------------------
# from-results

def _load(features):
    from cdmer.io.featureset import load_features

    return {k: load_features(Path(features) / f) for k, f in FILES.items()}


def _metrics(yt, yp, classes):
    from cdmer.evaluation.loeo import scores_of

    return scores_of(yt, yp, classes)


def cmd_from_results(args):
    """Score the validators that need only predictions (``needs == "predictions"``) on a protocol results.json."""
    from cdmer.evaluation.validators import VALIDATORS, PointView, score_point

    results = json.loads(Path(args.results).read_text())
    fs = _load(args.features)
    names = [n for n, v in VALIDATORS.items() if v.needs == "predictions"]
    caches, out = {}, {"points": [], "y_true": {}, "validator_cost_s": {}}
    t0 = time.perf_counter()
    for r in results["points"]:
        r = dict(r)
        s, t = r["experiment"].split("->")
        out["y_true"][r["experiment"]] = [str(v) for v in np.asarray(fs[t].labels)]
        if r.get("y_pred") is not None:
            view = PointView(Xs=fs[s].X, ys=np.asarray(fs[s].labels).astype(str), Xt=fs[t].X,
                             yt_pred=np.asarray(r["y_pred"]), classes=r.get("classes"),
                             cache=caches.setdefault(r["experiment"], {}))
            r["validators"], r["validator_errors"] = score_point(view, names)
            r.update(_metrics(out["y_true"][r["experiment"]], r["y_pred"], r.get("classes")))
        out["points"].append(r)
    n = sum(r.get("y_pred") is not None for r in out["points"])
    print(f"scored {n} points with {names} in {time.perf_counter() - t0:.1f} s", flush=True)
    Path(args.output).write_text(json.dumps(out))


# ---------------------------------------------------------------------------
# report

FIXED = {"TSRG": {"lam": 1.0, "mu": 0.01}, "uLSIF": {"lam": "loo"}, "STM": {"lam": 1.0}}
GRID_METHODS = ("TSRG", "uLSIF", "STM")
SHORT = {"CASME2->SMIC_VIS": "C→V", "CASME2->SMIC_NIR": "C→N", "SMIC_VIS->CASME2": "V→C",
         "SMIC_VIS->SMIC_NIR": "V→N", "SMIC_NIR->CASME2": "N→C", "SMIC_NIR->SMIC_VIS": "N→V"}
TOP_K = (5, 10, 20, 40)


def _truth(results, features):
    if results.get("y_true"):
        return {e: np.asarray(v) for e, v in results["y_true"].items()}
    if features is None:
        raise SystemExit("results has no y_true: pass --features DIR (the target labels are read from the files)")
    fs = _load(features)
    return {f"{s}->{t}": np.asarray(fs[t].labels).astype(str) for s, t in EXPERIMENTS}


WEIGHTS = (0.25, 0.5, 2.0)


def derive(records):
    """Add the variants looked at during the analysis, so that LOEO chooses among all of them (no peeking).

    ``cb+{a}rev`` = class_balance + a reverse_input (a = 1 is ``balance_reverse``), ``cb*rev`` their
    product, ``agree_svm`` the fraction of target predictions equal to the source SVM's.
    """
    svm = {r["experiment"]: np.asarray(r["y_pred"]) for r in records if r["method"] == "SVM"}
    extra = []
    for r in records:
        v = r.get("validators")
        if not v or r.get("y_pred") is None:
            continue
        cb, rev = v.get("class_balance"), v.get("reverse_input")
        if cb is not None and rev is not None:
            for a in WEIGHTS:
                v[f"cb+{a:g}rev"] = cb + a * rev
            v["cb*rev"] = cb * rev
        if r["experiment"] in svm:
            v["agree_svm"] = float(np.mean(np.asarray(r["y_pred"]) == svm[r["experiment"]]))
    for a in WEIGHTS:
        extra.append(f"cb+{a:g}rev")
    return extra + ["cb*rev", "agree_svm"]


def candidates(names, groups):
    """Every rule considered: each validator, and the vote over the top-k by each validator (and over all)."""
    from cdmer.evaluation import loeo

    present = [n for n in names if any((r.get("validators") or {}).get(n) is not None
                                       for recs in groups.values() for r in recs)]
    c = OrderedDict((n, loeo.validator_rule(n)) for n in present)
    c["vote(all)"] = loeo.ensemble_rule()
    for n in present:
        for k in TOP_K:
            c[f"vote(top{k} {n})"] = loeo.ensemble_rule(validator=n, top_k=k)
    return c


def _fmt(x):
    return "–" if x is None else f"{100 * x:.1f}"


def report_method(method, records, truth, names, default):
    from cdmer.evaluation import loeo

    groups = loeo.group_records(records, method)
    svm = loeo.evaluate_rule(lambda recs: loeo.Choice(np.asarray(recs[0]["y_pred"]), 0),
                             loeo.group_records(records, "SVM"), truth)
    ora = loeo.oracle(groups, truth)
    fixed = loeo.evaluate_rule(loeo.fixed_rule(FIXED[method]), groups, truth) if method in FIXED else None
    cands = candidates(names, groups)
    rows, table = loeo.loeo(cands, groups, truth)
    exps = list(groups)
    lines = [f"### {method}", ""]
    for metric in ("uar", "war", "mf1"):
        lines += [f"{metric.upper()} (%) of the selected point, per experiment; regret = mean(oracle - rule) "
                  f"in UAR points.", "",
                  "| rule | " + " | ".join(SHORT.get(e, e) for e in exps) + " | mean | regret |",
                  "|---|" + "---:|" * (len(exps) + 2)]
        base = [("oracle (target labels)", ora), ("fixed " + json.dumps(FIXED.get(method, {})), fixed),
                ("SVM (no adaptation)", svm)]
        ranked = sorted(table.items(), key=lambda kv: -np.mean([v["uar"] for v in kv[1].values()]))
        for label, res in base + [(n, r) for n, r in ranked if n in names or metric == "uar"]:
            if res is None:
                continue
            vals = [res[e][metric] for e in exps]
            regret = np.mean([ora[e]["uar"] - res[e]["uar"] for e in exps])
            mark = " **(default)**" if label == default else ""
            lines.append(f"| {label}{mark} | " + " | ".join(_fmt(v) for v in vals)
                         + f" | {_fmt(np.mean(vals))} | {100 * regret:.1f} |")
        lines.append("")
    lines += [f"Leave-one-experiment-out ({method}): the rule with the best mean UAR on the other five "
              "experiments, reported on the held-out one.", "",
              "| held out | chosen on the other five | their mean UAR | UAR | WAR | M-F1 | SVM UAR | oracle UAR |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        e = r["held_out"]
        lines.append(f"| {SHORT.get(e, e)} | {r['chosen']} | {_fmt(r['train_mean'])} | {_fmt(r['uar'])} | "
                     f"{_fmt(r['war'])} | {_fmt(r['mf1'])} | {_fmt(svm[e]['uar'])} | {_fmt(ora[e]['uar'])} |")
    mean = lambda key: np.mean([r[key] for r in rows])  # noqa: E731
    lines.append(f"| **mean** | | | {_fmt(mean('uar'))} | {_fmt(mean('war'))} | {_fmt(mean('mf1'))} | "
                 f"{_fmt(np.mean([svm[e]['uar'] for e in exps]))} | "
                 f"{_fmt(np.mean([ora[e]['uar'] for e in exps]))} |")
    lines.append("")
    summary = {"table": {n: {e: v for e, v in t.items()} for n, t in table.items()}, "loeo": rows,
               "oracle": ora, "svm": svm, "fixed": fixed}
    return lines, summary


def figure(records, truth, names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cdmer.evaluation import loeo

    groups = loeo.group_records(records, "TSRG")
    exps = list(groups)
    fig, axes = plt.subplots(2, 3, figsize=(17, 9), constrained_layout=True)
    markers = "os^vD<>pP*Xh"
    for ax, e in zip(axes.ravel(), exps):
        recs = groups[e]
        lams = sorted({r["params"]["lam"] for r in recs})
        mus = sorted({r["params"]["mu"] for r in recs})
        U = np.full((len(lams), len(mus)), np.nan)
        for r in recs:
            U[lams.index(r["params"]["lam"]), mus.index(r["params"]["mu"])] = r["uar"] * 100
        im = ax.imshow(U, aspect="auto", cmap="viridis", origin="lower")
        ax.set_yticks(range(len(lams)), [f"{x:g}" for x in lams])
        ax.set_xticks(range(0, len(mus), 4), [f"{mus[i]:g}" for i in range(0, len(mus), 4)], rotation=45)
        ax.set_xlabel("mu")
        ax.set_ylabel("lambda")
        ax.set_title(f"{e}: UAR (%)")
        fig.colorbar(im, ax=ax)
        for k, n in enumerate(names):
            try:
                i = loeo.validator_rule(n)(recs).index
            except Exception:
                continue
            p = recs[i]["params"]
            ax.plot(mus.index(p["mu"]), lams.index(p["lam"]) + 0.12 * (k - len(names) / 2) / len(names) * 3,
                    markers[k % len(markers)], mfc="none", mec="white" if k % 2 else "red", ms=9, mew=1.6,
                    label=n)
        i = loeo.oracle({e: recs}, truth)[e]["index"]
        ax.plot(mus.index(recs[i]["params"]["mu"]), lams.index(recs[i]["params"]["lam"]), "k*", ms=12,
                label="oracle")
    axes.ravel()[0].legend(fontsize=7, loc="upper right", framealpha=0.6)
    fig.suptitle("TSRG (exact solver): UAR over the (lambda, mu) grid, with each validator's choice")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_report(args):
    from cdmer.evaluation.validators import DEFAULT_VALIDATOR, VALIDATORS

    results = json.loads(Path(args.results).read_text())
    truth = _truth(results, args.features)
    records = results["points"]
    names = list(VALIDATORS) + derive(records)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines, summary = [], {}
    methods = [m for m in GRID_METHODS if any(r["method"] == m for r in records)]
    for m in methods:
        part, summary[m] = report_method(m, records, truth, names, DEFAULT_VALIDATOR)
        lines += part
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                                  else str(o), indent=1))
    if "TSRG" in methods:
        figure(records, truth, [n for n in names if n not in VALIDATORS or VALIDATORS[n].cost != "refit"],
               out / "tsrg-grid.png")
    cost = results.get("validator_cost_s")
    if cost:
        print("mean validator cost per point (s):", json.dumps(cost))
    print("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("from-results", help="score the prediction-only validators on a protocol results.json")
    f.add_argument("results")
    f.add_argument("--features", required=True, help="folder of the real .mat feature files")
    f.add_argument("-o", "--output", required=True)
    r = sub.add_parser("report")
    r.add_argument("results")
    r.add_argument("--features", default=None, help="for the target labels when results has no y_true")
    r.add_argument("--out", default="docs/model-selection")
    args = ap.parse_args(argv)
    {"from-results": cmd_from_results, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
