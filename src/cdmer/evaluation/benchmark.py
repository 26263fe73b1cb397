"""The cross-database micro-expression benchmark: its task sets and published numbers.

Zhang, Zong et al., "Cross-Database Micro-Expression Recognition: A Benchmark",
IEEE TKDE 2022 (arXiv 1812.07742). It defines two task sets:

- TYPE-I: the SMIC cameras among themselves (HS, VIS, NIR);
- TYPE-II: CASME II against each SMIC camera;

and reports M-F1 (macro F1, as a fraction) and accuracy (%, our WAR). The
numbers below are the published ones for the TYPE-II tasks that the shared
features allow (C -> V, V -> C, C -> N, N -> C), as transcribed in issue 10;
the other tasks' numbers are not transcribed here, so their cells stay empty.

DRLS's accuracies 49.8 (C -> N, 71 targets) and 42.4 (N -> C, 130 targets)
cannot occur: no count of correct predictions out of 71 or 130 rounds to
them. They are the papers' own transcription errors and are printed as
published, with :data:`NOTES`.
"""

from cdmer.evaluation import paper

#: Task name -> (source, target), in the benchmark's order.
TYPE1 = {
    "HS->VIS": ("SMIC_HS", "SMIC_VIS"),
    "VIS->HS": ("SMIC_VIS", "SMIC_HS"),
    "HS->NIR": ("SMIC_HS", "SMIC_NIR"),
    "NIR->HS": ("SMIC_NIR", "SMIC_HS"),
    "VIS->NIR": ("SMIC_VIS", "SMIC_NIR"),
    "NIR->VIS": ("SMIC_NIR", "SMIC_VIS"),
}
TYPE2 = {
    "C->H": ("CASME2", "SMIC_HS"),
    "H->C": ("SMIC_HS", "CASME2"),
    "C->V": ("CASME2", "SMIC_VIS"),
    "V->C": ("SMIC_VIS", "CASME2"),
    "C->N": ("CASME2", "SMIC_NIR"),
    "N->C": ("SMIC_NIR", "CASME2"),
}

_T2_TASKS = ("C->V", "V->C", "C->N", "N->C")
_T2 = {  # method -> (M-F1, accuracy %) per task in _T2_TASKS order (issue 10's table)
    "SVM": ((.470, 50.7), (.537, 53.1), (.530, 52.1), (.237, 23.9)),
    "IW-SVM": ((.578, 59.2), (.554, 54.6), (.512, 50.7), (.346, 36.2)),
    "TCA": ((.683, 69.0), (.579, 59.2), (.499, 50.7), (.394, 42.3)),
    "GFK": ((.636, 66.2), (.606, 61.5), (.518, 53.5), (.447, 46.9)),
    "SA": ((.594, 59.2), (.524, 51.5), (.474, 47.9), (.359, 36.9)),
    "STM": ((.402, 52.1), (.272, 30.0), (.352, 42.3), (.385, 41.5)),
    "TKL": ((.604, 60.6), (.538, 53.1), (.539, 54.9), (.425, 43.9)),
    "TSRG": ((.594, 59.2), (.621, 63.1), (.562, 56.3), (.411, 46.2)),
    "DRFS-T": ((.622, 63.4), (.676, 68.5), (.537, 56.3), (.465, 50.8)),
    "DRLS": ((.576, 57.8), (.594, 60.0), (.489, 49.8), (.384, 42.4)),
    "TGSR": ((.591, 59.2), (.640, 63.9), (.570, 57.8), (.447, 48.5)),
}

#: (source, target) -> method -> {"mf1": fraction, "accuracy": percent}.
PUBLISHED = {}
for _method, _cells in _T2.items():
    for _task, (_mf1, _acc) in zip(_T2_TASKS, _cells):
        PUBLISHED.setdefault(TYPE2[_task], {})[_method] = {"mf1": _mf1, "accuracy": _acc}

#: (source, target, method, metric) -> note printed beneath a table that shows the value.
NOTES = {
    ("CASME2", "SMIC_NIR", "DRLS", "accuracy"):
        "DRLS C->N accuracy 49.8 as published; no count out of 71 targets gives it (a transcription error).",
    ("SMIC_NIR", "CASME2", "DRLS", "accuracy"):
        "DRLS N->C accuracy 42.4 as published; no count out of 130 targets gives it (a transcription error).",
}

CITATION = "Zhang, Zong et al., IEEE TKDE 2022 (arXiv 1812.07742)"


def task_name(source, target):
    """The benchmark's name of a (source, target) pair of database names ("C->V"), or None."""
    pair = (paper._canonical(source), paper._canonical(target))
    for name, p in {**TYPE1, **TYPE2}.items():
        if p == pair:
            return name
    return None


def published(source, target):
    """``method -> {"mf1", "accuracy"}`` the benchmark reports for a pair (empty when none)."""
    return PUBLISHED.get((paper._canonical(source), paper._canonical(target)), {})


def notes(source, target, metric):
    """Notes on published values of one pair and metric ("accuracy" or "mf1")."""
    pair = (paper._canonical(source), paper._canonical(target))
    return [text for (s, t, _m, what), text in NOTES.items() if (s, t) == pair and what == metric]
