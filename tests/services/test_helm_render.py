"""The Helm chart rendered for real (issue 14): helm-python-sdk (Helm's Go SDK in a wheel, no helm binary)
lints and renders helm/streamcal with its default values and with ci/full-values.yaml (every optional feature
on); every object is validated with kubernetes-validate (strict: unknown fields fail) or, for the operators'
custom resources, against the CRD schemas vendored in tests/data/crd_schemas; then the policy the chart
promises is checked object by object. checkov itself runs in ``make policy`` (it cannot share this venv).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

from services.metrics import CATALOGUE
from streamcal.routing._config import default_config_dir
from streamcal.routing.spec import RoutingConfig

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamcal"
FULL_VALUES = yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text())
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "scaledobject_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "triggerauthentication_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule_v1.json",
}
#: The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows.
KUBE_VERSIONS = ("1.25.0", kv_utils.latest_version())
#: checkov findings the chart may skip, each with its justification in the annotation (make policy).
ALLOWED_SKIPS = {"CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_43"}
NAMESPACE = "calib"
Obj = dict


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm_python.Chart, values: dict | None = None) -> list[Obj]:
    manifests = chart.render(values, name="sc", namespace=NAMESPACE)
    return [doc for name, text in sorted(manifests.items()) if name.endswith(".yaml")
            for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module", params=["default", "full"])
def objects(request: pytest.FixtureRequest, chart: helm_python.Chart) -> list[Obj]:
    return render(chart, None if request.param == "default" else FULL_VALUES)


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(objects: list[Obj]) -> Iterator[tuple[str, Obj]]:
    for deployment in of_kind(objects, "Deployment"):
        yield deployment["metadata"]["name"], deployment["spec"]["template"]


def promql_metrics(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers not followed by "(" and not label names/keywords."""
    stripped = re.sub(r'"[^"]*"', '""', expr)                     # label values
    stripped = re.sub(r"\{[^}]*\}", "", stripped)                 # label matchers
    stripped = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", "", stripped)
    stripped = re.sub(r"\[[^\]]*\]", "", stripped)                # range selectors
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", stripped))
    return {n for n in names if not re.fullmatch(r"and|or|unless|bool|offset|e|\d.*", n)}


def exported(name: str) -> bool:
    """A sample name the services export: a catalogue name, or a histogram's _bucket/_sum/_count."""
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return name in CATALOGUE or base in CATALOGUE


# --- lint and validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_the_chart_lints_clean(values):
    """1. helm lint (strict, against the oldest supported Kubernetes): no warnings, no errors."""
    report = helm_python.lint(CHART, values, strict=True, kube_version="v1.25.0", namespace=NAMESPACE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_every_object_validates_strictly(objects):
    """2. Built-in kinds validate with kubernetes-validate --strict on 1.25 and the newest Kubernetes; the
    KEDA and Prometheus Operator kinds against their vendored CRD schemas. No kind goes unchecked."""
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in CRD_SCHEMAS:
            schema = json.loads((ROOT / "tests" / "data" / "crd_schemas" / CRD_SCHEMAS[key]).read_text())
            jsonschema.Draft202012Validator(schema).validate(obj)
            continue
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)   # SchemaNotFoundError: an unknown kind


def test_the_full_values_render_every_optional_kind(chart):
    """3. ci/full-values.yaml really turns every feature on; the defaults need no operator (no CRDs)."""
    assert {o["kind"] for o in render(chart, FULL_VALUES)} == {
        "ConfigMap", "Deployment", "NetworkPolicy", "PodDisruptionBudget", "PrometheusRule", "ScaledObject",
        "Service", "ServiceAccount", "ServiceMonitor", "TriggerAuthentication"}
    assert not {o["apiVersion"] for o in render(chart)} & {k[0] for k in CRD_SCHEMAS}


def test_the_vendored_crd_schemas_reject_a_typo(chart):
    """4. The CRD schemas are strict: a misspelt field fails, as kubectl --validate=strict would."""
    scaled = of_kind(render(chart, FULL_VALUES), "ScaledObject")[0]
    scaled["spec"]["maxReplicas"] = 3
    schema = json.loads((ROOT / "tests" / "data" / "crd_schemas" / "scaledobject_v1alpha1.json").read_text())
    with pytest.raises(jsonschema.ValidationError, match="maxReplicas"):
        jsonschema.validate(scaled, schema, cls=jsonschema.Draft202012Validator)


# --- security policy -------------------------------------------------------------------------------------


def test_every_container_is_locked_down(objects):
    """5. Every container: non-root, no privilege escalation, read-only root with an emptyDir at /tmp, no
    capabilities, RuntimeDefault seccomp; the pod too. No pod mounts a service-account token."""
    assert list(pod_specs(objects))
    for name, template in pod_specs(objects):
        spec = template["spec"]
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        tmp = {v["name"]: v for v in spec["volumes"]}["tmp"]
        assert "emptyDir" in tmp, name
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000, name
            assert sc["allowPrivilegeEscalation"] is False and sc["privileged"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
            assert container["resources"]["limits"]["memory"], name


def test_pods_run_as_the_charts_service_account_without_a_token(objects):
    """6. One ServiceAccount, token automount off on it and on every pod that uses it."""
    (account,) = of_kind(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    for _, template in pod_specs(objects):
        assert template["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_a_network_policy_covers_every_pod_and_opens_only_dns_kafka_and_metrics(objects):
    """7. The NetworkPolicy selects every pod; ingress only to the metrics port; egress to DNS and the ports
    of kafka.bootstrap (plus extraEgress)."""
    (policy,) = of_kind(objects, "NetworkPolicy")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for name, template in pod_specs(objects):
        assert selector.items() <= template["metadata"]["labels"].items(), name
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == ["metrics"]
    _, template = next(pod_specs(objects))
    bus = {e["name"]: e.get("value") for e in template["spec"]["containers"][0]["env"]}["STREAMCAL_BUS"]
    kafka_ports = sorted({int(hp.rsplit(":", 1)[1]) for hp in bus.removeprefix("kafka://").split(",")})
    dns, kafka, *_ = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert [p["port"] for p in kafka["ports"]] == kafka_ports


def test_checkov_skips_are_few_and_justified(objects):
    """8. The only checkov findings the chart skips are the accepted ones, each with a reason after the "="
    (``make policy`` runs checkov on these manifests: 0 failed)."""
    for obj in objects:
        for key, value in obj["metadata"].get("annotations", {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert check in ALLOWED_SKIPS and len(reason) > 30, (obj["metadata"]["name"], value)


def test_image_digest_pins_the_image_and_drops_its_skip(chart):
    """9. With image.digest the image is repository@digest and CKV_K8S_43 is no longer skipped."""
    for _, template in pod_specs(render(chart, FULL_VALUES)):
        assert template["spec"]["containers"][0]["image"] == (
            f"{FULL_VALUES['image']['repository']}@{FULL_VALUES['image']['digest']}")
    deployments = of_kind(render(chart, FULL_VALUES), "Deployment")
    assert not any("CKV_K8S_43" in v for d in deployments for v in d["metadata"]["annotations"].values())


# --- monitoring ------------------------------------------------------------------------------------------


def test_alerts_use_the_metrics_the_services_export(chart):
    """10. The PrometheusRule alerts on dead letters, lag and no progress; every metric an expression names is
    in services/metrics.py's catalogue (the lag gauge too, by default: streamcal_consumer_lag, max over a group's
    pods)."""
    (rule,) = of_kind(render(chart, FULL_VALUES), "PrometheusRule")
    lag_metric = FULL_VALUES["metrics"].get("prometheusRule", {}).get("lag", {}).get(
        "metric", "streamcal_consumer_lag")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"StreamcalDeadLetters", "StreamcalConsumerLag", "StreamcalNoProgress"}
    assert "streamcal_deadletters_total" in promql_metrics(alerts["StreamcalDeadLetters"])
    assert promql_metrics(alerts["StreamcalConsumerLag"]) == {lag_metric}
    assert {"streamcal_last_success_timestamp_seconds", "streamcal_inflight"} <= promql_metrics(
        alerts["StreamcalNoProgress"])
    for name, expr in alerts.items():
        assert all(exported(m) for m in promql_metrics(expr) - {lag_metric}), (name, expr)
        assert f'namespace="{NAMESPACE}"' in expr or name == "StreamcalConsumerLag"


def test_the_dashboard_shows_throughput_latency_dead_letters_and_lag(chart):
    """11. The Grafana dashboard ConfigMap holds valid JSON whose queries name only exported metrics (and the
    lag metric), with a panel for each of throughput, latency, dead letters by reason and lag."""
    (dashboard,) = [c for c in of_kind(render(chart, FULL_VALUES), "ConfigMap") if "streamcal.json" in c["data"]]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["streamcal.json"])["panels"]
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in panels}
    used = {m for queries in exprs.values() for e in queries for m in promql_metrics(e)}
    assert {m for m in used if not exported(m)} == set()
    joined = json.dumps(exprs)
    for needle in ("streamcal_events_total", "streamcal_pipeline_seconds_bucket", "sum by (reason) "
                   "(increase(streamcal_deadletters_total", "max by (group) (streamcal_consumer_lag"):
        assert needle in joined


def test_the_service_monitor_keeps_the_metrics_own_service_label(chart):
    """12. honorLabels: the metrics' `service` label (watcher, router, ...) is not renamed exported_service,
    which the alerts and the dashboard group by."""
    (monitor,) = of_kind(render(chart, FULL_VALUES), "ServiceMonitor")
    assert all(e["honorLabels"] is True for e in monitor["spec"]["endpoints"])


# --- configuration, workers, scheduling, Kafka security --------------------------------------------------


def test_the_chart_ships_the_repository_configs_unchanged():
    """13. files/configs is a byte-for-byte copy of the configuration folder streamcal ships (run
    `cp -r configs/routing.yaml configs/pipelines.yaml configs/pars helm/streamcal/files/configs/` after editing)."""
    shipped = default_config_dir()
    copy_ = CHART / "files" / "configs"
    names = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.yaml"))
    assert names == sorted(p.relative_to(copy_).as_posix() for p in copy_.rglob("*.yaml"))
    for name in names:
        assert (copy_ / name).read_bytes() == (shipped / name).read_bytes(), name


@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_the_mounted_config_folder_loads(chart, tmp_path, values):
    """14. The ConfigMap mounted as the pods mount it (items: pars-* into pars/) is a configuration folder
    RoutingConfig loads, and STREAMCAL_CONFIG_DIR points at the mount."""
    objects = render(chart, values)
    (configmap,) = [c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"].endswith("-configs")]
    _, template = next(pod_specs(objects))
    volume = {v["name"]: v for v in template["spec"]["volumes"]}["configs"]["configMap"]
    for item in volume["items"]:
        (tmp_path / item["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / item["path"]).write_text(configmap["data"][item["key"]])
    assert {i["key"] for i in volume["items"]} == set(configmap["data"])
    config = RoutingConfig.load(tmp_path)
    assert config is not None
    container = template["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = {m["name"]: m for m in container["volumeMounts"]}["configs"]
    assert env["STREAMCAL_CONFIG_DIR"] == mount["mountPath"] and mount["readOnly"] is True
    if values:
        assert "resample, skip: true" in configmap["data"]["pars-image2pipeline.yaml"]


def test_overriding_one_worker_keeps_the_others(chart):
    """15. Workers are a map keyed by alias: --set workers.calwebb_image2.replicas=5 changes that worker only
    and keeps its other defaults; enabled: false removes one."""
    defaults = render(chart)
    changed = render(chart, {"workers": {"calwebb_image2": {"replicas": 5, "keda": {"enabled": False}},
                                         "calwebb_dark": {"enabled": False}}})
    names = {d["metadata"]["name"] for d in of_kind(defaults, "Deployment")}
    assert {d["metadata"]["name"] for d in of_kind(changed, "Deployment")} == names - {
        "sc-streamcal-worker-calwebb-dark"}
    image2 = {d["metadata"]["name"]: d for d in of_kind(changed, "Deployment")}["sc-streamcal-worker-calwebb-image2"]
    assert image2["spec"]["replicas"] == 5
    before = {d["metadata"]["name"]: d for d in of_kind(defaults, "Deployment")}["sc-streamcal-worker-calwebb-image2"]
    res = lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]   # noqa: E731
    assert res(image2) == res(before)


def test_keda_cannot_scale_past_the_partitions(chart):
    """16. A worker's keda.maxReplicas above kafka.partitions (idle consumers) fails the render."""
    values = copy.deepcopy(FULL_VALUES)
    values["workers"]["calwebb_detector1"] = {"keda": {"enabled": True, "maxReplicas": 9}}
    with pytest.raises(helm_python.HelmError, match=r"exceeds kafka\.partitions"):
        render(chart, values)


def test_scheduling_knobs_apply_globally_and_per_component(chart):
    """17. nodeSelector/tolerations/affinity/spread/priorityClassName reach every pod; a component's own key
    replaces the global one; spread constraints select the component's own pods."""
    pods = dict(pod_specs(render(chart, FULL_VALUES)))
    image3 = pods.pop("sc-streamcal-worker-calwebb-image3")["spec"]
    router = pods.pop("sc-streamcal-router")["spec"]
    assert image3["nodeSelector"] == {"example.org/memory": "high"}
    assert router["priorityClassName"] == "streamcal-critical"
    for name, template in pods.items():
        spec = template["spec"]
        assert spec["nodeSelector"] == FULL_VALUES["scheduling"]["nodeSelector"], name
        assert spec["priorityClassName"] == "streamcal" and spec["tolerations"] and spec["affinity"], name
        (spread,) = spec["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items(), name


def test_kafka_tls_and_sasl_reach_the_services_and_keda(chart):
    """18. With TLS and SASL on, pods get the CA/cert files mounted and the SASL credentials from the Secret
    (never a literal), and every ScaledObject authenticates through the TriggerAuthentication reading the
    same Secrets, with KEDA's spelling of the mechanism."""
    objects = render(chart, FULL_VALUES)
    tls, sasl = FULL_VALUES["kafka"]["tls"], FULL_VALUES["kafka"]["sasl"]
    for name, template in pod_specs(objects):
        container = template["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["STREAMCAL_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL", name
        assert env["STREAMCAL_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == sasl["secretName"]
        assert env["STREAMCAL_KAFKA_SSL_CAFILE"]["value"].startswith("/etc/streamcal/kafka-tls/")
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == tls["secretName"]
    (auth,) = of_kind(objects, "TriggerAuthentication")
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {"ca": (tls["secretName"], tls["caKey"]), "cert": (tls["secretName"], tls["certKey"]),
                    "key": (tls["secretName"], tls["keyKey"]), "username": (sasl["secretName"], "username"),
                    "password": (sasl["secretName"], "password")}
    for scaled in of_kind(objects, "ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
        assert trigger["metadata"]["tls"] == "enable" and trigger["metadata"]["sasl"] == "scram_sha512"
