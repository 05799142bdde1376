"""Golden checks of the Dockerfiles (no Docker engine here): pinned bases, non-root users,
the files they copy exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted((ROOT / "images").glob("*/Dockerfile"))


def test_three_images():
    assert [p.parent.name for p in IMAGES] == ["airflow", "cmtflow", "specfem3d"]


@pytest.mark.parametrize("dockerfile", IMAGES, ids=lambda p: p.parent.name)
def test_dockerfile(dockerfile):
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
        assert ":" in base and not base.endswith(":latest"), f"{dockerfile}: unpinned base {base}"
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0"), f"{dockerfile}: the final user is root"
    for src in re.findall(r"^COPY (?:--chown=\S+ )?(?!--from)(.+) \S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"{dockerfile}: COPY of a missing {part}"


def test_the_specfem3d_image_and_make_build_specfem3d_with_one_script():
    script = "scripts/build-specfem3d"
    assert f"COPY {script} " in (ROOT / "images/specfem3d/Dockerfile").read_text()
    assert f"{script} $(SPECFEM_SOURCE)" in (ROOT / "Makefile").read_text()
