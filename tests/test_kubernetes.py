"""The Kubernetes backend without a cluster: every pod the DAG would launch is built by the
real KubernetesPodOperator and validated strictly against the Kubernetes schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmtflow import stages
from cmtflow.steps import ContainerStep, LocalBackend
from cmtflow.inversion.setup import SETUP_KEYS, event_setup
from cmtflow.runconf import RunConf, check_conf
from cmtflow.source import Source, write_cmtsolution
from cmtflow.workspace import RunWorkspace, write_json_atomic

pytest.importorskip("airflow.providers.cncf.kubernetes")
kubernetes_validate = pytest.importorskip("kubernetes_validate")
K8S_VERSION = "1.33.0"


@pytest.fixture()
def run_dir(tmp_path, sds_inputs):
    """A run folder with conf, initial source and stations, planned for 9 parameters."""
    ws = RunWorkspace.create("evt1", "manual__2024-01-01T00:00:00+00:00", tmp_path / "home")
    conf = RunConf.checked({"origin_time": "2024-01-01T00:00:00", "latitude": 46.0, "longitude": 8.0,
                            "depth_km": 10.0, "magnitude": 4.5, **sds_inputs, "n_params": 9})
    setup = event_setup(conf, 46.0, 8.0, 4.5)  # what resolve_event fills in
    conf = conf.with_values(**{key: getattr(setup, key) for key in SETUP_KEYS})
    write_json_atomic(ws.path / "conf.json", conf.as_dict())
    source = Source.from_strike_dip_rake(10, 50, 90, 4.5, time="2024-01-01T00:00:00", latitude=46.0, longitude=8.0,
                                         depth_km=10.0, event_id="evt1")
    write_cmtsolution(source, ws.folder("initial") / "CMTSOLUTION")
    write_json_atomic(ws.stations_report, {"event": {"time": "2024-01-01T00:00:00", "depth_km": 10.0}, "used": [
        {"station": "XS.AAA", "location": "", "latitude": 46.5, "longitude": 8.2, "elevation_m": 100.0,
         "distance_km": 57.0, "azimuth": 15.0, "back_azimuth": 195.0, "raw": "XS.AAA..mseed",
         "channels": ["XS.AAA..HHZ", "XS.AAA..HHN", "XS.AAA..HHE"], "components": "ZRT"}]})
    return ws.path


def _all_steps(run_dir) -> list[ContainerStep]:
    steps = stages.observed_steps(run_dir) + stages.plan_simulations(run_dir) + stages.synthetic_steps(run_dir)
    return [ContainerStep.from_dict(s) for s in steps]


def _manifest(pod) -> dict:
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(pod)


def test_every_pod_validates_strictly(run_dir, monkeypatch):
    from cmtflow.airflow.kubernetes import step_operator

    monkeypatch.setenv("CMTFLOW_HOME", "/data/cmtflow")
    steps = _all_steps(run_dir)
    # observed; one step simulating initial + 6 Mij + depth, lat, lon (the embedded solver); one processing them
    assert len(steps) == 1 + 1 + 1
    assert steps[1].command.count("--variant") == 10
    assert steps[2].command.count("--variant") == 10 and len(steps[2].outputs) == 20
    for step in steps:
        pod = step_operator(step).build_pod_request_obj(dry_run=True)
        manifest = _manifest(pod)
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        container = manifest["spec"]["containers"][0]
        # golden checks: the command is the step's, unchanged; security and volumes as designed
        assert [*container["command"], *container["args"]] == list(step.command)
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                                "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                                "runAsUser": 10001}
        assert manifest["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["resources"]["requests"] == step.resources
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts == {"data": "/data/cmtflow", "tmp": "/tmp"}
        assert manifest["spec"]["activeDeadlineSeconds"] == 14400
        assert manifest["metadata"]["labels"]["app.kubernetes.io/part-of"] == "cmtflow"


def test_gpu_steps_request_a_gpu_node(run_dir):
    from cmtflow.airflow.kubernetes import step_operator

    step = ContainerStep("simulate-Mrr", "specfem3d", ("cmtflow", "specfem", "simulate", "--workdir", "/w"),
                         resources={"cpu": "4", "memory": "16Gi"}, gpu=True)
    manifest = _manifest(step_operator(step).build_pod_request_obj(dry_run=True))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    spec = manifest["spec"]
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert spec["containers"][0]["image"].startswith("cmtflow/specfem3d")


def test_local_and_kubernetes_run_the_same_command_lines(run_dir, monkeypatch):
    from cmtflow.airflow.kubernetes import pod_kwargs, step_operator

    for step in _all_steps(run_dir):
        local = LocalBackend().argv(step)
        operator = step_operator(step)
        # local: python -m cmtflow <args>; pod: cmtflow <args>: the same program, the same arguments
        assert local[1:3] == ["-m", "cmtflow"] and operator.cmds == ["cmtflow"]
        assert local[3:] == operator.arguments == pod_kwargs(step.to_dict())["arguments"] == list(step.command[1:])


def test_pod_tasks_report_their_datasets(run_dir):
    from cmtflow.airflow.kubernetes import step_operator

    step = _all_steps(run_dir)[0]
    lineage = step_operator(step).get_openlineage_facets_on_complete(None)
    assert [d.name for d in lineage.inputs] == list(step.inputs) and [d.name for d in lineage.outputs] == list(
        step.outputs)
    assert all(d.namespace == "file" for d in lineage.inputs + lineage.outputs)


def test_the_kubernetes_dag_parses_with_pod_tasks(monkeypatch):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    monkeypatch.setenv("CMTFLOW_COMPUTE_BACKEND", "kubernetes")
    from cmtflow.airflow.dags import SIMULATION_POOL_SLOTS, cmt_inversion_dag

    monkeypatch.delenv("CMTFLOW_SIMULATION_POOL", raising=False)  # a cluster without cmtflow's pool
    bare = cmt_inversion_dag().task_dict["simulations.simulate"]
    assert bare.pool == "default_pool" and bare.max_active_tis_per_dag == SIMULATION_POOL_SLOTS
    # the Helm chart's config map names the pool its pools job creates
    helm = (Path(__file__).resolve().parents[1] / "helm" / "cmtflow" / "templates" / "configmap.yaml").read_text()
    assert "CMTFLOW_SIMULATION_POOL: {{ .Values.compute.simulationPool | quote }}" in helm
    monkeypatch.setenv("CMTFLOW_SIMULATION_POOL", "cmtflow_gpu_simulations")
    dag = cmt_inversion_dag()
    for task_id in ("data.preprocess_observed", "simulations.simulate", "simulations.preprocess_synthetics"):
        task = dag.task_dict[task_id]
        assert issubclass(task.operator_class, KubernetesPodOperator) and type(task).__name__ == "MappedOperator"
    assert dag.task_dict["simulations.simulate"].pool == "cmtflow_gpu_simulations"
    local_ids = set(dag.task_dict)
    monkeypatch.setenv("CMTFLOW_COMPUTE_BACKEND", "local")
    assert set(cmt_inversion_dag().task_dict) == local_ids  # the same graph on both backends


def test_specfem_runs_plan_gpu_pods_that_validate(run_dir, data_root):
    from pathlib import Path

    from cmtflow.airflow.kubernetes import step_operator

    par = Path(__file__).parent / "data" / "Par_file.specfem3d"
    conf = json.loads((run_dir / "conf.json").read_text())
    write_json_atomic(run_dir / "conf.json", check_conf({**conf, "solver": "specfem3d", "specfem_par_file": str(par),
                                                         "depth_search": False,
                                                         "specfem_gpu": True, "specfem_nproc": 8},
                                                        roots=[data_root, par.parent]))
    simulate = [ContainerStep.from_dict(s) for s in stages.plan_simulations(run_dir)]
    prepare = [ContainerStep.from_dict(s) for s in stages.solver_steps(run_dir)]
    assert [s.command[:3] for s in prepare] == [("cmtflow", "specfem", "databases")]
    assert all(s.role == "specfem3d" and s.gpu and s.command[:3] == ("cmtflow", "specfem", "simulate")
               for s in simulate)
    assert (run_dir / "specfem" / "Mrr" / "DATA" / "CMTSOLUTION").is_file()
    for step in prepare + simulate:
        manifest = _manifest(step_operator(step).build_pod_request_obj(dry_run=True))
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert manifest["spec"]["containers"][0]["image"].startswith("cmtflow/specfem3d")
    assert "nvidia.com/gpu" in _manifest(step_operator(simulate[0]).build_pod_request_obj(dry_run=True))[
        "spec"]["containers"][0]["resources"]["limits"]
