"""The Helm chart: lint, render, Kubernetes schemas, and the properties the node relies on."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.ops.assets import ALERTS, CHART, DASHBOARD
from tests.ops.chart import NAMESPACE, RELEASE, VARIANTS, Helm, values_args

# The chart's kubeVersion floor, and the newest version the validator knows.
KUBE_VERSIONS = ("1.25", "1.35")
PROMETHEUS_OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
HARDENING_VARIABLES = [
    "AOI_ADDRESS_CONNECT_RATE",
    "AOI_ADDRESS_REGISTER_RATE",
    "AOI_IDENTIFY_TIMEOUT",
    "AOI_HEADER_TIMEOUT",
    "AOI_BODY_TIMEOUT",
    "AOI_KEEPALIVE_TIMEOUT",
    "AOI_WRITE_TIMEOUT",
    "AOI_MAX_HEADER_BYTES",
    "AOI_MAX_BODY_BYTES",
    "AOI_MAX_BODY_MEMORY",
    "AOI_REGISTRATION_TTL",
]


def _one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def _maybe(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [m for m in manifests if m["kind"] == kind]
    return found[0] if found else None


def _values(variant: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    if variant != "chart":
        override = yaml.safe_load((CHART / "ci" / f"{variant}-values.yaml").read_text()) or {}
        _merge(values, override)
    return values


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def test_ci_variants_exist() -> None:
    assert {"default", "full"} <= set(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_lint(helm: Helm, variant: str) -> None:
    result = helm.run("lint", "--strict", str(CHART), *values_args(variant))
    assert result.returncode == 0, result.stdout + result.stderr


def test_manifests_match_kubernetes_schemas(manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        if manifest["kind"] in PROMETHEUS_OPERATOR_KINDS:
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = "/".join(str(p) for p in exc.path)
                pytest.fail(f"{manifest['kind']} on {version} at {path}: {exc.message}")


def test_prometheus_operator_resources_are_well_formed(manifests: list[dict[str, Any]]) -> None:
    """No schema for the CRDs in kubernetes-validate: check their shape here."""
    for manifest in manifests:
        kind = manifest["kind"]
        if kind not in PROMETHEUS_OPERATOR_KINDS:
            continue
        assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
        assert manifest["metadata"]["name"]
        assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
        spec = manifest["spec"]
        if kind == "ServiceMonitor":
            assert spec["selector"]["matchLabels"]
            assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
            for endpoint in spec["endpoints"]:
                assert endpoint["port"] == "ops"  # still answers when the main port is full
                assert endpoint["path"] == "/metrics"
                for relabel in endpoint.get("relabelings", []):
                    assert set(relabel) <= {
                        "sourceLabels",
                        "targetLabel",
                        "action",
                        "regex",
                        "replacement",
                        "separator",
                    }
        else:
            assert spec["groups"]
            for group in spec["groups"]:
                assert group["name"] and group["rules"]
                for rule in group["rules"]:
                    assert isinstance(rule["expr"], str) and rule["expr"].strip()
                    assert ("alert" in rule) != ("record" in rule)


def test_deployment(manifests: list[dict[str, Any]], variant: str) -> None:
    values = _values(variant)
    deployment = _one(manifests, "Deployment")
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    (container,) = spec["containers"]

    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "ops": 8081}

    # preStop sleep, then the node's own drain, must both fit in the grace period.
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 1
    drain_grace = values["gateway"]["drainGrace"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + drain_grace

    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts

    env = {e["name"]: e for e in container["env"]}
    assert env["AOI_NODE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    annotations = pod["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64
    assert "resources" in container and container["resources"]["requests"]

    # Settings come from the chart's ConfigMap, which never holds a password.
    (ref,) = container["envFrom"]
    config = next(
        m
        for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == ref["configMapRef"]["name"]
    )
    data = config["data"]
    assert all(key.startswith("AOI_") for key in data)
    assert "AOI_REDIS_PASSWORD" not in data
    assert data["AOI_DRAIN_GRACE"] == str(drain_grace)
    assert data["AOI_OPS_PORT"] == str(ports["ops"])
    for name in HARDENING_VARIABLES:  # every hostile-input limit is a chart value
        assert name in data, name
    assert data["AOI_REDIS_WAIT_REPLICAS"] == str(values["redis"]["waitReplicas"])
    assert {"AOI_REDIS_URL", "AOI_REDIS_SENTINEL", "AOI_REDIS_CLUSTER"} & set(data) == {
        _redis_mode_variable(values["redis"])
    }

    if values["autoscaling"]["enabled"]:
        assert "replicas" not in deployment["spec"]
        hpa = _one(manifests, "HorizontalPodAutoscaler")
        assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    else:
        assert deployment["spec"]["replicas"] == values["replicaCount"]
        assert _maybe(manifests, "HorizontalPodAutoscaler") is None


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _settings(manifests: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """The AOI_* settings of the chart's ConfigMap that the container reads."""
    (ref,) = container["envFrom"]
    name = ref["configMapRef"]["name"]
    config = next(
        m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == name
    )
    data: dict[str, str] = config["data"]
    return data


def _redis_mode_variable(redis: dict[str, Any]) -> str:
    """The one variable naming the node's Redis deployment."""
    if redis["sentinel"]["enabled"]:
        return "AOI_REDIS_SENTINEL"
    return "AOI_REDIS_CLUSTER" if redis["cluster"]["enabled"] else "AOI_REDIS_URL"


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("chart", {"AOI_REDIS_URL": "redis://redis-master:6379/0", "AOI_REDIS_WAIT_REPLICAS": "0"}),
        (
            "sentinel",
            {
                "AOI_REDIS_SENTINEL": "redis-sentinel-0.redis-sentinel:26379,"
                "redis-sentinel-1.redis-sentinel:26379,redis-sentinel-2.redis-sentinel:26379",
                "AOI_REDIS_SENTINEL_SERVICE": "aoi",
                "AOI_REDIS_WAIT_REPLICAS": "1",
            },
        ),
        (
            "cluster",
            {
                "AOI_REDIS_CLUSTER": "redis-cluster-0.redis-cluster-headless:6379,"
                "redis-cluster-1.redis-cluster-headless:6379",
                "AOI_REDIS_WAIT_REPLICAS": "1",
            },
        ),
    ],
)
def test_redis_mode_environment(helm: Helm, variant: str, expected: dict[str, str]) -> None:
    """Each mode renders exactly its own variables, as the node reads them."""
    config = _one(helm.render(*values_args(variant)), "ConfigMap")["data"]
    redis = {key: value for key, value in config.items() if key.startswith("AOI_REDIS_")}
    assert {k: v for k, v in redis.items() if k != "AOI_REDIS_TIMEOUT"} == expected


def test_redis_password_comes_from_a_secret(manifests: list[dict[str, Any]], variant: str) -> None:
    values = _values(variant)
    deployment = _one(manifests, "Deployment")
    env = {e["name"]: e for e in _container(deployment)["env"]}
    secrets = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Secret"}
    redis = values["redis"]
    if redis["existingSecret"] or redis["password"]:
        ref = env["AOI_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        if redis["existingSecret"]:
            assert ref == {
                "name": redis["existingSecret"],
                "key": redis["existingSecretPasswordKey"],
            }
        else:
            assert ref == {"name": deployment["metadata"]["name"], "key": "redis-password"}
            assert ref["key"] in secrets[ref["name"]]["data"]
    else:
        assert "AOI_REDIS_PASSWORD" not in env


# The credential files: (volume, setting, values section, inline value's key in that section).
CREDENTIAL_FILES = [
    ("api-keys", "AOI_API_KEYS_FILE", "apiKeys", "keys"),
    ("device-jwt-key", "AOI_DEVICE_JWT_KEY", "deviceAuth", "key"),
]


@pytest.mark.parametrize(("volume", "setting", "section", "inline"), CREDENTIAL_FILES)
def test_credential_files_are_mounted_from_secrets(
    manifests: list[dict[str, Any]],
    variant: str,
    volume: str,
    setting: str,
    section: str,
    inline: str,
) -> None:
    values = _values(variant)[section]
    deployment = _one(manifests, "Deployment")
    container = _container(deployment)
    settings = _settings(manifests, container)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    if not (values["existingSecret"] or values[inline]):
        assert volume not in volumes and volume not in mounts and setting not in settings
        return
    source = volumes[volume]["secret"]
    (item,) = source["items"]
    # The node reads the mounted item; no subPath, so the kubelet updates it in place.
    assert settings[setting] == f"{mounts[volume]['mountPath']}/{item['path']}"
    assert "subPath" not in mounts[volume] and mounts[volume]["readOnly"] is True
    if values["existingSecret"]:
        assert source["secretName"] == values["existingSecret"]
        assert item["key"] == values["existingSecretKey"]
        return
    secret = next(
        m
        for m in manifests
        if m["kind"] == "Secret" and m["metadata"]["name"] == source["secretName"]
    )
    content = base64.b64decode(secret["data"][item["key"]]).decode()
    expected = values[inline]
    assert content == ("\n".join(expected) + "\n" if isinstance(expected, list) else expected)


def test_device_token_audience_and_issuer(manifests: list[dict[str, Any]], variant: str) -> None:
    values = _values(variant)["deviceAuth"]
    settings = _settings(manifests, _container(_one(manifests, "Deployment")))
    for name, setting in (
        ("audience", "AOI_DEVICE_JWT_AUDIENCE"),
        ("issuer", "AOI_DEVICE_JWT_ISSUER"),
    ):
        assert settings.get(setting) == (values[name] or None)


def test_checksum_rolls_pods_on_config_change(helm: Helm) -> None:
    def checksums(*args: str) -> dict[str, Any]:
        deployment = _one(helm.render(*args), "Deployment")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("checksum/")}

    base = checksums()
    changed_config = checksums("--set", "gateway.logLevel=debug")
    changed_secret = checksums("--set", "redis.password=hunter2")
    assert changed_config["checksum/config"] != base["checksum/config"]
    assert changed_secret["checksum/secret"] != base["checksum/secret"]
    assert checksums() == base
    # The node re-reads its credential files live: a changed key rolls no pod.
    auth = ("-f", str(CHART / "ci" / "auth-values.yaml"))
    with_keys = checksums(*auth)
    assert checksums(*auth, "--set", "apiKeys.keys={sha256:" + "0" * 64 + " *}") == with_keys
    assert checksums(*auth, "--set", "deviceAuth.key=another") == with_keys


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--set",
                "redis.sentinel.enabled=true",
                "--set",
                "redis.sentinel.addresses={s:26379}",
                "--set",
                "redis.cluster.enabled=true",
            ],
            "mutually exclusive",
        ),
        (["--set", "redis.sentinel.enabled=true"], "redis.sentinel.addresses"),
        (["--set", "redis.cluster.enabled=true"], "redis.cluster.addresses"),
        (["--set", "redis.cluster.addresses={redis-0}"], "/redis/cluster/addresses/0"),
        (["--set", "redis.waitReplicas=17"], "waitReplicas"),
        (["--set", "apiKeys.keys={no-scope}"], "apiKeys"),
        (["--set", "deviceAuth.audience=two words"], "audience"),
        (["--set", "deviceAuth.issuer=https://id.example.com"], "need deviceAuth.key"),
        (["--set", "deviceAuth.existingSecretKey="], "existingSecretKey"),
        (["--set", "redis.url="], "redis.url is required"),
        (["--set", "redis.url=redis://:pw@redis:6379/0"], "must not hold a password"),
        (["--set", "gateway.drainWindow=30"], "drainWindow must be shorter"),
        (["--set", "podAntiAffinity=always"], "podAntiAffinity"),
        (["--set", "gateway.logFormat=xml"], "logFormat"),
        (["--set", "gateway.headerTimeout=0"], "headerTimeout"),
        (["--set", "gateway.trustedProxies=not a cidr"], "trustedProxies"),
        (["--set", "unknownKey=1"], "unknownKey"),
    ],
)
def test_bad_values_are_refused(helm: Helm, args: list[str], message: str) -> None:
    result = helm.template(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_prometheus_rule_carries_the_alert_rules(
    manifests: list[dict[str, Any]], variant: str
) -> None:
    rule = _maybe(manifests, "PrometheusRule")
    if not _values(variant)["prometheusRule"]["enabled"]:
        assert rule is None
        return
    assert rule is not None
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]


def test_dashboard_configmap_for_grafana_sidecar(
    manifests: list[dict[str, Any]], variant: str
) -> None:
    dashboards = [
        m
        for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-dashboard")
    ]
    if not _values(variant)["grafanaDashboard"]["enabled"]:
        assert dashboards == []
        return
    (configmap,) = dashboards
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    (body,) = configmap["data"].values()
    assert json.loads(body) == json.loads(DASHBOARD.read_text())


@pytest.mark.parametrize(
    ("copy", "original"), [("files/alerts.yml", ALERTS), ("files/aoi-gateway.json", DASHBOARD)]
)
def test_chart_copies_are_identical(copy: str, original: Path) -> None:
    assert (CHART / copy).read_bytes() == original.read_bytes(), f"cp {original} {CHART / copy}"


def test_service_monitor_job_matches_alerts(manifests: list[dict[str, Any]], variant: str) -> None:
    monitor = _maybe(manifests, "ServiceMonitor")
    if monitor is None:
        return
    service = _one(manifests, "Service")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert f'job="{job}"' in ALERTS.read_text()
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()


def test_service_selects_gateway_pods_only(manifests: list[dict[str, Any]]) -> None:
    service = _one(manifests, "Service")
    selector = service["spec"]["selector"].items()
    deployment = _one(manifests, "Deployment")
    assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector == deployment["spec"]["selector"]["matchLabels"].items()
    for pod in (m for m in manifests if m["kind"] == "Pod"):
        assert not selector <= pod["metadata"]["labels"].items()
    pdb = _maybe(manifests, "PodDisruptionBudget")
    if pdb is not None:
        assert pdb["spec"]["selector"]["matchLabels"].items() == selector


def test_helm_test_pod_checks_readyz(manifests: list[dict[str, Any]]) -> None:
    pod = _one(manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    service = _one(manifests, "Service")
    url = pod["spec"]["containers"][0]["command"][-1]
    assert (
        url == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/readyz"
    )
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True

    policy = _maybe(manifests, "NetworkPolicy")
    if policy is not None:
        (rule,) = policy["spec"]["ingress"]
        peers = rule.get("from")
        if peers:
            labels = pod["metadata"]["labels"].items()
            assert any(
                "podSelector" in p and p["podSelector"]["matchLabels"].items() <= labels
                for p in peers
            )


def test_ingress_keeps_websockets_open(manifests: list[dict[str, Any]], variant: str) -> None:
    ingress = _maybe(manifests, "Ingress")
    values = _values(variant)
    if not values["ingress"]["enabled"]:
        assert ingress is None
        return
    assert ingress is not None
    annotations = ingress["metadata"]["annotations"]
    timeout = int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert timeout > 2 * values["gateway"]["pingInterval"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) == timeout


def test_notes_render(helm: Helm) -> None:
    result = helm.run("install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE)
    assert result.returncode == 0, result.stderr
    assert "/ws" in result.stdout and "terminationGracePeriodSeconds is 30" in result.stdout
