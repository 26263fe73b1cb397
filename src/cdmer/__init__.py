"""cdmer: cross-database micro-expression recognition.

Implements the Target Sample Re-Generator (TSRG) of Zong et al., "Learning a
Target Sample Re-Generator for Cross-Database Micro-Expression Recognition",
ACM MM 2017, with its LBP-TOP features, its comparison methods (linear SVM,
KMM, KLIEP, uLSIF, STM) and its evaluation protocol.

The package is layered: ``io`` -> ``features`` -> ``adaptation`` (array API)
-> ``da`` (skada / scikit-learn layer, registry) -> ``evaluation`` -> ``cli``;
each layer imports only from the layers before it (docs/architecture.md).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("cdmer")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

from cdmer.errors import CdmerError, InputError, NotFittedError
from cdmer.io.featureset import FeatureSet, CLASS_NAMES

__all__ = [
    "__version__",
    "CdmerError",
    "InputError",
    "NotFittedError",
    "FeatureSet",
    "CLASS_NAMES",
    "TSRG",
    "KMM",
    "KLIEP",
    "ULSIF",
    "STM",
    "DRFST",
    "DRLS",
    "TGSR",
    "GFK",
    "CORAL",
    "TKL",
    "lbp_top",
]


def __getattr__(name):
    # Lazy imports keep ``import cdmer`` fast (numba compiles on first use)
    # and let ``cdmer.io`` be used without the heavier layers.
    if name == "TSRG":
        from cdmer.adaptation.tsrg import TSRG

        return TSRG
    if name in ("KMM", "KLIEP", "ULSIF", "STM", "DRFST", "DRLS", "TGSR", "GFK", "CORAL", "TKL"):
        from cdmer import adaptation

        return getattr(adaptation, name)
    if name == "lbp_top":
        from cdmer.features.lbptop import lbp_top

        return lbp_top
    raise AttributeError(f"module 'cdmer' has no attribute {name!r}")
