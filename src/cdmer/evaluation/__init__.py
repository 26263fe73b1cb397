"""Evaluation: the cross-database protocol, metrics, label-free validators, reports and plots.

- :mod:`cdmer.evaluation.protocol`: the plan (experiments x methods x grid points), its execution on
  :mod:`cdmer.parallel`, the result store (``results.jsonl``) and the selection rules (oracle, paper,
  fixed, label-free);
- :mod:`cdmer.evaluation.metrics`: WAR, UAR, M-F1 and confusion matrices (scikit-learn);
- :mod:`cdmer.evaluation.validators`: label-free criteria of a grid point;
- :mod:`cdmer.evaluation.reports` and :mod:`cdmer.evaluation.plots`: results.json, tables, CSV, figures;
- :mod:`cdmer.evaluation.paper` and :mod:`cdmer.evaluation.benchmark`: the published numbers printed beside ours.
"""
