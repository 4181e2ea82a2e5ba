"""modules/build_context.py: an image's tag changes exactly when a file its build reads changes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from modules.build_context import BuildContextError, context_files, context_tag, copy_sources

DOCKER = ROOT / "docker"
IMAGES = sorted(p.parent.name for p in DOCKER.glob("*/Dockerfile"))
SHARED = "lib/ops-http.sh"


@pytest.fixture
def docker_copy(tmp_path) -> Path:
    target = tmp_path / "docker"
    shutil.copytree(DOCKER, target)
    return target


def tags(context: Path) -> dict[str, str]:
    return {name: context_tag(context, context / name / "Dockerfile") for name in IMAGES}


def test_every_image_has_its_own_stable_tag(docker_copy):
    here = tags(DOCKER)
    assert len(set(here.values())) == len(IMAGES) >= 7
    assert all(t.startswith("ctx-") and len(t) == 24 for t in here.values())
    for path in docker_copy.rglob("*"):  # a fresh checkout: other mtimes, same bytes
        os.utime(path, (0, 0))
    assert tags(docker_copy) == here


def test_shared_files_count_for_the_images_that_copy_them(docker_copy):
    users = {name for name in IMAGES if SHARED in copy_sources(DOCKER / name / "Dockerfile")}
    assert users == {"quality-cron", "rag-refresh-cron"}
    assert docker_copy / SHARED in context_files(docker_copy, docker_copy / "quality-cron" / "Dockerfile")
    before = tags(docker_copy)
    (docker_copy / SHARED).write_text((docker_copy / SHARED).read_text() + "\n# changed\n")
    after = tags(docker_copy)
    assert {n for n in IMAGES if before[n] != after[n]} == users


def test_a_change_in_one_folder_changes_only_that_image(docker_copy):
    before = tags(docker_copy)
    (docker_copy / "grafana" / "dashboards" / "new.json").write_text("{}")
    after = tags(docker_copy)
    assert {n for n in IMAGES if before[n] != after[n]} == {"grafana"}
    (docker_copy / "grafana" / "dashboards" / "new.json").unlink()
    assert tags(docker_copy) == before  # back to the same bytes, back to the same tag


def test_executable_bit_counts(docker_copy):
    script = docker_copy / "tempo" / "tempo.yaml"
    before = context_tag(docker_copy, docker_copy / "tempo" / "Dockerfile")
    script.chmod(script.stat().st_mode | 0o111)
    assert context_tag(docker_copy, docker_copy / "tempo" / "Dockerfile") != before


def test_quality_samples_copied_in_by_ci_are_part_of_the_tag(docker_copy):
    before = context_tag(docker_copy, docker_copy / "quality-cron" / "Dockerfile")
    (docker_copy / "quality-cron" / "samples" / "one.json").write_text('{"q": 1}')
    assert context_tag(docker_copy, docker_copy / "quality-cron" / "Dockerfile") != before


def test_dockerfile_parsing(tmp_path):
    ctx = tmp_path / "docker"
    (ctx / "img").mkdir(parents=True)
    (ctx / "lib").mkdir()
    (ctx / "lib" / "a.sh").write_text("a")
    (ctx / "lib" / "b.sh").write_text("b")
    (ctx / "lib" / "unused.sh").write_text("u")
    (ctx / "img" / "Dockerfile").write_text(
        "FROM alpine:3.20 AS base\n# COPY lib/unused.sh /nope\n"
        "COPY --from=base /bin/sh /bin/sh\n"
        "COPY --chmod=0555 \\\n    lib/a.sh /a\n"
        'ADD ["lib/b.sh", "/b"]\n')
    assert copy_sources(ctx / "img" / "Dockerfile") == ["lib/a.sh", "lib/b.sh"]
    rel = [p.relative_to(ctx.resolve()).as_posix() for p in context_files(ctx, ctx / "img" / "Dockerfile")]
    assert rel == ["img/Dockerfile", "lib/a.sh", "lib/b.sh"]
    before = context_tag(ctx, ctx / "img" / "Dockerfile")
    (ctx / "lib" / "unused.sh").write_text("changed")  # not read by this build
    assert context_tag(ctx, ctx / "img" / "Dockerfile") == before


@pytest.mark.parametrize("line,message", [
    ("COPY lib/missing.sh /x", "matches nothing"),
    ("COPY ../secret /x", "leaves the build context"),
    ("ADD https://example.com/x.tgz /x", "remote ADD source"),
    ("COPY onlyone", "needs a source and a destination"),
])
def test_unresolvable_sources_are_errors(tmp_path, line, message):
    ctx = tmp_path / "docker"
    (ctx / "img").mkdir(parents=True)
    (tmp_path / "secret").write_text("s")
    (ctx / "img" / "Dockerfile").write_text(f"FROM alpine:3.20\n{line}\n")
    with pytest.raises(BuildContextError, match=message):
        context_tag(ctx, ctx / "img" / "Dockerfile")
