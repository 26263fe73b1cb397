"""Plots: confusion matrices (as the paper's Figs. 3 and 4) and grid heat maps.

Uses matplotlib's non-interactive Agg backend; every figure is written
atomically as PNG.
"""

from __future__ import annotations

import numpy as np

from cdmer.io.atomic import atomic_path


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
        (keys ``classes``, ``confusion``, ``war``, ``uar``, ``params``).
    """
    plt = _pyplot()
    n = len(items)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.5 * rows), squeeze=False)
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
        ax.set_title(f"({letters[i]}) {name}: WAR {100 * rec['war']:.2f}, UAR {100 * rec['uar']:.2f}"
                     + (f"\n{params}" if params else ""), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_grid(records, path, *, title=""):
    """Heat maps of WAR and UAR over TSRG's (lambda, mu) grid."""
    plt = _pyplot()
    lams = sorted({r["params"]["lam"] for r in records})
    mus = sorted({r["params"]["mu"] for r in records})
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    for ax, key in zip(axes, ("war", "uar")):
        grid = np.full((len(lams), len(mus)), np.nan)
        for r in records:
            if r[key] is not None:
                grid[lams.index(r["params"]["lam"]), mus.index(r["params"]["mu"])] = 100 * r[key]
        im = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_yticks(range(len(lams)), [f"{v:g}" for v in lams], fontsize=7)
        step = max(1, len(mus) // 12)
        ax.set_xticks(range(0, len(mus), step), [f"{v:g}" for v in mus[::step]], fontsize=7, rotation=45)
        ax.set_ylabel("lambda")
        ax.set_xlabel("mu")
        ax.set_title(f"{key.upper()} (%)", fontsize=9)
        fig.colorbar(im, ax=ax)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path):
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
