"""Feature sets: features of one database with their labels and provenance.

A :class:`FeatureSet` holds samples as rows (``X`` is ``n_samples x
n_features``), as scikit-learn does. The paper (section 3.2) writes samples as
columns (``Xs`` is ``d x ns``); the estimators transpose once at their
boundary.

Files:

- ``.npz`` (:meth:`FeatureSet.save`, :meth:`FeatureSet.load`): arrays plus a
  JSON metadata record (database, extraction parameters, versions).
- MATLAB ``.mat`` export (:meth:`FeatureSet.to_mat`) for users of MATLAB
  toolboxes, and import of v5 (SciPy) and v7.3 (HDF5) files
  (:func:`read_mat_features`), with the user's variable names and label map.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cdmer.errors import InputError
from cdmer.io.atomic import atomic_path
from cdmer.io.extraction import KEYS, canonical_record, check_compatible, to_json

#: The three classes of the paper's protocol (section 4.1), in label order.
CLASS_NAMES = ("negative", "positive", "surprise")


def class_order(names):
    """Class names in :data:`CLASS_NAMES` order first, then any others sorted (the order of every report)."""
    names = set(names)
    return [c for c in CLASS_NAMES if c in names] + sorted(names - set(CLASS_NAMES))


#: Label map of the published real-feature files (1/2/3, see
#: ``shared/data/real-features/README.md``).
MICRO_LABEL_MAP = {1: "negative", 2: "positive", 3: "surprise"}

#: How the published real-feature files were made (from their README).
MICRO_EXTRACTION = {
    "method": "LBP-TOP",
    "radii": [3, 3, 3],
    "points": 8,
    "mapping": "u2",
    # the reference LBPTOP.m rounds neighbour coordinates (docs/lbptop.md); "R3P8" names that code
    "sampling": "round",
    "grid": [1, 2, 4, 8],
    # clips "temporally interpolated" (README): TIM, to a number of frames the publication does not give;
    # faces cropped to 112 x 112 by a detector and margin it does not give either
    "interpolation": "tim",
    "layout": "grid level, then plane (XY, XT, YT), then block",
    "face_size": [112, 112],
    "origin": "precomputed features, jiangxingxun/Seeking_Salient_Facial_Region data/3class",
}

_FORMAT = "cdmer-featureset-1"


def normalise_extraction(extraction, path=None):
    """An extraction record with its extractor settings in the canonical form.

    Provenance entries (layout, versions, per-clip frame counts, origin) are
    kept; the settings are rewritten by :func:`cdmer.io.extraction.canonical_record`
    (legacy ``face`` dicts, ``resize`` and ``face_size`` become ``face``/``size``...).
    """
    extraction = dict(extraction or {})
    try:
        record = to_json(extraction)
    except InputError as exc:
        raise InputError(exc.reason, path=path, field=f"extraction.{exc.field}") from None
    extra = {k: v for k, v in extraction.items() if k not in KEYS and k not in ("resize", "face_size")}
    return {**extra, **record}


@dataclass
class FeatureSet:
    """Features of the clips of one database.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        One row per clip. Must be finite.
    labels : array-like of str, shape (n_samples,), optional
        Class names (for the paper's protocol ``negative``, ``positive``,
        ``surprise``). ``None`` for an unlabelled set (a new camera's clips).
    sample_ids, subjects : array-like of str, optional
        Clip and subject identifiers; default ``"0", "1", ...`` and ``""``.
    database : str
        Name of the database (``CASME2``, ``SMIC_VIS``, ...).
    extraction : dict
        How the features were made (extractor and its parameters).
    source : str, optional
        The file the set was read from; used in error messages.
    """

    X: np.ndarray
    labels: np.ndarray | None = None
    sample_ids: np.ndarray | None = None
    subjects: np.ndarray | None = None
    database: str = ""
    extraction: dict = field(default_factory=dict)
    source: str | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        where = self.source
        X = np.asarray(self.X)
        if X.ndim != 2:
            raise InputError(f"expected a 2-D feature matrix (samples x features), got shape {X.shape}",
                             path=where, field="X")
        if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
            raise InputError(f"expected real numbers, got dtype {X.dtype}", path=where, field="X")
        X = X.astype(np.float64, copy=False)
        if X.shape[0] > 0 and not np.all(np.isfinite(X)):
            bad = np.argwhere(~np.isfinite(X))[0]
            raise InputError(f"contains NaN or inf (first at sample {bad[0]}, feature {bad[1]})",
                             path=where, field="X")
        n = X.shape[0]
        self.X = X
        if self.labels is not None:
            labels = np.asarray(self.labels).astype(str).ravel()
            if labels.shape[0] != n:
                raise InputError(f"{labels.shape[0]} labels for {n} samples", path=where, field="labels")
            self.labels = labels
        self.sample_ids = self._strings(self.sample_ids, n, "sample_ids", [str(i) for i in range(n)])
        self.subjects = self._strings(self.subjects, n, "subjects", [""] * n)
        self.extraction = normalise_extraction(self.extraction, path=where)

    @property
    def extractor(self):
        """The canonical extraction record (:func:`cdmer.io.extraction.canonical_record`)."""
        return canonical_record(self.extraction)

    def check_compatible(self, other, what_self="the source", what_other="the target"):
        """Raise :class:`InputError` unless both sets were extracted with the same settings
        (the settings both records state are equal after canonical normalisation)."""
        check_compatible(self.extraction, other.extraction, what_self, what_other, path=other.source)

    def _strings(self, values, n, name, default):
        if values is None:
            return np.asarray(default, dtype=str).reshape(n)
        values = np.asarray(values).astype(str).ravel()
        if values.shape[0] != n:
            raise InputError(f"{values.shape[0]} entries for {n} samples", path=self.source, field=name)
        return values

    # ------------------------------------------------------------------ basics
    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def classes(self):
        """Sorted class names present in ``labels`` (empty if unlabelled)."""
        return () if self.labels is None else tuple(sorted(set(self.labels.tolist())))

    def class_counts(self):
        """Number of samples per class, as a dict in :data:`CLASS_NAMES` order first."""
        if self.labels is None:
            return {}
        names, counts = np.unique(self.labels, return_counts=True)
        lookup = dict(zip(names.tolist(), counts.tolist()))
        return {c: lookup[c] for c in class_order(lookup)}

    def __repr__(self):
        counts = ", ".join(f"{k}={v}" for k, v in self.class_counts().items()) or "unlabelled"
        return f"FeatureSet({self.database or '?'}: {self.n_samples} x {self.n_features}, {counts})"

    def subset(self, index):
        """Return a new set with the samples selected by ``index`` (mask or indices)."""
        return FeatureSet(
            X=self.X[index],
            labels=None if self.labels is None else self.labels[index],
            sample_ids=self.sample_ids[index],
            subjects=self.subjects[index],
            database=self.database,
            extraction=self.extraction,
            source=self.source,
        )

    # -------------------------------------------------------------------- .npz
    def save(self, path, **extra_metadata):
        """Save to ``.npz`` atomically, with the metadata as a JSON record.

        ``extra_metadata`` (e.g. versions, per-clip frame counts) is stored
        beside ``database`` and ``extraction``.
        """
        meta = {"format": _FORMAT, "database": self.database, "extraction": self.extraction}
        meta.update(extra_metadata)
        arrays = {
            "X": self.X,
            "sample_ids": self.sample_ids,
            "subjects": self.subjects,
            "metadata": np.asarray(json.dumps(meta, default=str)),
        }
        if self.labels is not None:
            arrays["labels"] = self.labels
        with atomic_path(Path(path)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path):
        """Load a set written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no such file", path=path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # zip or format errors from NumPy
            raise InputError(f"not a readable .npz file ({exc})", path=path) from None
        for name in ("X", "metadata"):
            if name not in arrays:
                raise InputError("missing from the feature file (expected a file written by cdmer)",
                                 path=path, field=name)
        try:
            meta = json.loads(str(arrays["metadata"]))
            if not isinstance(meta, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise InputError(f"unreadable metadata record ({exc})", path=path, field="metadata") from None
        fs = cls(
            X=arrays["X"],
            labels=arrays.get("labels"),
            sample_ids=arrays.get("sample_ids"),
            subjects=arrays.get("subjects"),
            database=meta.get("database", ""),
            extraction=meta.get("extraction", {}),
            source=str(path),
            metadata=meta,
        )
        return fs

    # -------------------------------------------------------------------- .mat
    def to_mat(self, path):
        """Export to a MATLAB v5 ``.mat`` file.

        Variables: ``features`` (n_samples x n_features, samples as rows, as
        in the published feature files), ``labels`` (n_samples x 1, codes
        1..k), ``class_names`` (cell, code order), ``sample_ids`` and
        ``subjects`` (cells), ``metadata`` (JSON string).
        """
        from scipy.io import savemat

        classes = list(self.class_counts())
        codes = (np.zeros(self.n_samples) if self.labels is None
                 else np.array([classes.index(c) + 1 for c in self.labels], dtype=float))
        content = {
            "features": self.X,
            "labels": codes.reshape(-1, 1),
            "class_names": np.array(classes, dtype=object),
            "sample_ids": np.array(self.sample_ids.tolist(), dtype=object),
            "subjects": np.array(self.subjects.tolist(), dtype=object),
            "metadata": json.dumps({"database": self.database, "extraction": self.extraction}),
        }
        with atomic_path(Path(path)) as tmp:
            savemat(tmp, content, do_compression=True)


# ------------------------------------------------------------------ MATLAB in
def _read_mat_variables(path):
    """Return ({name: array in MATLAB's shape}, version) for a .mat file."""
    import h5py
    from scipy.io import loadmat

    if h5py.is_hdf5(path):
        out = {}
        try:
            with h5py.File(path, "r") as f:
                for name, obj in f.items():
                    if isinstance(obj, h5py.Dataset) and not name.startswith("#"):
                        # HDF5 stores MATLAB arrays transposed.
                        out[name] = np.asarray(obj).T
        except (OSError, ValueError, KeyError, RuntimeError) as exc:  # truncated or damaged HDF5
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"not a readable MATLAB v7.3 (HDF5) file, truncated or damaged ({reason})",
                             path=path) from None
        return out, "7.3"
    try:
        data = loadmat(path)
    except Exception as exc:
        raise InputError(f"not a readable MATLAB file ({exc})", path=path) from None
    return {k: v for k, v in data.items() if not k.startswith("__")}, "5"


def read_mat_features(path, feature_var, label_var=None, label_map=None, *, database=None,
                      extraction=None, samples_as="auto"):
    """Import a MATLAB feature file (v5 or v7.3) as a :class:`FeatureSet`.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.
    feature_var, label_var : str
        Names of the feature matrix and the label vector. ``label_var=None``
        reads an unlabelled set.
    label_map : dict, optional
        Numeric label -> class name, e.g. ``{1: "negative", 2: "positive",
        3: "surprise"}``. Required with ``label_var``; a label outside the
        map is an error.
    samples_as : {"auto", "rows", "columns"}
        Orientation of the feature matrix as MATLAB holds it. ``"auto"``
        uses the label count to decide; it is an error when that is
        ambiguous (square matrix) or when neither side matches.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    variables, mat_version = _read_mat_variables(path)
    if feature_var not in variables:
        raise InputError(f"no such variable (variables: {', '.join(sorted(variables)) or 'none'})",
                         path=path, field=feature_var)
    F = np.asarray(variables[feature_var])
    if F.ndim != 2 or not np.issubdtype(F.dtype, np.number):
        raise InputError(f"expected a 2-D numeric matrix, got shape {F.shape} of {F.dtype}",
                         path=path, field=feature_var)
    labels = None
    n_labels = None
    if label_var is not None:
        if label_var not in variables:
            raise InputError(f"no such variable (variables: {', '.join(sorted(variables))})",
                             path=path, field=label_var)
        if not label_map:
            raise InputError("a label map (code -> class name) is required", path=path, field=label_var)
        codes = np.asarray(variables[label_var]).ravel()
        n_labels = codes.shape[0]
        names = []
        for i, code in enumerate(codes.tolist()):
            key = int(code) if isinstance(code, float) and code.is_integer() else code
            if key not in label_map:
                raise InputError(f"label {key!r} of sample {i} is not in the label map "
                                 f"(expected one of {sorted(label_map)})", path=path, field=label_var)
            names.append(label_map[key])
        labels = np.asarray(names)

    if samples_as == "auto":
        if n_labels is None:
            raise InputError("cannot tell samples from features without labels: pass samples_as",
                             path=path, field=feature_var)
        if F.shape[0] == n_labels and F.shape[1] != n_labels:
            samples_as = "rows"
        elif F.shape[1] == n_labels and F.shape[0] != n_labels:
            samples_as = "columns"
        elif F.shape[0] == n_labels:
            raise InputError(f"square matrix {F.shape}: pass samples_as='rows' or 'columns'",
                             path=path, field=feature_var)
        else:
            raise InputError(f"shape {F.shape} does not match the {n_labels} labels in '{label_var}'",
                             path=path, field=feature_var)
    if samples_as == "columns":
        F = F.T
    elif samples_as != "rows":
        raise InputError(f"samples_as must be 'auto', 'rows' or 'columns', got {samples_as!r}")
    if n_labels is not None and F.shape[0] != n_labels:
        raise InputError(f"{F.shape[0]} samples but {n_labels} labels in '{label_var}'",
                         path=path, field=feature_var)
    return FeatureSet(X=F, labels=labels, database=database or path.stem,
                      extraction=extraction or {}, source=str(path),
                      metadata={"mat_version": mat_version, "feature_var": feature_var,
                                "label_var": label_var})


def load_features(path):
    """Load features from ``.npz`` (cdmer) or ``.mat`` (the published preset).

    A ``.mat`` file is read with the preset of the published real-feature
    files: variables ``<NAME>_micro_feature`` and ``<NAME>_micro_label``,
    labels 1/2/3 = negative/positive/surprise. Other MATLAB layouts go through
    :func:`read_mat_features` with explicit names and label map.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return FeatureSet.load(path)
    if suffix == ".mat":
        variables, _ = _read_mat_variables(path)
        feats = [k for k in variables if k.endswith("_micro_feature")]
        if len(feats) != 1:
            raise InputError("expected exactly one variable named '<NAME>_micro_feature' (the published "
                             f"preset); found variables: {', '.join(sorted(variables)) or 'none'}. "
                             "Use read_mat_features() with explicit variable names.", path=path)
        stem = feats[0][: -len("_micro_feature")]
        return read_mat_features(path, feats[0], f"{stem}_micro_label", MICRO_LABEL_MAP,
                                 database=stem, extraction=MICRO_EXTRACTION)
    raise InputError(f"unknown feature file type '{path.suffix}' (expected .npz or .mat)", path=path)
