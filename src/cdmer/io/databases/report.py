"""What a database loader found: clips per class and subject, dropped clips, warnings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cdmer.io.databases.frames import natural_key
from cdmer.io.featureset import CLASS_NAMES


@dataclass
class DatabaseReport:
    """Summary of one loaded database, in the spirit of the paper's Table 1.

    Attributes
    ----------
    kind : str
        ``CASME2``, ``SMIC_HS``, ``SMIC_VIS`` or ``SMIC_NIR``.
    root : str
        The folder that was read.
    n_clips : int
        Clips kept (those with a three-class label and frames).
    per_label : dict of str to int
        Kept clips per three-class label, every class listed (zero included).
    per_subject : dict of str to dict
        For each subject, kept clips per three-class label.
    dropped : dict of str to int
        Clips not kept because their original emotion has no three-class
        label (CASME II ``others``, ``fear``, ``sadness``; an unknown SMIC
        class folder), per original emotion.
    skipped : dict of str to int
        Clips that would have been kept but could not be, per reason
        (``missing_folder``, ``no_row``, ``duplicate_row``, ``no_frames``,
        ``bad_row``).
    warnings : list of str
        One message per problem met, each naming its clip.
    synthetic : bool
        True when the database was written by :mod:`cdmer.io.synthetic`.
    notes : list of str
        Choices the loader made that the user should see (e.g. which of
        several CASME II coding sheets was read); the commands print them.
    """

    kind: str
    root: str
    n_clips: int = 0
    per_label: dict = field(default_factory=dict)
    per_subject: dict = field(default_factory=dict)
    dropped: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    synthetic: bool = False
    notes: list = field(default_factory=list)

    def to_dict(self):
        """A JSON-ready dict of every field."""
        return {
            "kind": self.kind,
            "root": self.root,
            "synthetic": self.synthetic,
            "n_clips": self.n_clips,
            "per_label": dict(self.per_label),
            "per_subject": {s: dict(c) for s, c in self.per_subject.items()},
            "dropped": dict(self.dropped),
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


def summarise(kind, root, clips, dropped, skipped, warnings, synthetic=False):
    """Build a :class:`DatabaseReport` from the kept clips and the loader's tallies.

    A class left without any clip after mapping is not an error here (``cdmer
    info`` must be able to show it); it is added to the warnings, and the
    training code refuses a source with fewer than two classes.
    """
    per_label = {name: 0 for name in CLASS_NAMES}
    per_subject = {}
    for clip in clips:
        per_label[clip.label] += 1
        per_subject.setdefault(clip.subject, {name: 0 for name in CLASS_NAMES})[clip.label] += 1
    warnings = list(warnings)
    for name, count in per_label.items():
        if count == 0:
            warnings.append(f"{kind}: no clip of class '{name}' after mapping to three classes")
    return DatabaseReport(
        kind=kind,
        root=str(root),
        n_clips=len(clips),
        per_label=per_label,
        per_subject={s: per_subject[s] for s in sorted(per_subject, key=natural_key)},
        dropped=dict(sorted(Counter(dropped).items())),
        skipped=dict(sorted(Counter(skipped).items())),
        warnings=warnings,
        synthetic=synthetic,
    )


#: First word of the ``README.txt`` that :mod:`cdmer.io.synthetic` writes in
#: every database folder it makes.
SYNTHETIC_MARKER = "SYNTHETIC"


def is_synthetic(*folders):
    """True when one of ``folders`` holds a ``README.txt`` starting with :data:`SYNTHETIC_MARKER`."""
    for folder in folders:
        readme = folder / "README.txt"
        if readme.is_file():
            with open(readme, encoding="utf-8", errors="replace") as fh:
                if fh.read(len(SYNTHETIC_MARKER)) == SYNTHETIC_MARKER:
                    return True
    return False
