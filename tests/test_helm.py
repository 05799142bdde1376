"""The Helm chart, rendered and linted without a cluster or the helm binary (helm-python-sdk),
every manifest validated strictly against the Kubernetes schemas."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")
CHART = Path(__file__).resolve().parents[1] / "helm" / "cmtflow"
K8S_VERSION = "1.33.0"
VALUES = {"airflow": {"enabled": False}, "marquez": {"enabled": True, "db": {"existingSecret": "marquez-db"}}}


@pytest.fixture(scope="module")
def chart(tmp_path_factory) -> Path:
    """The chart with its Airflow dependency switched off (no chart repository here)."""
    target = tmp_path_factory.mktemp("chart") / "cmtflow"
    shutil.copytree(CHART, target)
    meta = yaml.safe_load((target / "Chart.yaml").read_text())
    assert meta["dependencies"][0]["name"] == "airflow" and meta["dependencies"][0]["condition"] == "airflow.enabled"
    meta.pop("dependencies")
    (target / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return target


def _render(chart: Path, values: dict) -> list[dict]:
    with helm.Chart.load(str(chart)) as c:
        files = c.render(values, name="seismo", namespace="cmtflow")
    docs = []
    for name, text in files.items():
        if name.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def test_chart_lints_clean(chart):
    for values in (VALUES, {"airflow": {"enabled": False}}):
        result = helm.lint(str(chart), values, strict=True)
        assert result["errors"] == [] and result["messages"] == []


@pytest.mark.parametrize("values", [VALUES, {"airflow": {"enabled": False}},
                                    {"airflow": {"enabled": False}, "pools": {"create": False},
                                     "dataRoot": {"persistence": {"existingClaim": "shared"}}}])
def test_every_manifest_validates_strictly(chart, values):
    docs = _render(chart, values)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_golden_manifests(chart, monkeypatch):
    docs = {(d["kind"], d["metadata"]["name"]): d for d in _render(chart, VALUES)}
    pvc = docs[("PersistentVolumeClaim", "seismo-cmtflow-data")]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    config = docs[("ConfigMap", "seismo-cmtflow")]["data"]
    assert config["CMTFLOW_K8S_DATA_PVC"] == "seismo-cmtflow-data" and config["CMTFLOW_HOME"] == "/data/cmtflow"
    # what the chart sets is what the Kubernetes backend reads
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    from cmtflow.airflow.kubernetes import KubernetesSettings

    settings = KubernetesSettings()
    assert (settings.data_pvc, settings.namespace, settings.deferrable, settings.data_mount) == (
        "seismo-cmtflow-data", "cmtflow", True, "/data/cmtflow")
    role = docs[("Role", "seismo-cmtflow-pod-launcher")]
    assert {r for rule in role["rules"] for r in rule["resources"]} == {"pods", "pods/log", "pods/exec", "events"}
    sa = docs[("ServiceAccount", "cmtflow-steps")]
    assert sa["automountServiceAccountToken"] is False
    for kind, name in (("Job", "seismo-cmtflow-pools"), ("Deployment", "seismo-cmtflow-marquez")):
        spec = docs[(kind, name)]["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        container = spec["containers"][0]["securityContext"]
        assert container["readOnlyRootFilesystem"] and not container["allowPrivilegeEscalation"]
    pools = yaml.safe_load(docs[("ConfigMap", "seismo-cmtflow-pools")]["data"]["pools.json"])
    assert pools["cmtflow_simulations"]["slots"] == 8 and pools["cmtflow_gpu_simulations"]["slots"] == 2
    assert "marquez" in config["AIRFLOW__OPENLINEAGE__TRANSPORT"]
    assert config["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] == "true"  # as the embedded Airflow: no fork per event


def test_every_airflow_component_mounts_the_data_root(chart):
    """The in-process stages run in the scheduler, the worker pods (KubernetesExecutor's pod
    template), the API server, the triggerer and the DAG processor: each mounts the chart's
    PVC at the data root, as the Airflow chart renders its extraVolumes (with tpl)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for component in ("scheduler", "workers", "apiServer", "triggerer", "dagProcessor"):
        (volume,) = [v for v in values["airflow"][component]["extraVolumes"] if v["name"] == "cmtflow-data"]
        claim = volume["persistentVolumeClaim"]["claimName"].replace("{{ .Release.Name }}", "seismo")
        assert claim == "seismo-cmtflow-data", component  # the PVC of test_golden_manifests
        (mount,) = [m for m in values["airflow"][component]["extraVolumeMounts"] if m["name"] == "cmtflow-data"]
        assert mount["mountPath"] == values["dataRoot"]["mountPath"], component
    # the chart checks it at render time (the Airflow dependency itself is not available here,
    # its values are): another claim, another path, or a component left out are refused
    airflow = {k: v for k, v in values["airflow"].items()}
    assert _render(chart, {**VALUES, "airflow": airflow})
    for broken, message in (({"dataRoot": {"persistence": {"existingClaim": "shared"}}}, 'claim "seismo-cmtflow-data"'),
                            ({"dataRoot": {"mountPath": "/srv/cmtflow"}}, "must be mounted at dataRoot.mountPath"),
                            ({"airflow": {**airflow, "triggerer": {"extraVolumes": []}}}, "airflow.triggerer.extraVolumes")):
        with pytest.raises(Exception, match=re.escape(message)):
            _render(chart, {**VALUES, "airflow": airflow, **broken})
