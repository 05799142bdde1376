"""A Kubernetes API double for the pod path: the core/v1 pod calls the KubernetesPodOperator
makes, over real HTTP, with each pod's command run as a local process.

There is no cluster and no container runtime here (see the developers' guide), so the pod's
container is its command line (``command`` + ``args``) run in this machine's environment
plus the pod's ``env``; the data volume is the same path locally. What the operator sees is
the Kubernetes API's own shapes: pod create, read and list (label selectors), the container
state (waiting, running, terminated with its exit code), followed logs with RFC 3339
timestamps, events, label patches, deletion. Faults: an image whose name contains
:data:`MISSING_IMAGE` never starts (``ErrImagePull``, as a registry answers "not found"), and
:meth:`KubeDouble.evict` deletes a running pod (its process killed) as a node drain or a
``kubectl delete`` does.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

#: Images whose name contains this cannot be pulled.
MISSING_IMAGE = "no-such-image"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _selected(labels: dict, selector: str) -> bool:
    """Whether ``labels`` match a label selector (``k=v``, ``k!=v``, ``k``, ``!k``, comma-joined)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class Pod:
    """One pod: its manifest, and its container run as a local process."""

    def __init__(self, manifest: dict, uid: int):
        self.manifest = manifest
        meta = manifest.setdefault("metadata", {})
        meta.update(uid=f"00000000-0000-0000-0000-{uid:012d}", creationTimestamp=_now(), resourceVersion=str(uid))
        meta.setdefault("labels", {})
        self.container = manifest["spec"]["containers"][0]
        self.lines: list[str] = []
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.phase, self.started = "Pending", None
        self.done = threading.Condition()
        self.process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.manifest["metadata"]["name"]

    def start(self) -> None:
        image = self.container.get("image", "")
        if MISSING_IMAGE in image:
            self.state = {"waiting": {"reason": "ErrImagePull", "message": (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found')}}
            return
        # the image's environment is this interpreter's: its scripts (``cmtflow``) first on the PATH
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               **{e["name"]: e.get("value", "") for e in self.container.get("env", [])}}
        command = list(self.container.get("command", [])) + list(self.container.get("args", []))
        self.started = _now()
        try:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True, start_new_session=True)
        except OSError as exc:  # as a runtime reports an executable missing from the image
            self.phase = "Failed"
            self.state = {"terminated": {"exitCode": 128, "reason": "StartError", "message": str(exc),
                                         "startedAt": self.started, "finishedAt": _now()}}
            return
        self.phase, self.state = "Running", {"running": {"startedAt": self.started}}
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        for line in self.process.stdout:
            with self.done:
                self.lines.append(f"{_stamp()} {line.rstrip()}")
                self.done.notify_all()
        code = self.process.wait()
        with self.done:
            self.phase = "Succeeded" if code == 0 else "Failed"
            self.state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                         "startedAt": self.started, "finishedAt": _now()}}
            self.done.notify_all()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)

    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    def as_json(self) -> dict:
        ready = "running" in self.state
        status = {"phase": self.phase, "conditions": [{"type": "Ready", "status": str(ready)}],
                  "containerStatuses": [{"name": self.container["name"], "image": self.container.get("image", ""),
                                         "imageID": "", "ready": ready, "started": ready, "restartCount": 0,
                                         "state": self.state}]}
        if self.started:
            status["startTime"] = self.started
        return {**self.manifest, "apiVersion": "v1", "kind": "Pod", "status": status}


class KubeDouble:
    """The API server double on loopback (:meth:`start`, :meth:`stop`, :meth:`kubeconfig`).

    ``pods``: every pod created, by name (deleted ones stay here with ``deleted`` set)."""

    def __init__(self):
        self.pods: dict[str, Pod] = {}
        self.deleted: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        self._uid = itertools.count(1)
        double = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self, what: str) -> None:
                self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                 "message": f'pods "{what}" not found', "code": 404})

            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                parts = url.path.strip("/").split("/")
                double.requests.append((method, url.path))
                # /api/v1/namespaces/{ns}/pods[/{name}[/log]] and /api/v1/namespaces/{ns}/events
                if parts[:3] != ["api", "v1", "namespaces"] or len(parts) < 5:
                    return self._send(404, {"kind": "Status", "code": 404, "message": f"no route {url.path}"})
                namespace, kind, rest = parts[3], parts[4], parts[5:]
                if kind == "events":
                    return self._send(200, {"kind": "EventList", "apiVersion": "v1", "metadata": {},
                                            "items": double.events(namespace, query.get("fieldSelector", ""))})
                if kind != "pods":
                    return self._send(404, {"kind": "Status", "code": 404, "message": f"no route {url.path}"})
                body = None
                if method in ("POST", "PATCH"):
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not rest:
                    if method == "POST":
                        body.setdefault("metadata", {})["namespace"] = namespace
                        pod = double.create(body)
                        return self._send(201, pod.as_json())
                    items = [p.as_json() for name, p in double.pods.items() if name not in double.deleted
                             and p.manifest["metadata"].get("namespace") == namespace
                             and _selected(p.manifest["metadata"]["labels"], query.get("labelSelector", ""))]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
                name = rest[0]
                pod = double.pods.get(name)
                if pod is None or name in double.deleted:
                    return self._not_found(name)
                if rest[1:] == ["log"]:
                    return self._log(pod, query.get("follow") == "true")
                if method == "GET":
                    return self._send(200, pod.as_json())
                if method == "PATCH":
                    pod.manifest["metadata"]["labels"].update((body.get("metadata") or {}).get("labels") or {})
                    return self._send(200, pod.as_json())
                if method == "DELETE":
                    double.remove(name)
                    return self._send(200, pod.as_json())
                return self._send(405, {"kind": "Status", "code": 405, "message": method})

            def _log(self, pod: Pod, follow: bool) -> None:
                """The container's output, followed until it ends (or the pod is deleted)."""
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                sent = 0
                while True:
                    with pod.done:
                        if follow and sent == len(pod.lines) and not pod.finished() and pod.name not in double.deleted:
                            pod.done.wait(0.5)
                        lines, finished = pod.lines[sent:], pod.finished() or pod.name in double.deleted
                    for line in lines:
                        self.wfile.write((line + "\n").encode())
                    self.wfile.flush()
                    sent += len(lines)
                    if not follow or (finished and sent == len(pod.lines)):
                        return

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def do_PATCH(self):
                self._route("PATCH")

            def do_DELETE(self):
                self._route("DELETE")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "KubeDouble":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for pod in self.pods.values():
            pod.kill()
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path, namespace: str = "cmtflow") -> Path:
        """A kubeconfig file pointing at this double (what ``KUBECONFIG`` names)."""
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "double",
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-checked"}}],
            "contexts": [{"name": "double", "context": {"cluster": "double", "user": "tester",
                                                         "namespace": namespace}}]}))
        return path

    def create(self, manifest: dict) -> Pod:
        pod = Pod(manifest, next(self._uid))
        self.pods[pod.name] = pod
        pod.start()
        return pod

    def remove(self, name: str) -> None:
        self.deleted.add(name)
        pod = self.pods[name]
        pod.kill()
        with pod.done:
            pod.done.notify_all()

    def evict(self, name: str) -> None:
        """Delete a pod from outside the operator (a drained node, ``kubectl delete pod``)."""
        self.remove(name)

    def events(self, namespace: str, field_selector: str) -> list[dict]:
        wanted = dict(term.split("=", 1) for term in field_selector.split(",") if "=" in term)
        name = wanted.get("involvedObject.name")
        out = []
        for pod in self.pods.values():
            waiting = pod.state.get("waiting", {})
            if (name is None or pod.name == name) and waiting.get("reason") == "ErrImagePull":
                out.append({"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "Failed",
                            "message": waiting["message"], "count": 1, "firstTimestamp": _now(),
                            "lastTimestamp": _now(), "metadata": {"name": f"{pod.name}.1", "namespace": namespace},
                            "involvedObject": {"kind": "Pod", "name": pod.name, "namespace": namespace}})
        return out
