"""The Kubernetes compute backend: a container step as a ``KubernetesPodOperator``.

The pod runs the step's command line unchanged (``cmtflow ...`` or a solver executable) in
the image of the step's role, with the data root on a shared volume (a PVC mounted at the
same path as ``CMTFLOW_HOME``), requests/limits from the step, a non-root, read-only,
no-privilege-escalation security context, a deadline, and GPU scheduling (``nvidia.com/gpu``
limit, node selector, toleration) for GPU steps. Settings come from the environment the
Helm chart sets (:class:`KubernetesSettings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from cmtflow import config
from cmtflow.steps import ContainerStep, image

@dataclass(frozen=True)
class KubernetesSettings:
    """Pod settings: the ``CMTFLOW_K8S_*`` variables the Helm chart sets (:mod:`cmtflow.config`)
    as they are when the settings are made; the data root is mounted at ``CMTFLOW_HOME``."""

    namespace: str = field(default_factory=lambda: config.settings.k8s_namespace)
    data_pvc: str = field(default_factory=lambda: config.settings.k8s_data_pvc)
    data_mount: str = field(default_factory=lambda: str(config.settings.home or config.DEFAULT_DATA_MOUNT))
    service_account: str = field(default_factory=lambda: config.settings.k8s_service_account)
    deferrable: bool = field(default_factory=lambda: config.settings.k8s_deferrable)
    deadline_s: int = field(default_factory=lambda: config.settings.k8s_deadline_s)
    gpu_node_label: str = field(default_factory=lambda: config.settings.k8s_gpu_node_label)
    run_as_user: int = 10001


def pod_name(step_name: str) -> str:
    """A valid pod name (DNS-1123) from a step name; the operator adds a random suffix."""
    name = re.sub(r"[^a-z0-9-]+", "-", step_name.lower()).strip("-")
    return ("cmtflow-" + name)[:50].rstrip("-")


def pod_kwargs(step: dict, settings: KubernetesSettings | None = None) -> dict:
    """What differs between the pods of one task, from a step dict: the command line, the
    image of the step's role, its resources and, for GPU steps, the GPU scheduling."""
    from kubernetes.client import models as k8s

    s = settings or KubernetesSettings()
    resources = dict(step.get("resources", {}))
    limits = dict(resources)
    gpu = bool(step.get("gpu"))
    if gpu:
        limits["nvidia.com/gpu"] = "1"
    return {
        "lineage_inputs": list(step.get("inputs", ())), "lineage_outputs": list(step.get("outputs", ())),
        "name": pod_name(step["name"]), "image": image(step["role"]), "cmds": [step["command"][0]],
        "arguments": list(step["command"][1:]),
        "labels": {"app.kubernetes.io/part-of": "cmtflow", "cmtflow/role": step["role"]},
        "container_resources": k8s.V1ResourceRequirements(requests=resources, limits=limits),
        "node_selector": {s.gpu_node_label: "true"} if gpu else None,
        "tolerations": [k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")] if gpu else None,
    }


def common_kwargs(task_id: str, settings: KubernetesSettings | None = None) -> dict:
    """What every step pod has: namespace, the data volume, security, deadline, logs."""
    from kubernetes.client import models as k8s

    s = settings or KubernetesSettings()
    security = k8s.V1SecurityContext(allow_privilege_escalation=False, read_only_root_filesystem=True,
                                     run_as_non_root=True, run_as_user=s.run_as_user,
                                     capabilities=k8s.V1Capabilities(drop=["ALL"]))
    pod_security = k8s.V1PodSecurityContext(run_as_non_root=True, run_as_user=s.run_as_user,
                                            run_as_group=s.run_as_user, fs_group=s.run_as_user,
                                            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"))
    return dict(
        task_id=task_id, namespace=s.namespace,
        volumes=[k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                     claim_name=s.data_pvc)),
                 k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="2Gi"))],
        volume_mounts=[k8s.V1VolumeMount(name="data", mount_path=s.data_mount),
                       k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],
        # a read-only root filesystem: caches go to the writable /tmp
        env_vars=[k8s.V1EnvVar(name=config.Settings.home.name, value=s.data_mount),
                  k8s.V1EnvVar(name="NUMBA_CACHE_DIR", value="/tmp/numba"),
                  k8s.V1EnvVar(name="MPLCONFIGDIR", value="/tmp/matplotlib"),
                  k8s.V1EnvVar(name="HOME", value="/tmp")],
        security_context=pod_security, container_security_context=security,
        service_account_name=s.service_account, automount_service_account_token=False,
        active_deadline_seconds=s.deadline_s, on_finish_action="delete_succeeded_pod", get_logs=True,
        deferrable=s.deferrable, image_pull_policy="IfNotPresent", durable=True,
    )


class StepPodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator that reports its step's files as OpenLineage datasets (the
    provider has no extractor for pods)."""

    def __init__(self, *, lineage_inputs=(), lineage_outputs=(), **kwargs):
        super().__init__(**kwargs)
        self.lineage_inputs = list(lineage_inputs)
        self.lineage_outputs = list(lineage_outputs)

    def get_openlineage_facets_on_complete(self, task_instance):
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import Dataset

        return OperatorLineage(inputs=[Dataset(namespace="file", name=p) for p in self.lineage_inputs],
                               outputs=[Dataset(namespace="file", name=p) for p in self.lineage_outputs])


def step_operator(step: ContainerStep, task_id: str | None = None, settings: KubernetesSettings | None = None):
    """A concrete pod operator for one step (what a mapped pod task instance runs)."""
    return StepPodOperator(**common_kwargs(task_id or pod_name(step.name), settings),
                                 **pod_kwargs(step.to_dict(), settings))


def mapped_pod_task(task_id: str, steps, **extra):
    """A mapped pod task over an XComArg of step dicts (one pod per step)."""
    return StepPodOperator.partial(**common_kwargs(task_id), **extra).expand_kwargs(steps.map(pod_kwargs))
