"""Write the generated reference pages of ``docs/``: the run conf (``docs/runconf.md``) from
the schema that Airflow's trigger form uses (:data:`cmtflow.runconf.KEYS`), and the
configuration (``docs/configuration.md``) from the settings' definitions
(:class:`cmtflow.config.Settings`).

    python docs/make_reference.py          # rewrite the pages
    python docs/make_reference.py --check  # exit 1 when a page is stale (a test runs this)
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent

RUNCONF_INTRO = """# Run-conf reference

The keys of a `cmt_inversion` run conf: the trigger form of the Airflow UI (sections Event,
Data, Model and band, Inversion, Execution), the body of a REST trigger (`conf`), the JSON file
of `cmtflow run --conf`. Generated from the schema (`cmtflow.runconf.KEYS`) by
`python docs/make_reference.py`; a test fails when this page is stale.

"""

RUNCONF_RULES = """
Exactly one of `event_id`, `quakeml` or `origin_time` (with `latitude`, `longitude`,
`depth_km`, `magnitude`) names the event; `data_source: sds` needs `sds_path` and
`inventory`, `data_source: files` needs `waveforms`; `tmin < tmax`; `tmin > 2.5 dt`; numbers
are finite. Which inputs each key accepts, and in which units, is in [data.md](data.md). Run confs are untrusted
input: every file they name (`quakeml`, `sds_path`, `waveforms`, `inventory`, a `model` file,
`specfem_par_file`) must be an absolute path that resolves, after symbolic links, under the
input roots (`CMTFLOW_INPUT_ROOTS`, default the data root); event ids, services (a provider
name or an `http(s)` URL) and origin times match strict patterns, and station, network,
location and channel codes from station services are checked the same way (a station with
another code is dropped with the reason). Secrets never go into a conf: `data_connection`
names an Airflow connection holding the login/password or EIDA token for restricted data.
The API server refuses a conf that breaks any of these rules with HTTP 400 naming the key
(the cmtflow plugin's middleware; the `cmtflow run` command the same with `error: <key>: ...`).
The `openlineage` key that Airflow adds to runs started by `earthquake_alerts` (the parent
run, for lineage) is accepted and kept out of the run's settings.
"""


CONFIGURATION_INTRO = """# Configuration

cmtflow reads these environment variables where the DAGs run (the scheduler, the workers, the
API server; the Helm chart sets them from its values). The run conf ([runconf.md](runconf.md))
is per run; these are per installation. An empty variable is the same as an unset one; a
value that does not parse stops with an error naming the variable. Generated from their
definitions (`cmtflow.config.Settings`) by `python docs/make_reference.py`; a test fails when
this page is stale, or when the code names a `CMTFLOW_` variable that is not defined there.
"""

CONFIGURATION_AIRFLOW = """
Airflow's own variables that cmtflow's embedded home (`cmtflow airflow-home`, `cmtflow run`,
`cmtflow demo`) sets unless they are set already:

| variable | default | meaning |
|---|---|---|
| `AIRFLOW__OPENLINEAGE__TRANSPORT` | a JSON-lines file in `$CMTFLOW_HOME/lineage/` | where lineage events go |
| `AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD` | `True` | task events sent from a thread of the task's process, not from a fork of it per event (about 0.2 s a task) |
| `AIRFLOW__LOGGING__LOGGING_LEVEL` | `ERROR` | Airflow's own log level |
| `AIRFLOW__CORE__PARALLELISM` | two per CPU, as the memory allows (2-32) | tasks at once |

FDSN providers are ObsPy's names (`EMSC`, `INGV`, `USGS`, `GFZ`, `ETH`, `IRIS`, ...), routing
services (`eida-routing`) or base URLs (`http://host:port`); for URLs, service discovery (WADL)
is off. Credentials for restricted data are Airflow connections named by the run conf's
`data_connection` ([operations.md](operations.md)), never variables of cmtflow.
"""


def configuration_page() -> str:
    from cmtflow.config import SECTIONS, markdown_table

    parts = [CONFIGURATION_INTRO]
    for section in SECTIONS:
        parts += [f"\n## {section}\n", markdown_table(section) + "\n"]
    return "".join(parts) + CONFIGURATION_AIRFLOW


def pages() -> dict[Path, str]:
    """The generated pages and their text."""
    from cmtflow.runconf import markdown_table

    return {DOCS / "runconf.md": RUNCONF_INTRO + markdown_table() + "\n" + RUNCONF_RULES,
            DOCS / "configuration.md": configuration_page()}


def main(argv: list[str]) -> int:
    stale = [path for path, text in pages().items() if not path.is_file() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path} is stale: run python docs/make_reference.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in pages().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
