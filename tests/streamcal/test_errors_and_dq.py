from __future__ import annotations

import numpy as np
import pytest

from streamcal import errors
from streamcal.dq import GROUP_BITS, Pixel, dq_def_rows, interpret_bit_flags


def test_every_error_carries_a_policy_and_a_builtin_base():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not (isinstance(cls, type) and issubclass(cls, errors.StreamcalError)):
            continue
        assert isinstance(cls.reason, errors.DeadLetterReason)
        assert isinstance(cls.retriable, bool)
        assert len(cls.__mro__) > 3, f"{name} should also subclass a builtin"
    assert errors.ReferenceUnavailableError.retriable and issubclass(errors.ReferenceUnavailableError, OSError)
    assert not errors.CorruptFileError.retriable and issubclass(errors.CorruptFileError, ValueError)


def test_unknown_exposure_type_message_names_value_and_file():
    assert "'NRC_BOGUS'" in str(errors.UnknownExposureTypeError("NRC_BOGUS", "a.fits"))
    assert "a.fits" in str(errors.UnknownExposureTypeError("NRC_BOGUS", "a.fits"))
    assert "missing" in str(errors.UnknownExposureTypeError(None, "a.fits"))
    message = str(errors.MissingKeywordError("NGROUPS", "b.fits"))
    assert message == "keyword NGROUPS is missing from the PRIMARY header of b.fits"


def test_dq_values_match_jwst():
    assert Pixel.DO_NOT_USE == 1 and Pixel.JUMP_DET == 4 and Pixel.NO_SAT_CHECK == 2097152
    assert Pixel.REFERENCE_PIXEL == 2**31
    assert int(GROUP_BITS) == 255
    rows = dq_def_rows()
    assert len(rows) == 32 and all(value == 1 << bit for bit, value, _, _ in rows)


@pytest.mark.parametrize(("good_bits", "bad"), [
    ("~DO_NOT_USE+NON_SCIENCE", int(Pixel.DO_NOT_USE | Pixel.NON_SCIENCE)),
    ("DO_NOT_USE", int(np.uint32(~np.uint32(1)))),
    (0, 0xFFFFFFFF),
    (None, None),
])
def test_interpret_bit_flags(good_bits, bad):
    assert interpret_bit_flags(good_bits) == bad


def test_interpret_bit_flags_rejects_unknown_names():
    with pytest.raises(ValueError, match="BOGUS"):
        interpret_bit_flags("~BOGUS")


def test_dq_names_and_bits_are_stdatamodels_own():
    """Issue 10: every flag name and bit as stdatamodels' dqflags tables spell them (pixel and group)."""
    from stdatamodels.jwst.datamodels import dqflags

    assert {name: int(Pixel[name]) for name in dqflags.pixel} == dict(dqflags.pixel)
    assert {p.name for p in Pixel} | {"GOOD"} == set(dqflags.pixel)
    for name, bit in dqflags.group.items():
        assert int(Pixel[name]) == bit and bit <= 0xFF  # group flags fit GROUPDQ's uint8


def test_missing_keyword_messages_say_it_once():
    """Issue 13: a caller that explains more passes its own sentence; the standard one is not wrapped around it
    ("keyword keyword …: … is missing from the PRIMARY header is missing from the PRIMARY header")."""
    from streamcal.kernels.image.wcs import pixel_scale_arcsec

    plain = errors.MissingKeywordError("EXP_TYPE", "a_uncal.fits")
    assert str(plain) == "keyword EXP_TYPE is missing from the PRIMARY header of a_uncal.fits"
    with pytest.raises(errors.MissingKeywordError) as caught:
        pixel_scale_arcsec({"INSTRUME": "NOSUCH"})
    assert str(caught.value) == "no nominal pixel scale for INSTRUME='NOSUCH'" and caught.value.keyword == "INSTRUME"
