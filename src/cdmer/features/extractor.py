"""``LBPTOPExtractor``: the LBP-TOP extraction of clips as a scikit-learn-style estimator.

Its parameters are the whole recipe that turns a clip into a feature vector:
LBP-TOP's radii, points, sampling, mapping and spatial grid
(:func:`cdmer.features.lbptop.lbp_top`), the face crop or whole-frame resize
(:mod:`cdmer.io.face`) and the temporal normalisation (:mod:`cdmer.io.temporal`).
:meth:`LBPTOPExtractor.record` (its ``get_params()`` in the canonical form of
:mod:`cdmer.io.extraction`) is what a :class:`~cdmer.io.featureset.FeatureSet`
stores and what two feature sets are compared by: they are compatible exactly
when their canonical records are equal.

The extractor has no learned state: ``fit`` only validates the parameters,
and ``transform(clips)`` returns the feature matrix (rows = clips).
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin

from cdmer.errors import InputError
from cdmer.io.extraction import KEYS, canonical_record, missing

__all__ = ["LBPTOPExtractor"]


class LBPTOPExtractor(TransformerMixin, BaseEstimator):
    """LBP-TOP features of face clips (Zhao & Pietikainen 2007, as used in Zong et al. 2017, section 4.1).

    Parameters
    ----------
    radii : (int, int, int)
        RX, RY, RT.
    points : int or (int, int, int)
        Neighbours on the XY, XT, YT planes.
    sampling : {"round", "bilinear"}
    mapping : {"u2", "u2-matlab", "raw"}
    grid : tuple of int
        Spatial grids, N x N blocks each.
    face : bool
        Detect and crop the face (OpenCV Haar cascade) before resizing.
    size : (int, int) or None
        (width, height) of the frames LBP-TOP sees: the face crop's size with
        ``face``, else the whole frame's resize; ``None`` keeps the size.
    margin : float
        Face box margin, a fraction of its size (used with ``face``).
    on_no_face : {"error", "center", "full"}
        With ``face``, what to do with a clip where no face is found.
    frames : int or None
        Temporal normalisation to this many frames; ``None`` keeps them all.
    interpolation : {"tim", "linear"}
        The temporal normalisation's method (used with ``frames``).
    """

    def __init__(self, radii=(3, 3, 3), points=(8, 8, 8), sampling="round", mapping="u2", grid=(1, 2, 4, 8),
                 face=False, size=None, margin=0.1, on_no_face="error", frames=None, interpolation="tim"):
        self.radii = radii
        self.points = points
        self.sampling = sampling
        self.mapping = mapping
        self.grid = grid
        self.face = face
        self.size = size
        self.margin = margin
        self.on_no_face = on_no_face
        self.frames = frames
        self.interpolation = interpolation

    # ---------------------------------------------------------------- records
    def record(self) -> dict:
        """The canonical extraction record (:func:`cdmer.io.extraction.canonical_record` of ``get_params()``)."""
        return canonical_record(self.get_params())

    @classmethod
    def from_record(cls, record, **overrides):
        """The extractor a (canonical or legacy) record describes.

        Every feature-defining setting must be stated by ``record`` or
        ``overrides`` (the options a user gave); a missing one is an
        :class:`InputError` naming the option to give. An override that
        contradicts the record is an error too: the target must be extracted
        exactly as the source was.
        """
        rec = canonical_record(record)
        given = canonical_record({k: v for k, v in overrides.items() if v is not None})
        clash = [f"{k} (recorded {rec[k]!r}, given {given[k]!r})" for k in given if k in rec and rec[k] != given[k]]
        if clash:
            raise InputError("the source features were extracted otherwise; the target must be extracted "
                             "exactly as the source: " + "; ".join(clash), field="extraction")
        merged = {**rec, **{k: v for k, v in given.items() if k not in rec}}
        if merged.get("face") is True and "on_no_face" not in merged:
            merged["on_no_face"] = "error"
        lacking = missing(merged)
        if lacking:
            from cdmer.io.extraction import OPTIONS

            raise InputError("the source features do not record " + ", ".join(lacking)
                             + "; give " + ", ".join(OPTIONS[k] for k in lacking)
                             + " (the target clips must be extracted exactly as the source was)",
                             field="extraction")
        params = {k: merged[k] for k in KEYS if merged.get(k) is not None}
        if merged.get("face") is False:
            params.pop("margin", None)
            params.pop("on_no_face", None)
        return cls(**params)

    # ------------------------------------------------------------ estimator API
    def fit(self, X=None, y=None):
        """Validate the parameters (the extractor learns nothing)."""
        self.extract_kwargs()
        self.n_features_out_ = self.layout()["n_features"]
        return self

    def layout(self):
        """:func:`cdmer.features.lbptop.lbp_top_layout` of these parameters."""
        from cdmer.features.lbptop import lbp_top_layout

        return lbp_top_layout(radii=self.radii, points=self.points, sampling=self.sampling,
                              mapping=self.mapping, grid=self.grid)

    def extract_kwargs(self) -> dict:
        """Keyword arguments of :func:`cdmer.features.extract.extract_features` for these parameters."""
        rec = canonical_record(self.get_params())
        kwargs = {"radii": rec["radii"], "points": rec["points"], "sampling": rec["sampling"],
                  "mapping": rec["mapping"], "grid": rec["grid"], "frames": rec.get("frames"),
                  "interpolation": rec.get("interpolation") or "tim"}
        if self.face:
            kwargs["face"] = {"size": rec.get("size"), "margin": float(self.margin),
                              "on_no_face": self.on_no_face}
        elif rec.get("size") is not None:
            kwargs["resize"] = rec["size"]
        return kwargs

    def transform(self, clips, **kwargs):
        """Feature matrix of ``clips`` (one row per clip); a clip that fails raises :class:`InputError`.

        ``kwargs`` go to :func:`cdmer.features.extract.extract_features`
        (``n_jobs``, ``cache_dir``, ``progress``).
        """
        fs, failures = self.extract(clips, **kwargs)
        if failures:
            clip_id, path, reason = failures[0]
            raise InputError(f"{len(failures)} clip(s) failed; first {clip_id}: {reason}", path=path)
        return fs.X

    def extract(self, clips, out_path=None, **kwargs):
        """:func:`cdmer.features.extract.extract_features` with these parameters: ``(FeatureSet, failures)``."""
        from cdmer.features.extract import extract_features

        kwargs.setdefault("progress", False)
        return extract_features(clips, out_path, **self.extract_kwargs(), **kwargs)
