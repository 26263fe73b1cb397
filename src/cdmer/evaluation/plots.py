"""Plots: confusion matrices (as the paper's Figs. 3 and 4) and grid heat maps.

Uses matplotlib's non-interactive Agg backend; every figure is written
atomically as PNG. In the grid heat maps, a grid cell that was not evaluated
is grey and hatched (``//``), a point whose method failed is hatched
(``xx``), and the oracle, fixed and label-free choices are marked, each with
a legend entry.
"""

from __future__ import annotations

import numpy as np

from cdmer.io.atomic import atomic_path

#: marker style per selection rule in the grid heat maps
RULE_MARKERS = {"oracle": ("*", 15, "red"), "fixed": ("s", 9, "white"), "label-free": ("^", 10, "orange"),
                "paper": ("D", 7, "magenta")}
#: horizontal offset of each rule's marker inside its cell, so that choices of one cell stay visible
RULE_OFFSETS = {"oracle": 0.0, "fixed": -0.28, "label-free": 0.28, "paper": 0.0}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusions(items, path, *, title=""):
    """One panel per method: row-normalised confusion matrix with counts.

    Parameters
    ----------
    items : list of (method name, record)
        Records as produced by :func:`cdmer.evaluation.protocol.run_protocol`
        (keys ``classes``, ``confusion``, ``war``, ``uar``, ``mf1``, ``params``).
    """
    plt = _pyplot()
    n = len(items)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    letters = "abcdefghijklmnopqrstuvwxyz"
    for i, (name, rec) in enumerate(items):
        ax = axes.ravel()[i]
        m = np.asarray(rec["confusion"], dtype=float)
        classes = [c.capitalize() for c in rec["classes"]]
        rates = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for r in range(m.shape[0]):
            for c in range(m.shape[1]):
                ax.text(c, r, f"{100 * rates[r, c]:.1f}%\n({int(m[r, c])})", ha="center", va="center",
                        fontsize=8, color="white" if rates[r, c] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        params = ", ".join(f"{k}={v}" for k, v in rec["params"].items() if k != "solver")
        mf1 = f", M-F1 {100 * rec['mf1']:.2f}" if rec.get("mf1") is not None else ""
        ax.set_title(f"({letters[i % 26]}) {name}: WAR {100 * rec['war']:.2f}, UAR {100 * rec['uar']:.2f}{mf1}"
                     + (f"\n{params}" if params else ""), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def grid_axes(records):
    """The one or two numeric parameters a method's records vary along, or None (nothing to draw).

    Points with a non-numeric value on an axis (e.g. uLSIF's fixed ``lam="loo"``)
    are left off the map; with more than two varying parameters, or fewer
    than two points on the map, there is no map.
    """
    keys = []
    for r in records:
        for k in r["params"]:
            if k not in keys:
                keys.append(k)
    varying = []
    for k in keys:
        values = {repr(r["params"].get(k)) for r in records if _number(r["params"].get(k))}
        if len(values) > 1:
            varying.append(k)
    if not varying or len(varying) > 2:
        return None
    if sum(all(_number(r["params"].get(k)) for k in varying) for r in records) < 2:
        return None
    return varying


#: Resolution of the PNG figures (dots per inch).
DPI = 110

#: Height (inches) and number of row labels of a grid figure, whatever the grid's length.
MAX_GRID_HEIGHT = 9.0
MAX_ROW_TICKS = 30


def plot_grid(records, path, *, marks=None, title="", validator=None):
    """Heat maps of WAR, UAR and M-F1 over a method's grid (one or two parameters).

    Parameters
    ----------
    records : list of dict
        One method's records in one experiment.
    marks : dict, optional
        Rule name -> the selected record (or None), drawn as markers.

    Returns
    -------
    list of str
        The legend's entries.
    """
    from matplotlib.patches import Patch

    plt = _pyplot()
    axes_names = grid_axes(records)
    if axes_names is None:
        raise ValueError("these records do not vary along one or two numeric parameters")
    records = [r for r in records if all(_number(r["params"].get(k)) for k in axes_names)]
    if len(axes_names) == 2:  # two parameters: the first down the rows, the second across
        rows_name, cols_name = axes_names
    else:                     # one parameter: across, on one row
        rows_name, cols_name = None, axes_names[0]
    rows = sorted({r["params"][rows_name] for r in records}) if rows_name else [None]
    cols = sorted({r["params"][cols_name] for r in records})

    row_at = {v: i for i, v in enumerate(rows)}  # dicts: list.index() per cell was slow on TGSR's 23,035 points
    col_at = {v: i for i, v in enumerate(cols)}

    def cell(r):
        return row_at[r["params"][rows_name]] if rows_name else 0, col_at[r["params"][cols_name]]

    wide = len(cols) > 12
    height = min(MAX_GRID_HEIGHT, max(3.0, 0.35 * len(rows) + 2.2))   # long grids (TGSR: 271 rows) stay readable
    fig, axes = plt.subplots(1, 3, figsize=(15 if wide else 12, height), squeeze=False)
    handles = [Patch(facecolor="#d9d9d9", hatch="//", edgecolor="grey", label="not evaluated"),
               Patch(facecolor="white", hatch="xx", edgecolor="black", label="failed")]
    for ax, (key, label) in zip(axes[0], (("war", "WAR"), ("uar", "UAR"), ("mf1", "M-F1"))):
        values = np.full((len(rows), len(cols)), np.nan)
        state = np.zeros((len(rows), len(cols)), dtype=int)  # 0 not evaluated, 1 scored, 2 failed
        for r in records:
            i, j = cell(r)
            if r.get(key) is None:
                state[i, j] = max(state[i, j], 2) if state[i, j] != 1 else 1
            else:
                values[i, j], state[i, j] = 100 * r[key], 1
        ax.set_facecolor("#d9d9d9")
        im = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="viridis")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if state[i, j] != 1:
                    ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=state[i, j] == 2,
                                               facecolor="white", hatch="//" if state[i, j] == 0 else "xx",
                                               edgecolor="grey" if state[i, j] == 0 else "black", linewidth=0))
        for rule, rec in (marks or {}).items():
            if rec is None or rule not in RULE_MARKERS:
                continue
            try:
                i, j = cell(rec)
            except (KeyError, ValueError):
                continue
            marker, size, colour = RULE_MARKERS[rule]
            ax.plot(j + RULE_OFFSETS[rule], i, marker=marker, markersize=size, color=colour, markeredgecolor="black",
                    linestyle="none")
        step = max(1, len(cols) // 12)
        ax.set_xticks(range(0, len(cols), step), [f"{v:g}" for v in cols[::step]], fontsize=7, rotation=45)
        ax.set_xlabel(cols_name)
        if rows_name:
            rstep = max(1, -(-len(rows) // MAX_ROW_TICKS))
            ax.set_yticks(range(0, len(rows), rstep), [f"{v:g}" for v in rows[::rstep]], fontsize=7)
            ax.set_ylabel(rows_name)
        else:
            ax.set_yticks([])
        ax.set_title(f"{label} (%)", fontsize=9)
        fig.colorbar(im, ax=ax)
    for rule, rec in (marks or {}).items():
        if rec is not None and rule in RULE_MARKERS:
            marker, size, colour = RULE_MARKERS[rule]
            text = f"{rule} ({validator})" if rule == "label-free" and validator else rule
            try:
                cell(rec)
            except (KeyError, ValueError):
                text += " choice (" + ", ".join(f"{k}={v}" for k, v in rec["params"].items()) + ", off the map)"
            else:
                text += " choice"
            handles.append(plt.Line2D([], [], marker=marker, markersize=size * 0.7, color=colour,
                                      markeredgecolor="black", linestyle="none", label=text))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    _save(fig, path)
    return [h.get_label() for h in handles]


def _save(fig, path):
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
