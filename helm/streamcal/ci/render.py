"""Render the chart with its default values and with ci/full-values.yaml into one folder per values file.

Used by ``make policy`` (checkov reads the rendered manifests); needs only helm-python-sdk and PyYAML:

    python helm/streamcal/ci/render.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import helm_python
import yaml

CHART = Path(__file__).resolve().parents[1]
VALUES = {"default": None, "full": CHART / "ci" / "full-values.yaml"}


def main(out: Path) -> None:
    with helm_python.Chart.load(CHART) as chart:
        for name, path in VALUES.items():
            values = yaml.safe_load(path.read_text()) if path else None
            manifests = chart.render(values, name="streamcal", namespace="streamcal")
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            text = "\n---\n".join(body for template, body in sorted(manifests.items()) if template.endswith(".yaml"))
            (folder / "manifests.yaml").write_text(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
