"""Associations: the jwst ASN JSON model, pools and jwst's level-3 rules on them (the generator), the ledger of
declared associations, and the header rules the tracker falls back on."""

from __future__ import annotations

from streamcal.associations.generator import (
    GENERATED_TYPES,
    UNTRACKED_RULES,
    generate,
    named_associations,
    pool_version_id,
    row_exptype,
)
from streamcal.associations.jwst_rules import (
    RULES,
    CandidateGroup,
    Level3Rule,
    member_type,
    rule_product_name,
    use_integrations,
)
from streamcal.associations.ledger import Ledger, member_names
from streamcal.associations.model import (
    LEVEL2_MEMBER_TYPES,
    LEVEL3_MEMBER_TYPES,
    PRODUCT_NAME_TEMPLATES,
    Asn,
    AsnMember,
    AsnProduct,
    asn_from_dict,
    check_upstream,
    member_paths,
    read_asn,
    to_json,
    write_asn,
)
from streamcal.associations.pool import MAX_POOL_BYTES, Candidate, Pool, PoolRow, parse_pool, read_pool
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
    "GENERATED_TYPES",
    "LEVEL2_MEMBER_TYPES",
    "LEVEL3_MEMBER_TYPES",
    "MAX_POOL_BYTES",
    "PRODUCT_NAME_TEMPLATES",
    "RULES",
    "UNTRACKED_RULES",
    "Asn",
    "AsnMember",
    "AsnProduct",
    "Candidate",
    "CandidateGroup",
    "Ledger",
    "Level3Rule",
    "Pool",
    "PoolRow",
    "asn_file_name",
    "asn_from_dict",
    "build_asn",
    "candidate_key",
    "check_upstream",
    "expected_members",
    "generate",
    "is_complete",
    "is_level3_member",
    "level3_product_name",
    "member_exptype",
    "member_names",
    "member_paths",
    "member_type",
    "named_associations",
    "optical_element",
    "parse_pool",
    "pool_version_id",
    "read_asn",
    "read_pool",
    "row_exptype",
    "rule_product_name",
    "to_json",
    "use_integrations",
    "write_asn",
]
