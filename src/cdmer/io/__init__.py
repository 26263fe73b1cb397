"""Input and output: feature sets, MATLAB feature files, clips and databases."""

from cdmer.io.featureset import CLASS_NAMES, FeatureSet

__all__ = ["CLASS_NAMES", "FeatureSet"]
