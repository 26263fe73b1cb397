"""Features of face clips: LBP-TOP (:mod:`cdmer.features.lbptop`), the extraction
recipe as an estimator (:class:`~cdmer.features.extractor.LBPTOPExtractor`) and
the extraction of many clips into a :class:`cdmer.io.featureset.FeatureSet`
(:mod:`cdmer.features.extract`)."""

from cdmer.features.extractor import LBPTOPExtractor
from cdmer.features.lbptop import lbp_top, lbp_top_codes, lbp_top_layout, lbp_mapping

__all__ = ["LBPTOPExtractor", "lbp_top", "lbp_top_codes", "lbp_top_layout", "lbp_mapping"]
