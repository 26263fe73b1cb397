"""The model bundle of ``cdmer fit`` / ``cdmer predict``: extractor, method, data to refit, versions.

A fitted cross-database model is (the extraction record, the method and
its parameters, how they were chosen, the package versions). The model file
stores these as a JSON record plus the arrays the fit needs: the labelled
source features and the unlabelled target features. Loading rebuilds the
estimator from the registry by name and REFITS it on those arrays; every
method is deterministic (seeded), and the file also holds the target
predictions made at fit time, which the refit must reproduce, or loading
fails with one line that says so. The reasons for this design (instead of
pickling the fitted estimator) are in ``docs/deployment.md``: no code can run
from a model file, and no per-estimator serialisation has to be written.

File format (``FORMAT``, ``FORMAT_VERSION``): a NumPy ``.npz`` archive read
with ``allow_pickle=False``, members ``record`` (0-d unicode: the JSON
record), ``Xs`` (float64, ns x d), ``ys`` (unicode, ns), ``Xt`` (float64,
nt x d), ``yt_fit`` (unicode, nt: the target predictions at fit time).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from cdmer.deployment.methods import Method, select_params
from cdmer.errors import InputError
from cdmer.io.atomic import atomic_path, json_default
from cdmer.io.extraction import canonical_record, check_compatible, missing, to_json
from cdmer.io.featureset import FeatureSet
from cdmer.io.provenance import versions

FORMAT = "cdmer-model"
FORMAT_VERSION = 2
_ARRAYS = ("record", "Xs", "ys", "Xt", "yt_fit")


class ModelBundle:
    """A cross-database model: fit it on a labelled source and an unlabelled target, label new clips.

    Parameters
    ----------
    method : str
        A method of the registry (default ``TSRG``).
    params : dict, optional
        Parameters the user fixed; the others are chosen without target
        labels (:func:`cdmer.deployment.methods.select_params`).
    extractor : dict, optional
        The canonical extraction record of the target (default: the
        source's and the target's records merged).
    """

    def __init__(self, method="TSRG", params=None, extractor=None):
        self.method = method
        self.params = params
        self.extractor = extractor

    # --------------------------------------------------------------------- fit
    def fit(self, source: FeatureSet, target: FeatureSet, *, progress=False, select=True, jobs=1):
        """Choose the parameters (label-free, unless all given) and fit on ``source`` and ``target``.

        ``jobs`` processes evaluate the grid (:func:`cdmer.deployment.methods.select_params`).
        """
        if source.labels is None:
            raise InputError("the source features must be labelled", path=source.source, field="labels")
        if len(source.classes) < 2:
            raise InputError(f"the source has one class ({source.classes[0] if source.classes else 'none'}); "
                             "at least two are needed", path=source.source, field="labels")
        if source.n_features != target.n_features:
            raise InputError(f"the source has {source.n_features} features, the target {target.n_features}",
                             path=target.source, field="X")
        source.check_compatible(target)
        method = Method(self.method)
        given = {**method.deployment_settings(), **(self.params or {})}
        if select:
            params, selection = select_params(method, source.X, source.labels, target.X, given,
                                              progress=progress, jobs=jobs)
        else:
            params = {**method.fixed, **given}
            selection = {"rule": "given" if given else "fixed", "params": params}
        self.extractor_ = to_json(self.extractor if self.extractor is not None
                                  else {**canonical_record(source.extraction), **canonical_record(target.extraction)})
        self._fit_arrays(method, params, source.X, source.labels, target.X, progress=progress)
        self.selection_ = selection
        self.source_info_ = {"database": source.database, "samples": source.n_samples,
                             "classes": source.class_counts(), "path": source.source}
        self.target_info_ = {"database": target.database, "samples": target.n_samples, "path": target.source,
                             "sample_ids": target.sample_ids.tolist()}
        self.versions_ = versions()
        self.yt_fit_ = self.estimator_.predict(target.X)
        return self

    def _fit_arrays(self, method, params, Xs, ys, Xt, progress=False):
        from tqdm.auto import tqdm

        with tqdm(total=1, desc=f"fitting {method.name}", unit="fit", disable=not progress,
                  bar_format="{desc}: {elapsed} {postfix}") as bar:
            self.estimator_ = method.fit(params, Xs, ys, Xt)
            bar.update()
        self.method_ = method.name
        self.params_ = dict(params)
        self.classes_ = self.estimator_.classes_
        self.n_features_ = Xs.shape[1]
        self._Xs, self._ys, self._Xt = np.asarray(Xs, float), np.asarray(ys).astype(str), np.asarray(Xt, float)

    # ------------------------------------------------------------------ predict
    def can_extract(self):
        """Names of the settings the record lacks for extracting clips (empty: clips can be labelled)."""
        return missing(self.extractor_)

    def clip_extractor(self):
        """The :class:`~cdmer.features.extractor.LBPTOPExtractor` that new clips must go through."""
        from cdmer.features.extractor import LBPTOPExtractor

        lacking = self.can_extract()
        if lacking:
            raise InputError("the model's extraction record lacks " + ", ".join(lacking)
                             + ": it labels feature files only (fit it from clips to label clips)",
                             field="extraction")
        return LBPTOPExtractor.from_record(self.extractor_)

    def predict(self, features: FeatureSet):
        """``(labels, scores)``: class names and decision values (one column per ``classes_``, or None)."""
        if features.n_features != self.n_features_:
            raise InputError(f"{features.n_features} features, the model expects {self.n_features_}",
                             path=features.source, field="X")
        check_compatible(self.extractor_, features.extraction, "the model", "these features",
                         path=features.source)
        return self.estimator_.predict(features.X), self.estimator_.scores(features.X)

    # ----------------------------------------------------------------- storage
    def record(self):
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "method": self.method_,
                "params": self.params_, "selection": self.selection_, "extractor": self.extractor_,
                "classes": self.classes_.tolist(), "n_features": self.n_features_,
                "source": self.source_info_, "target": self.target_info_, "versions": self.versions_}

    def save(self, path):
        """Write the model file atomically (see the module docstring for its format)."""
        arrays = {"record": np.asarray(json.dumps(self.record(), default=json_default)),
                  "Xs": self._Xs, "ys": self._ys, "Xt": self._Xt, "yt_fit": np.asarray(self.yt_fit_).astype(str)}
        with atomic_path(Path(path)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path, *, progress=False):
        """Read a model file and refit its estimator; any problem is one :class:`InputError` line."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no such model file", path=path)
        if not zipfile.is_zipfile(path):
            raise InputError(f"not a cdmer model file (expected a {FORMAT} archive written by cdmer fit)",
                             path=path)
        try:
            with np.load(path, allow_pickle=False) as data:
                names = set(data.files)
                lacking = [n for n in _ARRAYS if n not in names]
                if lacking:
                    raise InputError(f"not a cdmer model file (lacks {', '.join(lacking)})", path=path)
                arrays = {n: data[n] for n in _ARRAYS}
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - zip, CRC, pickled members (refused), format errors
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"not a readable cdmer model file ({reason})", path=path) from None
        try:
            rec = json.loads(str(arrays["record"]))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise InputError(f"not a cdmer model file (record: {exc})", path=path, field="record") from None
        if rec.get("format") != FORMAT:
            raise InputError(f"not a cdmer model file (expected format {FORMAT})", path=path, field="format")
        if rec.get("format_version") != FORMAT_VERSION:
            raise InputError(f"model format version {rec.get('format_version')!r}; this cdmer reads version "
                             f"{FORMAT_VERSION}: fit the model again with this version", path=path,
                             field="format_version")
        try:
            Xs, ys, Xt, yt_fit = (np.asarray(arrays["Xs"], float), np.asarray(arrays["ys"]).astype(str),
                                  np.asarray(arrays["Xt"], float), np.asarray(arrays["yt_fit"]).astype(str))
            self = cls(rec["method"], rec["params"], rec["extractor"])
            method = Method(rec["method"])
            self._fit_arrays(method, rec["params"], Xs, ys, Xt, progress=progress)
            self.extractor_ = to_json(rec["extractor"])
            self.selection_ = rec.get("selection")
            self.source_info_, self.target_info_ = rec.get("source"), rec.get("target")
            self.versions_ = rec.get("versions", {})
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise InputError(exc.reason, path=path, field=exc.field) from None
            raise InputError(f"damaged cdmer model file ({type(exc).__name__}: {exc})", path=path) from None
        self.yt_fit_ = yt_fit
        again = self.estimator_.predict(Xt)
        if again.shape != yt_fit.shape or not np.array_equal(again, yt_fit):
            agree = int(np.sum(again == yt_fit)) if again.shape == yt_fit.shape else 0
            raise InputError(f"refitting {self.method_} here reproduces {agree} of {len(yt_fit)} target predictions "
                             f"of the model (written by cdmer {self.versions_.get('cdmer')}, scikit-learn "
                             f"{self.versions_.get('scikit-learn')}; here cdmer {versions()['cdmer']}, "
                             f"scikit-learn {versions()['scikit-learn']}): fit the model again here",
                             path=path, field="yt_fit")
        return self


def load_model(path, **kwargs):
    """:meth:`ModelBundle.load`."""
    return ModelBundle.load(path, **kwargs)
