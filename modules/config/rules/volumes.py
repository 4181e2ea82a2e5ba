"""Volume rules: who owns a volume, and who runs as it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.config.base import Problem

if TYPE_CHECKING:  # annotations only: env.py imports the rules
    from modules.config.env import EnvConfig


def volumes_run_as_their_non_root_owner(cfg: EnvConfig) -> list[Problem]:
    """No volume is owned by root, and every container mounting one runs as a non-root `user`.

    A uid 0 access point makes the directory root's and needs elasticfilesystem:ClientRootAccess, root on the
    shared file system; a container that leaves `user` unset runs as its image's default user, root for most
    public images (ollama/ollama). The access point writes as its owner whatever the process is, so `user`
    decides only whether a compromised process is root in its task: it must be set, and not to uid 0."""
    problems: list[Problem] = []
    for name, volume in sorted(cfg.volumes.items()):
        if volume.uid == 0:
            problems.append((("volumes", name, "uid"),
                             "0 is root: the access point would need elasticfilesystem:ClientRootAccess (root on "
                             "the shared file system); give the volume the non-root uid/gid its image runs as "
                             "(an image that runs as root by default, like ollama/ollama, runs as any uid with "
                             "HOME on the volume) and set `user` of the services mounting it to them"))
    for sname, svc in cfg.services.items():
        owners = [(m.volume, cfg.volumes[m.volume]) for m in svc.volumes if m.volume in cfg.volumes]
        if not owners or (svc.user and svc.user.split(":")[0] not in ("0", "root")):
            continue
        volume, owner = owners[0]
        now = f"runs as '{svc.user}' (root)" if svc.user else "leaves `user` unset (the image's default user, often root)"
        fix = f'set user: "{owner.uid}:{owner.gid}"' if owner.uid else "set `user` to the non-root uid:gid its image runs as"
        problems.append((("services", sname, "user"), f"mounts volume '{volume}' but {now}; {fix}"))
    return problems
