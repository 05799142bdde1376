"""Regenerate the README pictures: the cmt_inversion DAG and a report page.

    python docs/make_figures.py RUN_DIR      # RUN_DIR: a finished run (has report/index.html)

The DAG picture is drawn from the DAG object itself (tasks, groups, dependencies); the
report picture is a headless Chromium screenshot of the run's report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent


def draw_dag(path: Path) -> None:
    from cmtflow.airflow.dags import cmt_inversion_dag

    dag = cmt_inversion_dag()
    depth: dict[str, int] = {}

    def level(tid):
        if tid not in depth:
            ups = dag.task_dict[tid].upstream_task_ids
            depth[tid] = 1 + max((level(u) for u in ups), default=-1)
        return depth[tid]

    for tid in dag.task_dict:
        level(tid)
    columns: dict[int, list[str]] = {}
    for tid, d in sorted(depth.items(), key=lambda x: (x[1], x[0])):
        columns.setdefault(d, []).append(tid)
    pos = {tid: (d * 3.4, -i * 1.1 - 0.55 * (len(col) == 1)) for d, col in columns.items() for i, tid in enumerate(col)}
    colours = {"data": "#cfe2f3", "simulations": "#fce5cd", "inversion": "#d9ead3"}
    fig, ax = plt.subplots(figsize=(1.9 * len(columns), 3.6))
    for tid, (x, y) in pos.items():
        group = tid.split(".")[0] if "." in tid else ""
        mapped = "MappedOperator" in type(dag.task_dict[tid]).__name__
        label = tid.split(".")[-1] + (" [ ]" if mapped else "")
        ax.text(x, y, f"{group + chr(10) if group else ''}{label}", ha="center", va="center", fontsize=8.5,
                bbox=dict(boxstyle="round,pad=0.4", fc=colours.get(group, "#eeeeee"), ec="0.4"))
        for down in dag.task_dict[tid].downstream_task_ids:
            x2, y2 = pos[down]
            ax.annotate("", xy=(x2 - 0.95, y2), xytext=(x + 0.95, y),
                        arrowprops=dict(arrowstyle="->", color="0.45", lw=0.9))
    ax.set_xlim(-1.3, max(x for x, _ in pos.values()) + 1.3)
    ax.set_ylim(min(y for _, y in pos.values()) - 0.8, 0.8)
    ax.axis("off")
    ax.set_title("cmt_inversion: task groups data / simulations / inversion; [ ]: mapped over container steps "
                 "(one simulation step for the embedded solver, one per source variant for SPECFEM3D)", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def screenshot(report: Path, path: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                    f"--screenshot={path}", "--window-size=1100,1500", report.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


if __name__ == "__main__":
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    draw_dag(HERE / "cmt_inversion_dag.png")
    if len(sys.argv) > 1:
        screenshot(Path(sys.argv[1]) / "report" / "index.html", HERE / "report.png")
