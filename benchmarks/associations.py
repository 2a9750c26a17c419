"""Our association generator against jwst's, on every pool the jwst wheel ships: agreement per type, and time.

    .venv/bin/python -m benchmarks.associations

For each pool, jwst's per-candidate generator (level-3 rules, as ``asn_generate`` runs it in operations) and
ours run on the same rows. An association is reproduced when candidate, product name and members (with
their member types) are identical. Differences that involve a pool row repeating another row's file name
are counted apart: streamcal keys exposures by file name and skips the repeat (see
tests/streamcal/associations/test_generator_oracle.py).
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

from streamcal.associations.generator import GENERATED_TYPES, generate
from streamcal.associations.pool import read_pool

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import jwst.associations.tests as jwst_asn_tests
    from jwst.associations.generator.generate_per_candidate import generate_per_candidate
    from jwst.associations.tests import helpers as jwst_helpers

POOL_DIR = Path(jwst_asn_tests.__file__).parent / "data"


def _signature(doc: dict) -> tuple:
    product = doc["products"][0]
    return (doc["asn_type"], doc["asn_id"], product["name"],
            tuple(sorted((m["expname"], m["exptype"]) for m in product["members"])))


def main() -> None:
    types = {str(t) for t in GENERATED_TYPES}
    total, exact, extra, repeated_diff = Counter(), Counter(), Counter(), Counter()
    seconds = {"jwst": 0.0, "streamcal": 0.0}
    skipped = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(POOL_DIR.glob("*.csv")):
            table = jwst_helpers.combine_pools(str(path))
            if "asn_candidate" not in table.colnames:
                skipped.append(f"{path.name}: no asn_candidate column (a pool from before candidates)")
                continue
            t0 = time.perf_counter()
            theirs_docs = [json.loads(a.dump(format="json")[1]) for a in generate_per_candidate(
                table, [jwst_helpers.level3_rule_path()], ignore_default=True, all_candidates=True, discover=False)]
            seconds["jwst"] += time.perf_counter() - t0
            file = Path(tmp) / path.name
            table.write(str(file), format="ascii", delimiter="|", overwrite=True)
            t0 = time.perf_counter()
            ours_docs = [a.to_dict() for a in generate(read_pool(file))]
            seconds["streamcal"] += time.perf_counter() - t0
            names = Counter(str(n) for n in table["filename"])
            repeated = {n.removesuffix("_uncal.fits") for n, c in names.items() if c > 1}
            theirs = Counter(_signature(d) for d in theirs_docs if d["asn_type"] in types)
            ours = Counter(_signature(d) for d in ours_docs)
            for sig, n in theirs.items():
                total[sig[0]] += n
                if sig in ours:
                    exact[sig[0]] += min(n, ours[sig])
                elif any(e.rsplit("_", 1)[0] in repeated for e, _ in sig[3]):
                    repeated_diff[sig[0]] += n
            for sig in ours:
                if sig not in theirs:
                    if any(e.rsplit("_", 1)[0] in repeated for e, _ in sig[3]):
                        repeated_diff[sig[0] + " (extra)"] += 1
                    else:
                        extra[sig[0]] += 1
    print(f"{'asn_type':12s} {'jwst':>5s} {'exact':>6s} {'%':>6s} {'extra':>6s} {'repeated-name diffs':>20s}")
    for kind in sorted(total):
        share = 100.0 * exact[kind] / total[kind]
        diffs = repeated_diff[kind] + repeated_diff[kind + " (extra)"]
        print(f"{kind:12s} {total[kind]:5d} {exact[kind]:6d} {share:6.1f} {extra[kind]:6d} {diffs:20d}")
    everything, reproduced = sum(total.values()), sum(exact.values())
    print(f"{'all':12s} {everything:5d} {reproduced:6d} {100.0 * reproduced / max(everything, 1):6.1f} "
          f"{sum(extra.values()):6d} {sum(repeated_diff.values()):20d}")
    print(f"time: jwst {seconds['jwst']:.1f} s, streamcal {seconds['streamcal']:.2f} s "
          f"({seconds['jwst'] / max(seconds['streamcal'], 1e-9):.0f}x)")
    for line in skipped:
        print("skipped", line)


if __name__ == "__main__":
    main()
