"""How workloads run together: a loop sidecar runs once, data one workload writes is on a volume its
readers mount, and a container's user is the owner of the volumes it mounts."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from modules.config.base import Problem
from modules.config.capacity import task_count

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def loop_sidecars_run_in_one_task(cfg: EnvConfig) -> list[Problem]:
    """A loop sidecar (a sidecar doing periodic work: `loop`, by default one that serves no port) lives in a
    service that never runs more than one task (desired_count and scaling.max at most 1): a sidecar runs
    in every task of its host, so 2-6 api tasks would run a cron 2-6 times per interval. Periodic work is a
    `kind: scheduled` task (EventBridge Scheduler starts one per interval)."""
    problems = []
    for name, svc in cfg.services.items():
        host = svc.sidecar_of
        if not svc.is_loop or host not in cfg.services or cfg.services[host].host is not None:
            continue  # dangling or nested hosts: hosts_own_a_task reports them
        count = task_count(cfg, host)
        if count <= 1:
            continue
        host_svc = cfg.services[host]
        why = f"scaling.max {host_svc.scaling.max}" if host_svc.scaling and host_svc.scaling.max == count \
            else f"desired_count {host_svc.desired_count}"
        default = "" if svc.loop is not None else " (a sidecar without ports)"
        problems.append((("services", name, "kind"),
                         f"'{name}' is a loop sidecar{default} of '{host}', which runs up to {count} tasks "
                         f"(services.{host}.{why}): the loop would run {count} times per interval; make it "
                         f"`kind: scheduled` with a `schedule` (one task per interval; docs/workloads.md), or "
                         f"keep '{host}' at one task; `loop: false` if each task needs its own copy"))
    return problems


def _path_values(cfg: EnvConfig, svc) -> list[tuple[tuple, str]]:
    """(location, absolute path) of each environment value and parameter the container reads that is a path."""
    values = [(("environment", k), v) for k, v in svc.environment.items()]
    values += [(("parameters", k), cfg.parameters[key]) for k, key in svc.parameters.items() if key in cfg.parameters]
    return [(loc, posixpath.normpath(v)) for loc, v in values if v.startswith("/") and not any(c.isspace() for c in v)]


def _under(path: str, mount: str) -> bool:
    mount = posixpath.normpath(mount)
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def _covering_mount(svc, path: str):
    """The container's mount holding `path` (the deepest), or None."""
    mounts = [m for m in svc.volumes if _under(path, m.path)]
    return max(mounts, key=lambda m: len(m.path), default=None)


def readers_mount_the_writers_volume(cfg: EnvConfig) -> list[Problem]:
    """A path one container is given (an environment value or parameter such as RAG_INDEX_PATH) that lies
    under another container's writable volume mount is on a volume of the reader too; when that is the
    writer's volume, mounted at the same path. Otherwise the reader looks at its own empty filesystem (or
    other files of the shared volume) and never sees what the writer wrote (each container mounts only its
    own volumes). A different volume of the reader's own there is its own data, not a reader's."""
    problems = []
    for reader, rsvc in cfg.services.items():
        for loc, path in _path_values(cfg, rsvc):
            mine = _covering_mount(rsvc, path)
            for writer, wsvc in cfg.services.items():
                if writer == reader:
                    continue
                theirs = _covering_mount(wsvc, path)
                if theirs is None or theirs.read_only or theirs.volume not in cfg.volumes:
                    continue
                where = ("services", reader) + loc
                if mine is None:
                    problems.append((where, f"'{path}' is under {writer}'s mount of volume '{theirs.volume}' "
                                            f"({theirs.path}), which {writer} writes, but {reader} mounts no volume "
                                            f"there: it would read its own empty filesystem; add "
                                            f"'{theirs.volume}:{theirs.path}' to services.{reader}.volumes"))
                elif mine.volume == theirs.volume and posixpath.relpath(path, mine.path) != posixpath.relpath(
                        path, theirs.path):
                    problems.append((where, f"'{path}' is on volume '{mine.volume}' in both, but {reader} mounts it "
                                            f"at {mine.path} and {writer} at {theirs.path}: the same path names "
                                            f"different files; mount it at {theirs.path} in {reader} too"))
                # a volume of the reader's own at that path holds its own data (two services may both keep
                # theirs under /data): not a reader of the writer's
                break  # one writer named is enough to fix it
    return problems


def volume_users_own_their_volumes(cfg: EnvConfig) -> list[Problem]:
    """A container with a numeric `user` that mounts a volume runs as the volume's owner (uid, and gid when
    given): the EFS access point acts as the volume's uid/gid on every file, so a container of another
    user sees files it did not create as someone else's. Root (uid 0) may mount any volume, and a read-only
    mount creates nothing (the access point reads with the owner's identity anyway)."""
    problems = []
    for name, svc in cfg.services.items():
        if not svc.user or not svc.volumes:
            continue
        uid, _, gid = svc.user.partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()) or int(uid) == 0:
            continue  # a user name: only the image knows its uid
        for mount in svc.volumes:
            volume = cfg.volumes.get(mount.volume)
            if volume is None or mount.read_only:
                continue  # a dangling name: section_references_resolve reports it
            if int(uid) != volume.uid or (gid and int(gid) != volume.gid):
                problems.append((("services", name, "user"),
                                 f"'{svc.user}' but volume '{mount.volume}' (at {mount.path}) is owned by "
                                 f"{volume.uid}:{volume.gid}, the identity its access point writes with; run as "
                                 f"\"{volume.uid}:{volume.gid}\", or set volumes.{mount.volume}.uid/gid to the "
                                 "image's user"))
                break
    return problems
