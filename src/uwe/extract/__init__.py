"""Skills and occupation from a whole job ad, with calibrated probabilities and evidence sentences.

``Ranker.from_pretrained("minilm").extract(ad)``; ``uwe extract ad.txt``; ``POST /extract``; ``uwe calibrate``.
"""

from uwe.extract.checks import AdError, check_ad
from uwe.extract.extractor import Evidence, Extraction, Extractor, FoundOccupation, FoundSkill
from uwe.extract.segment import Segment, segment_ad
from uwe.extract.store import (Calibration, CalibrationError, NoCalibrationDataError, calibrate, calibration_for)

__all__ = ["AdError", "Calibration", "CalibrationError", "Evidence", "Extraction", "Extractor", "FoundOccupation",
           "FoundSkill", "NoCalibrationDataError", "Segment", "calibrate", "calibration_for", "check_ad",
           "segment_ad"]
