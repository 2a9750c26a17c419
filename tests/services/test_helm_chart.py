"""The Helm chart (helm/streamcal): values validate against the schema, templates use only defined values.

These checks read the chart as data: the schema (jsonschema), every ``.Values`` path a template references,
every value some template uses (no unwired values), the ``STREAMCAL_*`` variables the pods get (each must be a
real setting), and the structure of the template actions. test_helm_render.py renders it for real.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from services.settings import ENV_PREFIX, Settings
from streamcal.routing import load_registry

CHART = Path(__file__).resolve().parents[2] / "helm" / "streamcal"
TEMPLATES = sorted((CHART / "templates").glob("*"))
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
#: Free-form maps passed through with toYaml: their keys are not referenced one by one.
PASSTHROUGH = {"commonLabels", "labels", "annotations", "resources", "scheduling", "podSecurityContext",
               "securityContext", "configs.files", "networkPolicy.metricsFrom", "networkPolicy.kafkaTo",
               "networkPolicy.extraEgress"}
SERVICES = ("watcher", "router", "tracker")
#: Template variables bound to a values subtree (``{{- $tls := .Values.kafka.tls }}``).
VARIABLES = {"values": "", "tls": "kafka.tls", "sasl": "kafka.sasl", "rule": "metrics.prometheusRule",
             "lag": "metrics.prometheusRule.lag", "global": "scheduling"}
#: STREAMCAL_* variables the chart already sets (kafka.tls/kafka.sasl on) that services/settings.py does not
#: define yet (issue 14, Deliver 3). Enabling kafka.tls or kafka.sasl needs them: until then a pod would stop
#: at startup on an unknown setting. Remove each name here when its setting lands.


def template_text() -> str:
    return "\n".join(p.read_text() for p in TEMPLATES)


def leaf_paths(node: object, prefix: str = "") -> set[str]:
    """Every value's dotted path; the entries of the ``workers`` map (keyed by alias) count as ``workers[]``."""
    if prefix == "workers" and isinstance(node, dict):
        return {p for item in node.values() for p in leaf_paths(item or {}, "workers[]")} or {prefix}
    if isinstance(node, dict):
        if is_passthrough(prefix):
            return {prefix}
        out: set[str] = set()
        for key, value in node.items():
            out |= leaf_paths(value, f"{prefix}.{key}" if prefix else key)
        return out
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return {prefix} | {p for item in node for p in leaf_paths(item, f"{prefix}[]")}
    return {prefix}


def referenced_paths(text: str) -> set[str]:
    """``.Values.a.b`` → ``a.b``; ``$worker.x`` → ``workers[].x`` and ``workerDefaults.x``; ``$cfg.x``/``$svc.cfg.x``
    → each service's x; ``$tls.x`` and the other VARIABLES → their subtree's x."""
    refs = set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text))
    paths = {r.lstrip(".") for r in refs}
    for ref in re.findall(r"\$worker((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths |= {f"workers[].{ref.lstrip('.')}", f"workerDefaults.{ref.lstrip('.')}"}
    for name, subtree in VARIABLES.items():
        for ref in re.findall(rf"\${name}((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
            paths.add(f"{subtree}{ref}".lstrip("."))
    for ref in re.findall(r"\$(?:svc\.)?cfg((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", text):
        paths |= {f"{svc}{ref}" for svc in SERVICES}
    return paths


def is_passthrough(path: str) -> bool:
    return path in PASSTHROUGH or path.rsplit(".", 1)[-1] in PASSTHROUGH


def exists(path: str, node: object = VALUES) -> bool:
    if path.startswith("workers[]."):          # every worker gets workerDefaults
        path = "workerDefaults." + path.removeprefix("workers[].")
    for part in path.split("."):
        if part.endswith("[]"):
            node = node.get(part[:-2]) if isinstance(node, dict) else None
            if not isinstance(node, list) or not node:
                return False
            node = node[0]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_values_validate_against_the_schema():
    """1. values.yaml is valid under values.schema.json (a valid 2020-12 schema)."""
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(VALUES, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda v: v["router"].update(replica=3), "Additional properties"),
    (lambda v: v.update(kafak={}), "Additional properties"),
    (lambda v: v["workers"].update(detector1={}), "does not match"),
    (lambda v: v["workers"]["calwebb_image2"].update(replica=3), "Additional properties"),
    (lambda v: v["configs"]["files"].update({"routing.yml": ""}), "does not match"),
    (lambda v: v["kafka"]["sasl"].update(enabled=True), "non-empty|too short"),
    (lambda v: v["kafka"].update(bootstrap="kafka"), "does not match"),
    (lambda v: v["settings"].update(shutdownGraceS=0), "less than the minimum"),
    (lambda v: v["workerDefaults"]["keda"].pop("lagThreshold"), "is a required property"),
])
def test_a_typo_or_a_bad_value_fails_validation(mutate, message):
    """2. additionalProperties: false everywhere, patterns and minimums: a typo fails at helm install/lint."""
    values = copy.deepcopy(VALUES)
    mutate(values)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(values, SCHEMA, cls=jsonschema.Draft202012Validator)


def test_templates_reference_only_defined_values_and_every_value_is_used():
    """3. Every .Values path of a template exists in values.yaml; 4. every value is used by a template."""
    refs = referenced_paths(template_text())
    assert refs, "no .Values reference found: the parser is broken"
    undefined = sorted(r for r in refs if not exists(r))
    assert undefined == []
    unused = sorted(p for p in leaf_paths(VALUES) if not any(
        p == r or r.startswith((p + ".", p + "[].")) or (p.startswith(r + ".") and is_passthrough(r))
        for r in refs))
    assert unused == []


def test_pods_get_only_real_settings_and_a_longer_grace_period():
    """5. Every STREAMCAL_* variable the chart sets is a field of Settings; the termination grace period is
    shutdownGraceS plus a positive margin, so Kubernetes never kills a draining service."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    names = set(re.findall(r"(?:name: |\"name\" \")(STREAMCAL_[A-Z_]+)", template_text()))
    setting = {n for n in names if n.removeprefix(ENV_PREFIX).lower() in fields}
    assert setting and names == setting
    assert "STREAMCAL_CONFIG_DIR" in setting
    assert "terminationGracePeriodSeconds: {{ add .root.Values.settings.shutdownGraceS " \
           ".root.Values.settings.terminationExtraS }}" in template_text()
    assert SCHEMA["properties"]["settings"]["properties"]["terminationExtraS"]["minimum"] >= 1


def test_template_actions_are_balanced_and_workers_name_known_pipelines():
    """6. Every if/range/with/define is closed; 7. every worker runs an alias of the pipeline registry, and
    KEDA never scales a worker past the topic's partitions."""
    for path in TEMPLATES:
        text = path.read_text()
        assert text.count("{{") == text.count("}}"), path.name
        opened = len(re.findall(r"{{-?\s*(?:if|range|with|define)\b", text))
        closed = len(re.findall(r"{{-?\s*end\s*-?}}", text))
        assert opened == closed, path.name
    aliases = set(load_registry().aliases)
    for alias, worker in VALUES["workers"].items():
        assert alias in aliases
        keda = {**VALUES["workerDefaults"]["keda"], **worker.get("keda", {})}
        assert keda["minReplicas"] <= keda["maxReplicas"] <= VALUES["kafka"]["partitions"]
    assert {"ServiceMonitor", "ScaledObject", "TriggerAuthentication", "PodDisruptionBudget", "PersistentVolumeClaim",
            "Deployment", "NetworkPolicy", "PrometheusRule", "ServiceAccount", "ConfigMap"} <= set(
        re.findall(r"^kind: (\w+)", template_text(), re.M))
