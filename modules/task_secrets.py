"""The secrets and parameters a container reads: one SecretRef per injected variable.

The task definition injects them (`secrets` of a container definition: name + valueFrom); the
execution role may read exactly their resources (modules/task_roles.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.config.grafana import grafana_secret_env
from modules.task_owner import TaskOwner


@dataclass(frozen=True)
class SecretRef:
    """One `secrets` entry of a container: env var, valueFrom, and what IAM must allow for it."""

    env: str
    value_from: str
    store: str  # "secretsmanager" or "ssm"
    resource: str  # the IAM resource (a secret ARN without the JSON-key suffix, or a parameter ARN)


def secret_arn_of(value_from: str) -> str:
    """A Secrets Manager valueFrom (`<secret ARN>[:json-key:stage:version]`) -> the secret ARN for IAM."""
    if value_from.startswith("arn:"):
        return ":".join(value_from.split(":")[:7])  # arn:partition:secretsmanager:region:account:secret:name-XXXXXX
    # a Terraform reference (cdktf token) followed by an optional `:KEY::` suffix
    end = value_from.find("}")
    return value_from[: end + 1] if value_from.startswith("${") and end > 0 else value_from


def secret_refs(task: TaskOwner, cname: str) -> list[SecretRef]:
    """Every variable container `cname` gets from a store, sorted by name; a name injected twice is an error."""
    cfg, deps, svc = task.cfg, task.deps, task.cfg.services[cname]
    refs: list[SecretRef] = []
    for env, key in svc.parameters.items():
        arn = deps.parameters.arn(key)
        refs.append(SecretRef(env, arn, "ssm", arn))
    for env, ref in svc.secrets.items():
        secret, _, key = ref.partition(":")
        arn = deps.secrets.arn(secret)
        refs.append(SecretRef(env, f"{arn}:{key}::" if key else arn, "secretsmanager", arn))
    for env, secret in grafana_secret_env(cfg, cname).items():  # the admin password; the SSO client secret
        arn = deps.secrets.arn(secret)
        refs.append(SecretRef(env, arn, "secretsmanager", arn))
    for secret in svc.secrets_from:
        arn = deps.secrets.arn(secret)
        refs.extend(SecretRef(key, f"{arn}:{key}::", "secretsmanager", arn) for key in cfg.secrets[secret].keys)
    refs.extend(_managed_data_refs(task, cname))
    seen: dict[str, str] = {}
    for ref in refs:
        if ref.env in seen or ref.env in svc.environment:
            raise ValueError(
                f"services.{cname}: variable {ref.env} is injected twice (environment/parameters/secrets/"
                f"secrets_from/cache/database); keep one"
            )
        seen[ref.env] = ref.value_from
    return sorted(refs, key=lambda r: r.env)


def _managed_data_refs(task: TaskOwner, cname: str) -> list[SecretRef]:
    """The variables the cache and the database hand to the containers they allow (e.g. REDIS_URL)."""
    refs: list[SecretRef] = []
    managed = [(task.cfg.cache, task.deps.cache), (task.cfg.database, task.deps.database)]
    for section, construct in managed:
        if section is not None and construct is not None and cname in section.allow_from:
            ssm_arns = list(getattr(construct, "parameter_arns", []))
            secret_arns = list(getattr(construct, "secret_arns", []))
            for env, value_from in sorted(construct.secret_env().items()):
                if value_from in ssm_arns:
                    refs.append(SecretRef(env, value_from, "ssm", value_from))
                    continue
                # the secret a `<arn>:KEY::` reference reads (the construct lists its secret ARNs)
                owner = next((a for a in secret_arns if value_from.startswith(a)), secret_arn_of(value_from))
                refs.append(SecretRef(env, value_from, "secretsmanager", owner))
    return refs
