"""fangpin.synth: a synthetic rural county or province, month by month, with department deliveries and the
hidden truth. Django-free and deterministic by seed. See docs/synth.md."""

from fangpin.synth.config import DefectRates, SynthConfig, SynthSummary
from fangpin.synth.run import generate

__all__ = ["DefectRates", "SynthConfig", "SynthSummary", "generate"]
