"""Image contracts: what an image needs from the task that runs it, declared once per image.

An image built here declares it next to its Dockerfile (docker/<image>/contract.yaml); an image built
elsewhere (the app repository's api and rag-indexer) or pulled as is (ollama/ollama) in
docker/contracts/<name>.yaml, because it has no folder here and the contract is a property of the image,
the same in every environment (so not a section of an env file). A contract is keyed by its image (the
`build` name, or a public image's repository), never by a service name: any env file that runs the image,
under any service name, gets it. docs/workloads.md#image-contracts explains the format;
modules/config/wiring.py derives what it can, rules/contracts.py refuses what is missing, and
tests/test_contracts.py checks each contract against its image's Dockerfile, entrypoint script and baked
configuration files.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from modules.config.base import EnvVarName, Name, Port, Strict, dotted
from modules.config.registry import split_reference

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
CONTRACT_FILE = "contract.yaml"  # docker/<image>/contract.yaml: an image built from this repository
ELSEWHERE_DIR = "contracts"  # docker/contracts/<name>.yaml: an image built elsewhere or public
USER_PATTERN = r"^\d+(:\d+)?$"
DOCKER_HUB_PREFIXES = ("docker.io/library/", "docker.io/", "index.docker.io/")


class ContractError(RuntimeError):
    """A contract file that does not read as a contract, or none at all: a defect of the checkout, not of an env
    file (not a ValueError, which pydantic would report as the env file's)."""


class ImageRef(Strict):
    """The image a contract is for: a `build` name (ECR repository) or a public image's repository."""

    build: Name | None = None
    public: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._/-]*$", description="repository, no tag")

    @model_validator(mode="after")
    def _one(self) -> ImageRef:
        if bool(self.build) == bool(self.public):
            raise ValueError("set exactly one of 'build' or 'public'")
        return self


Derivation = Annotated[str, Field(pattern=r"^(dns_namespace|service_name|url:[a-z0-9-]+|value:.+)$")]


class EnvNeed(Strict):
    """One environment variable the image reads."""

    required: bool = Field(False, description="the image refuses to start without it (its own check)")
    default: str | None = Field(None, description="the image's own default when unset (documentation; "
                                "tests compare it with the script)")
    derive: Derivation | None = Field(
        None, description="what the generator sets when the env file does not: dns_namespace | service_name | "
        "url:<endpoint> (http://<host>:<port> of the service providing it) | value:<text>")
    when: str | None = Field(None, pattern=r"^[a-z0-9-]+$",
                             description="derive only when some service provides this endpoint")
    why: str = Field("", description="what the image does with it")

    @model_validator(mode="after")
    def _consistent(self) -> EnvNeed:
        if self.required and self.default is not None:
            raise ValueError("a required variable has no image default")
        if self.when and not self.derive:
            raise ValueError("'when' qualifies 'derive'")
        return self

    @property
    def endpoint(self) -> str | None:
        """The endpoint a `url:` derivation names."""
        return self.derive[4:] if self.derive and self.derive.startswith("url:") else None


class Endpoint(Strict):
    """A port the image serves, named so that other contracts can call it."""

    port: Port
    protocol: Literal["http", "http2", "grpc", "tcp"] = "http"
    why: str = ""


class VolumeNeed(Strict):
    """A path the image writes and keeps (a persistent volume's mount path) and the uid:gid it writes as.
    Declared here; whether and how volumes are shared between workloads is the env file's `volumes`."""

    path: str = Field(pattern=r"^/")
    owner: str = Field(pattern=USER_PATTERN)
    why: str = ""


class Call(Strict):
    """A service the image calls. `as`: the image's baked configuration names it (its Service Connect name,
    or its DNS name with `per_task`), so the service providing `endpoint` must carry that name."""

    endpoint: str = Field(pattern=r"^[a-z0-9-]+$")
    as_: Name | None = Field(None, alias="as", description="the name baked into the image's configuration")
    per_task: bool = Field(False, description="reaches every task by its Cloud Map DNS name (A record per task), "
                           "as Prometheus's dns_sd_configs do: the callee gets dns_discovery")
    why: str = ""


class ImageContract(Strict):
    image: ImageRef
    description: str = ""
    user: str | None = Field(None, pattern=USER_PATTERN, description="uid:gid the image runs as (its USER)")
    provides: dict[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")], Endpoint] = Field(default_factory=dict)
    env: dict[EnvVarName, EnvNeed] = Field(default_factory=dict)
    volumes: list[VolumeNeed] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    source: str = Field("", exclude=True, description="the contract file, relative to the repository")

    @property
    def ports(self) -> list[int]:
        return sorted({endpoint.port for endpoint in self.provides.values()})


def _read(path: Path, root: Path) -> ImageContract:
    rel = path.relative_to(root).as_posix()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return ImageContract.model_validate({**(data or {}), "source": rel})
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"{rel}: {exc}") from None
    except ValidationError as exc:
        lines = [f"{rel}: {dotted(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ContractError("\n".join(lines)) from None


@functools.cache
def all_contracts(docker_dir: Path = DOCKER_DIR) -> tuple[ImageContract, ...]:
    """Every contract of the repository, read once per process: docker/*/contract.yaml, then
    docker/contracts/*.yaml. A build name or public repository with two contracts is a ContractError."""
    paths = sorted(docker_dir.glob(f"*/{CONTRACT_FILE}")) + sorted((docker_dir / ELSEWHERE_DIR).glob("*.yaml"))
    if not paths:  # never derive nothing silently: every image of the stack has a contract
        raise ContractError(f"{docker_dir}: no image contracts (*/{CONTRACT_FILE}, {ELSEWHERE_DIR}/*.yaml); the "
                            "generator reads them: restore docker/ from the repository")
    found = tuple(_read(path, docker_dir.parent) for path in paths)
    seen: dict[tuple, str] = {}
    for contract in found:
        key = (contract.image.build, contract.image.public)
        if key in seen:
            raise ContractError(f"{contract.source}: image {contract.image.build or contract.image.public} already "
                                f"has a contract in {seen[key]}")
        seen[key] = contract.source
    return found


def public_repository(reference: str) -> str:
    """`docker.io/ollama/ollama:0.3.14@sha256:..` -> `ollama/ollama` (what a public contract names)."""
    name = split_reference(reference)[0]
    for prefix in DOCKER_HUB_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def contract_of(image: Any) -> ImageContract | None:
    """The contract of a service's `image` (modules/config/services.py Image): by the folder of its Dockerfile
    when it is built here (docker/<image>/contract.yaml, whatever the build is called), else by build name,
    else by public repository; None when the image has no contract."""
    return _contract_of(image.build, image.dockerfile, image.public)


@functools.cache
def _contract_of(build: str | None, dockerfile: str | None, public: str | None) -> ImageContract | None:
    contracts = all_contracts()
    if dockerfile:
        folder = Path(dockerfile).parent.as_posix()
        for contract in contracts:
            if contract.source == f"{folder}/{CONTRACT_FILE}":
                return contract
    if build:
        return next((c for c in contracts if c.image.build == build), None)
    repository = public_repository(public)
    return next((c for c in contracts if c.image.public == repository), None)
