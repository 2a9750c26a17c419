"""calwebb_ami3's steps (``jwst_spec.md`` §1.9, §5.11): ami_analyze (fringe fit → observables per member) and
ami_normalize (science by calibrator)."""

from __future__ import annotations

from streamcal.steps.ami.steps import AmiAnalyzeStep, AmiNormalizeStep, analyze_exposure

__all__ = ["AmiAnalyzeStep", "AmiNormalizeStep", "analyze_exposure"]
