"""The warm runner: ``cmtflow run`` and ``cmtflow demo`` without the start-up of Airflow.

A run through ``dag.test()`` in a new interpreter pays about 10 s before its first stage does
any work: Python, Airflow, ObsPy and SciPy imported, the DAG built, and, inside the first task,
Airflow's in-process execution API built (Cadwyn generates its versioned routers, 4-5 s on
two cores). The runner is a process that has done all of that once and waits on a Unix
socket; each run is a fork of it, in a process group of its own, with the caller's terminal,
environment and working folder. The caller (:func:`cmtflow.airflow.home.run_dag_stoppable`)
stops the fork's group on SIGTERM/SIGINT as it stops a new interpreter's.

One runner per environment: its socket is named by a hash of the environment variables that
Airflow and cmtflow read when they are imported (all but a few per-shell ones), the Python
executable and the size and modification time of cmtflow's source files and DAG files, so a
changed setting or an edited module gets a runner of its own and the old one exits when it has
been idle for ``$CMTFLOW_RUNNER_IDLE_S`` (900 s). Sockets, a lock and a log per runner are in
``$XDG_RUNTIME_DIR`` or the temporary folder, under ``cmtflow-runner-<uid>`` (mode 0700).
``CMTFLOW_RUNNER=subprocess`` turns it off; a runner that cannot start (its log says why) is
reported and the run takes a new interpreter.

Forking is safe only in a process without threads: the runner never runs a task, checks that
it has one thread before it serves, and Airflow's own fork handler gives the child new
database connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import hashlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cmtflow.airflow.preload import TASK_MODULES
from cmtflow.config import data_root, settings
from cmtflow.errors import CmtflowError

#: Seconds a caller waits for a runner it started to load and listen.
START_TIMEOUT_S = 120.0
#: Environment variables that do not change what a runner has loaded: per shell, per test.
VOLATILE_ENV = frozenset({"_", "PWD", "OLDPWD", "SHLVL", "TERM", "COLUMNS", "LINES", "PS1", "LS_COLORS",
                          "PYTEST_CURRENT_TEST", "DISPLAY", "WINDOWID", "COLORTERM"})
VOLATILE_PREFIXES = ("SSH_", "TMUX", "XDG_SESSION_", "TERM_")
#: What a run loads before the first fork: the stages' modules (one list,
#: :data:`cmtflow.airflow.preload.TASK_MODULES`) and the parts of Airflow that ``dag.test()`` uses.
RUN_MODULES = TASK_MODULES + (
    "a2wsgi", "airflow.sdk.execution_time.task_runner", "airflow.sdk.execution_time.supervisor",
    "airflow.providers.openlineage.plugins.listener", "airflow.providers.standard.sensors.date_time",
    "airflow.providers.standard.operators.trigger_dagrun", "airflow.models.dagrun",
    "airflow.dag_processing.dagbag", "airflow.dag_processing.collection",
    "airflow.dag_processing.bundles.manager", "airflow.timetables.trigger")


class RunnerUnavailable(Exception):
    """No warm runner could take the run (the caller starts a new interpreter instead)."""


#: Longest path of a Unix socket (``sun_path`` holds 108 bytes with its terminating zero).
SOCKET_PATH_MAX = 107


def runner_folder() -> Path:
    """The folder of the runners' sockets, locks and logs, this user's only."""
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    folder = base / f"cmtflow-runner-{os.getuid()}"
    if len(os.fsencode(folder)) + 30 > SOCKET_PATH_MAX:  # "/<24 hex>.sock"
        raise RunnerUnavailable(f"{folder}: too long a path for a Unix socket (set XDG_RUNTIME_DIR or TMPDIR)")
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RunnerUnavailable(f"{folder} is not this user's alone (owner {info.st_uid}, mode "
                                f"{oct(info.st_mode & 0o777)})")
    return folder


def _stable_env(env: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in env.items()
                  if k not in VOLATILE_ENV and not k.startswith(VOLATILE_PREFIXES))


def _code_files(env: dict[str, str]) -> list[Path]:
    """cmtflow's modules and the DAG and plugin files: a runner has them loaded."""
    import cmtflow

    files = sorted(Path(cmtflow.__file__).parent.rglob("*.py"))
    for variable in ("AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        if env.get(variable) and Path(env[variable]).is_dir():
            files += sorted(Path(env[variable]).glob("*.py"))
    return files


def runner_key(env: dict[str, str] | None = None) -> str:
    """The runner for ``env`` (default: this process's): what it was started with and the
    code it loaded."""
    env = dict(os.environ) if env is None else env
    digest = hashlib.sha256(sys.executable.encode())
    for name, value in _stable_env(env):
        digest.update(f"{name}={value}\0".encode())
    for path in _code_files(env):
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path}:{info.st_mtime_ns}:{info.st_size}\0".encode())
    return digest.hexdigest()[:24]


# --- the caller's side ---------------------------------------------------------------------


class RunnerChild:
    """A run forked by the runner, as the caller sees it: ``pid`` (also its process group),
    ``poll()``, ``wait(timeout)`` and ``returncode`` like :class:`subprocess.Popen`."""

    def __init__(self, connection: socket.socket, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self._connection = connection
        self._buffer = b""

    def poll(self) -> int | None:
        self._receive(0.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._receive(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("cmtflow runner child", timeout)
        return self.returncode

    def _receive(self, timeout: float | None) -> None:
        if self.returncode is not None:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._connection.settimeout(left)
            try:
                chunk = self._connection.recv(4096)
            except (TimeoutError, BlockingIOError):
                return
            except ConnectionError:  # the runner was killed
                chunk = b""
            if not chunk:  # the runner ended before its child: wait for the child itself
                self._wait_orphan(deadline)
                return
            self._buffer += chunk
            while b"\n" in self._buffer and self.returncode is None:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = json.loads(line)
                if "exit" in message:
                    self.returncode = int(message["exit"])
                    self._connection.close()

    def _wait_orphan(self, deadline: float | None) -> None:
        while deadline is None or time.monotonic() < deadline:
            if not _alive(self.pid):
                self.returncode = -1  # its status went with the runner; the answer file tells the result
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie has ended (an orphan waits for init to reap it, and some
    container inits never do)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _encode(message: dict) -> bytes:
    """One message of the runner's protocol: a line of JSON."""
    return json.dumps(message).encode() + b"\n"


def _read_line(connection: socket.socket) -> tuple[bytes, bytes]:
    """The first line from ``connection`` and what came after it; ``b""`` if it closed first."""
    received = b""
    while b"\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            return b"", b""
        received += chunk
    line, _, rest = received.partition(b"\n")
    return line, rest


def _connect(path: Path) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        return None
    return connection


def _start_runner(folder: Path, key: str) -> subprocess.Popen:
    log = open(folder / f"{key}.log", "ab")  # noqa: SIM115 - the runner's own stdout and stderr
    with log:
        return subprocess.Popen([sys.executable, "-m", "cmtflow.airflow.runner", str(folder / f"{key}.sock")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                close_fds=True)


def _log_tail(folder: Path, key: str) -> str:
    with contextlib.suppress(OSError):
        lines = [ln for ln in (folder / f"{key}.log").read_text(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "no log"
    return "no log"


def connect_runner(wait: bool = True) -> socket.socket | None:
    """A connection to this environment's runner, started (and waited for) when there is none.

    :param wait: False: start the runner if none listens, and return None at once.
    :raises RunnerUnavailable: the runner exited without serving, or did not listen within
        :data:`START_TIMEOUT_S`.
    """
    folder = runner_folder()
    key = runner_key()
    path = folder / f"{key}.sock"
    connection = _connect(path)
    if connection is not None:
        return connection
    started = _start_runner(folder, key)
    if not wait:
        return None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        connection = _connect(path)
        if connection is not None:
            return connection
        # exit 0: another caller's runner holds the lock and will listen; else it failed
        if started.poll() not in (None, 0):
            raise RunnerUnavailable(f"the runner exited with {started.returncode}: {_log_tail(folder, key)}")
        time.sleep(0.05)
    raise RunnerUnavailable(f"the runner did not listen within {START_TIMEOUT_S:.0f} s ({folder / key}.log)")


def start_run(request: Path, answer: Path) -> RunnerChild:
    """Hand the run of ``request`` (:func:`cmtflow.airflow.home._run_requested`) to the warm
    runner, with this process's stdout and stderr, environment and working folder."""
    connection = connect_runner()
    message = {"request": str(request), "answer": str(answer), "env": dict(os.environ), "cwd": os.getcwd()}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        socket.send_fds(connection, [_encode(message)], [1, 2])
        connection.settimeout(30.0)
        first, rest = _read_line(connection)
    except OSError as exc:
        connection.close()
        raise RunnerUnavailable(f"the runner did not take the run: {exc}") from exc
    if not first:
        connection.close()
        raise RunnerUnavailable("the runner closed the connection before it started the run")
    started = json.loads(first)
    if "error" in started:
        connection.close()
        raise RunnerUnavailable(started["error"])
    child = RunnerChild(connection, int(started["pid"]))
    child._buffer = rest
    return child


def ask(message: dict, timeout: float = 10.0) -> list[dict]:
    """Send ``message`` (``{"status": true}`` or ``{"stop": true}``) to every runner of this
    user; their answers (a runner that does not answer is left out)."""
    answers = []
    for path in sorted(runner_folder().glob("*.sock")):
        connection = _connect(path)
        if connection is None:
            _remove_if_stale(path)
            continue
        with connection:
            connection.settimeout(timeout)
            try:
                connection.sendall(_encode(message))
                reply, _ = _read_line(connection)
            except OSError:
                continue
            if reply.strip():
                answers.append(json.loads(reply))
    return answers


def _remove_if_stale(path: Path) -> None:
    """Remove the socket of a runner that died (killed): nothing listens, nobody holds its lock
    (a starting runner holds it before it listens). Its log and lock file stay."""
    with contextlib.suppress(OSError), open(path.with_suffix(".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        path.unlink()


# --- the runner's side ---------------------------------------------------------------------


def _initialise_execution_api(app) -> None:
    """One request into the in-process execution API, in this thread and its own event loop:
    Cadwyn builds the versioned routers on the first call (4-5 s), which every run would
    otherwise pay in its first task."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/cmtflow-runner-warm-up", "raw_path": b"/cmtflow-runner-warm-up", "root_path": "",
             "query_string": b"", "headers": [], "client": ("127.0.0.1", 0), "server": ("localhost", 80)}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    asyncio.run(app(scope, receive, send))


def warm_up() -> None:
    """Load what a run loads: Airflow with this environment's home, the DAG, the stages'
    modules, the execution API. Leaves no thread and no open database connection."""
    from cmtflow.airflow.home import activate, ensure_pool

    activate()
    from cmtflow.airflow.dags import cmt_inversion_dag

    dag = cmt_inversion_dag()
    for name in RUN_MODULES:
        importlib.import_module(name)
    ensure_pool()
    import PIL.Image
    from airflow import plugins_manager
    from airflow.serialization.serialized_objects import DagSerialization

    PIL.Image.init()  # the image plugins, looked up when the figures are saved
    plugins_manager.ensure_plugins_loaded()  # cmtflow's plugin builds its FastAPI app
    # dag.test() round-trips the DAG; the first deserialisation in a process takes 0.9 s
    DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    _initialise_execution_api(in_process_api_server().app)
    from airflow import settings

    if settings.Session is not None:
        settings.Session.remove()
    if settings.engine is not None:
        settings.engine.dispose()


class _Runner:
    """The serving loop: a fork per run request, its exit status sent back on its connection."""

    def __init__(self, path: Path, idle_s: float, lock):
        self.path = path
        self.idle_s = idle_s
        self.lock = lock  # held while it lives; a fork lets go of it
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.children: dict[int, socket.socket] = {}
        self.buffers: dict[socket.socket, bytes] = {}
        self.runs = 0
        self.started = time.time()
        self.last_active = time.monotonic()
        self.stopping = False
        self.fds: dict[socket.socket, list[int]] = {}  # the caller's stdout and stderr, per connection

    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a runner that died: this one holds the lock now
        self.listener.bind(str(self.path))
        self.listener.listen(16)
        self.selector.register(self.listener, selectors.EVENT_READ)
        print(f"cmtflow runner {os.getpid()}: listening on {self.path}", flush=True)
        try:
            while not (self.stopping and not self.children):
                for key, _ in self.selector.select(timeout=0.5):
                    if key.fileobj is self.listener:
                        if not self.stopping:
                            connection, _ = self.listener.accept()
                            self.buffers[connection] = b""
                            self.selector.register(connection, selectors.EVENT_READ)
                    else:
                        self._read(key.fileobj)
                self._reap()
                if not self.children and time.monotonic() - self.last_active > self.idle_s:
                    print(f"cmtflow runner {os.getpid()}: idle {self.idle_s:.0f} s, exiting", flush=True)
                    break
        finally:
            self._close_listener()

    def _close_listener(self) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == os.fstat(self.listener.fileno()).st_ino:
                self.path.unlink()
        self.listener.close()

    def _drop(self, connection: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)
        self.buffers.pop(connection, None)
        for fd in self.fds.pop(connection, []):
            os.close(fd)
        connection.close()

    def _read(self, connection: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(connection, 65536, 4)
        except OSError:
            data, fds = b"", []
        self.fds.setdefault(connection, []).extend(fds)
        if not data:  # the caller is gone; its run (a process group of its own) goes on
            self._drop(connection)
            return
        self.buffers[connection] += data
        if not self.buffers[connection].endswith(b"\n"):
            return
        try:
            message = json.loads(self.buffers[connection])
        except ValueError:
            message = {}  # not a caller of ours: dropped below
        self.buffers[connection] = b""
        self.last_active = time.monotonic()
        if message.get("status"):
            self._reply(connection, {"pid": os.getpid(), "socket": str(self.path), "runs": self.runs,
                                     "running": sorted(self.children), "started": self.started,
                                     "idle_s": self.idle_s, "home": str(data_root())})
            self._drop(connection)
        elif message.get("stop"):
            self.stopping = True
            self._reply(connection, {"pid": os.getpid(), "stopping": True, "running": sorted(self.children)})
            self._drop(connection)
            self._close_listener()
        elif "request" in message and len(self.fds.get(connection, [])) == 2:
            self._fork(connection, message, self.fds.pop(connection))
        elif "request" in message:
            self._reply(connection, {"error": "a run request comes with the caller's stdout and stderr"})
            self._drop(connection)
        else:
            self._drop(connection)

    @staticmethod
    def _reply(connection: socket.socket, message: dict) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(_encode(message))

    def _fork(self, connection: socket.socket, message: dict, fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os._exit(self._child(message, fds))
        for fd in fds:
            os.close(fd)
        self.runs += 1
        self.children[pid] = connection
        self.selector.unregister(connection)  # from now on only the exit status is written to it
        self.buffers.pop(connection, None)
        self._reply(connection, {"pid": pid})

    def _child(self, message: dict, fds: list[int]) -> int:
        status = 70
        try:
            os.setsid()
            for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            self.listener.close()
            for other in [*self.buffers, *self.children.values()]:
                other.close()
            for pending in self.fds.values():  # other callers' terminals
                for fd in pending:
                    os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            for fd in (null, *fds):
                os.close(fd)
            self.lock.close()
            sys.stdout.reconfigure(line_buffering=True)
            sys.stderr.reconfigure(line_buffering=True)
            os.environ.clear()
            os.environ.update(message["env"])
            os.chdir(message["cwd"])
            from cmtflow.airflow.home import _run_requested

            status = _run_requested(Path(message["request"]), Path(message["answer"]))
        except BaseException as exc:  # noqa: BLE001 - the caller reads the answer file; say why here
            with contextlib.suppress(Exception):
                sys.stderr.write(f"cmtflow runner: the run's process failed: {type(exc).__name__}: {exc}\n")
        finally:
            import logging

            with contextlib.suppress(Exception):
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
        return status

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            connection = self.children.pop(pid, None)
            self.last_active = time.monotonic()
            if connection is not None:
                self._reply(connection, {"exit": os.waitstatus_to_exitcode(status)})
                connection.close()


def serve(path: Path) -> int:
    """Be the runner listening on ``path``: 0 when another runner holds its lock (and will
    listen) or after the idle time, 3 when the warm-up left a thread (forking is unsafe)."""
    lock = open(path.with_suffix(".lock"), "a")  # noqa: SIM115 - held for the runner's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return 0
    t = time.perf_counter()
    warm_up()
    threads = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    if threads:
        print(f"cmtflow runner: not serving, the warm-up left threads ({', '.join(threads)}): forking is unsafe",
              flush=True)
        return 3
    # what the warm-up loaded stays out of the forks' garbage collections: a full collection
    # would walk (and copy, page by page) the runner's millions of objects in every fork
    gc.freeze()
    print(f"cmtflow runner {os.getpid()}: warm in {time.perf_counter() - t:.1f} s", flush=True)
    runner = _Runner(path, settings.runner_idle_s, lock)
    signal.signal(signal.SIGTERM, lambda *_: setattr(runner, "stopping", True))
    runner.serve()
    for done in (path.with_suffix(".log"), path.with_suffix(".lock")):  # an ordinary end: nothing to read
        with contextlib.suppress(OSError):
            done.unlink()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(serve(Path(sys.argv[1])))
    except CmtflowError as exc:
        print(f"cmtflow runner: error: {exc}", flush=True)
        sys.exit(2)
