"""The S_* step-status keywords (streamcal/steps/base.py) are jwst's: checked against stdatamodels' core schema
(issue 14: ``S_PICFRM`` was written where jwst reads ``S_PCTFRM``)."""

from __future__ import annotations

from importlib import resources

import yaml

from streamcal.steps import STATUS_KEYWORDS


def _cal_step_keywords() -> dict[str, str]:
    """``meta.cal_step.<step>`` → its FITS keyword, from stdatamodels' core.schema.yaml."""
    text = (resources.files("stdatamodels.jwst.datamodels") / "schemas" / "core.schema.yaml").read_text()
    meta = yaml.safe_load(text)["properties"]["meta"]["properties"]
    steps = meta["cal_step"]["properties"]
    return {name: spec["fits_keyword"] for name, spec in steps.items() if "fits_keyword" in spec}


def test_every_status_keyword_is_one_jwst_defines():
    jwst = _cal_step_keywords()
    assert set(STATUS_KEYWORDS.values()) <= set(jwst.values())
    same_name = {step: kw for step, kw in STATUS_KEYWORDS.items() if step in jwst}
    assert same_name == {step: jwst[step] for step in same_name}
    assert STATUS_KEYWORDS["picture_frame"] == jwst["picture_frame"] == "S_PCTFRM"
