"""Associations: the jwst ASN JSON model and the level-3 membership rules used by the tracker."""

from __future__ import annotations

from streamcal.associations.model import (
    LEVEL2_MEMBER_TYPES,
    LEVEL3_MEMBER_TYPES,
    Asn,
    AsnMember,
    AsnProduct,
    asn_from_dict,
    member_paths,
    read_asn,
    to_json,
    write_asn,
)
from streamcal.associations.rules import (
    DEGRADED_STATUS_OK,
    asn_file_name,
    build_asn,
    candidate_key,
    expected_members,
    is_complete,
    is_level3_member,
    level3_product_name,
    member_exptype,
    optical_element,
)

__all__ = [
    "DEGRADED_STATUS_OK",
    "LEVEL2_MEMBER_TYPES",
    "LEVEL3_MEMBER_TYPES",
    "Asn",
    "AsnMember",
    "AsnProduct",
    "asn_file_name",
    "asn_from_dict",
    "build_asn",
    "candidate_key",
    "expected_members",
    "is_complete",
    "is_level3_member",
    "level3_product_name",
    "member_exptype",
    "member_paths",
    "optical_element",
    "read_asn",
    "to_json",
    "write_asn",
]
