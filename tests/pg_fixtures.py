"""A throwaway PostgreSQL server from the installed binaries (Debian's ``postgresql``), for
the tests (the catalogue on PostgreSQL, its faults) and the production-path benchmark (the
Airflow metadata database of the Helm chart's set-up)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server binaries, or running as root without a ``postgres`` user."""


class PostgresServer:
    """A running PostgreSQL server that can be stopped and started again (faults)."""

    def __init__(self, url: str, start, stop):
        self.url, self.start, self.stop = url, start, stop


@contextlib.contextmanager
def postgres_instance(database: str = "cmtflow"):
    """Start a server on a free loopback port with one database; yield a :class:`PostgresServer`.

    :raises PostgresUnavailable: where it cannot run here."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins and not shutil.which("initdb"):
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    bindir = Path(bins[-1]).parent if bins else Path(shutil.which("initdb")).parent
    # not under pytest's temporary folder: it is private to root and the server runs as postgres
    data = Path(tempfile.mkdtemp(prefix="cmtflow-pg-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_user = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        if shutil.which("su") is None or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            shutil.rmtree(data, ignore_errors=True)
            raise PostgresUnavailable("running as root without a postgres user to start PostgreSQL")
        shutil.chown(data, "postgres")
        as_user = ["su", "postgres", "-s", "/bin/sh", "-c"]

    def run(cmd):
        full = as_user + [" ".join(cmd)] if as_user else cmd
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    def start():
        run([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
             f"'-p {port} -k {data} -c listen_addresses=127.0.0.1'", "start"])

    def stop():
        run([str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "-w", "stop"])

    try:
        run([str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"])
        start()
        try:
            run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
            yield PostgresServer(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}", start, stop)
        finally:
            stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)
