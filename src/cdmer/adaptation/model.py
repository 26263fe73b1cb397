"""A deployable adapted model: extractor settings + adaptation + classifier.

For a practitioner with a labelled database and unlabelled clips from a new
camera: :meth:`AdaptedModel.fit` learns the adaptation (TSRG by default) from
the labelled source features and the unlabelled target features, and
:meth:`AdaptedModel.predict` labels target clips' features. The model file
records the extractor settings the features must have been made with, the
method and its parameters, the classes and the package versions; loading it
under another cdmer version, or predicting features made with other
extractor settings, is refused with a message that says what differs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cdmer.errors import InputError
from cdmer.io.atomic import atomic_path
from cdmer.io.featureset import FeatureSet
from cdmer.io.provenance import versions

FORMAT = "cdmer-model-1"

#: Extractor settings that must agree between source, target and new clips.
EXTRACTOR_KEYS = ("method", "radii", "points", "sampling", "mapping", "grid", "frame_size", "frames")


def extractor_settings(extraction):
    """The part of a feature set's ``extraction`` record that defines its features.

    ``frame_size`` (width, height of the frames LBP-TOP saw) is read from the
    face crop size, the resize, or ``face_size`` of the published features.
    """
    extraction = dict(extraction or {})
    size = extraction.get("face_size") or (extraction.get("face") or {}).get("size") or extraction.get("resize")
    if size:
        extraction["frame_size"] = [int(v) for v in size]
    return {k: extraction[k] for k in EXTRACTOR_KEYS if extraction.get(k) is not None}


def extraction_kwargs(extraction):
    """Keyword arguments of :func:`cdmer.features.extract.extract_features` that
    reproduce the extraction recorded in ``extraction`` (a feature set's record)."""
    e = dict(extraction or {})
    kwargs = {k: e[k] for k in ("radii", "points", "sampling", "mapping", "grid", "frames") if e.get(k) is not None}
    for k in ("radii", "grid"):
        if k in kwargs:
            kwargs[k] = tuple(kwargs[k])
    if isinstance(kwargs.get("points"), list):
        kwargs["points"] = tuple(kwargs["points"])
    if e.get("frames") is not None:
        kwargs["interpolation"] = e.get("interpolation") or "tim"
    if e.get("face"):
        kwargs["face"] = dict(e["face"])
    elif e.get("resize"):
        kwargs["resize"] = tuple(e["resize"])
    return kwargs


def check_same_extractor(a, b, what_a, what_b, path=None):
    """Raise :class:`InputError` when two extraction records disagree on a shared key."""
    sa, sb = extractor_settings(a), extractor_settings(b)
    diff = [k for k in sa if k in sb and _norm(sa[k]) != _norm(sb[k])]
    if diff:
        details = "; ".join(f"{k}: {sa[k]!r} vs {sb[k]!r}" for k in diff)
        raise InputError(f"{what_a} and {what_b} were extracted with different settings ({details})",
                         path=path, field="extraction")


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v


class AdaptedModel:
    """A fitted cross-database model.

    Parameters
    ----------
    method : str
        A method of :data:`cdmer.adaptation.methods.METHODS` (default TSRG).
    params : dict, optional
        Its constructor parameters (default: the method's fixed setting).
    """

    def __init__(self, method="TSRG", params=None):
        self.method = method
        self.params = params

    def fit(self, source: FeatureSet, target: FeatureSet):
        from cdmer.adaptation.methods import get_method

        if source.labels is None:
            raise InputError("the source features must be labelled", path=source.source, field="labels")
        if source.n_features != target.n_features:
            raise InputError(f"the source has {source.n_features} features, the target {target.n_features}",
                             path=target.source, field="X")
        check_same_extractor(source.extraction, target.extraction, "source", "target", path=target.source)
        method = get_method(self.method)
        params = dict(method.fixed if self.params is None else self.params)
        self.estimator_ = method.make(**params).fit(source.X, source.labels, target.X)
        self.params_ = params
        self.method_ = method.name
        self.classes_ = np.asarray(self.estimator_.classes_)
        per_clip = ("frames_in", "frames_out", "face_boxes", "n_failed")
        self.extraction_ = {k: v for k, v in (target.extraction or source.extraction).items() if k not in per_clip}
        self.n_features_ = source.n_features
        self.source_info_ = {"database": source.database, "samples": source.n_samples,
                             "classes": source.class_counts(), "path": source.source}
        self.target_info_ = {"database": target.database, "samples": target.n_samples, "path": target.source}
        return self

    def extraction_kwargs(self):
        """Arguments of :func:`~cdmer.features.extract.extract_features` for new clips: the
        extraction the target was made with."""
        return extraction_kwargs(self.extraction_)

    def predict(self, features: FeatureSet):
        """Return ``(labels, scores)``: predicted class names and decision scores.

        ``scores`` has one column per class in ``classes_`` order (the
        one-vs-one votes aggregated by LIBSVM's ``ovr`` shape).
        """
        if features.n_features != self.n_features_:
            raise InputError(f"{features.n_features} features, the model expects {self.n_features_}",
                             path=features.source, field="X")
        check_same_extractor(self.extraction_, features.extraction, "the model", "these features",
                             path=features.source)
        labels = np.asarray(self.estimator_.predict(features.X)).astype(str)
        scores = np.asarray(self.estimator_.decision_function(features.X), dtype=float)
        if scores.ndim == 1:  # two classes: the score of the second class
            scores = np.stack([-scores, scores], axis=1)
        return labels, scores

    def save(self, path):
        """Write the model atomically (a joblib pickle with a format record)."""
        import joblib

        self.versions_ = versions()
        payload = {"format": FORMAT, "versions": self.versions_, "model": self}
        with atomic_path(Path(path)) as tmp:
            joblib.dump(payload, tmp, compress=3)

    @staticmethod
    def load(path):
        """Load a model written by :meth:`save` under the same cdmer version."""
        import joblib

        path = Path(path)
        if not path.is_file():
            raise InputError("no such model file", path=path)
        try:
            payload = joblib.load(path)
        except Exception as exc:
            raise InputError(f"not a cdmer model file ({type(exc).__name__}: {exc})", path=path) from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise InputError(f"not a cdmer model file (expected format {FORMAT})", path=path, field="format")
        saved, current = payload["versions"].get("cdmer"), versions()["cdmer"]
        if saved != current:
            raise InputError(f"written by cdmer {saved}, this is cdmer {current}: fit the model again "
                             "with this version", path=path, field="versions")
        return payload["model"]
