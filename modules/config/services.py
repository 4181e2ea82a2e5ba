"""The `services` section: every container of the stack (image, ports, volume mounts, health check, scaling, kind)."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from modules.config.base import Cidr, EnvVarName, Name, Port, Strict, known_timezones, or_short_form
from modules.config.defaults import (
    ALARM_PERIOD_RANGE,
    DEFAULT_DNS_DISCOVERY,
    DEFAULT_FAILURE_ALARM_PERIOD,
    DEFAULT_FAILURE_ALARM_THRESHOLD,
    DEFAULT_FAILURE_LOG_PATTERN,
    SERVICE_CONNECT_IDLE_TIMEOUT,
    SERVICE_CONNECT_PER_REQUEST_TIMEOUT,
    SERVICE_CONNECT_TIMEOUT_MAX,
    DEFAULT_CPU_TARGET_PERCENT,
    DEFAULT_EGRESS_CIDRS,
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_HEALTH_RETRIES,
    DEFAULT_HEALTH_START_PERIOD,
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_SCHEDULE_TIMEZONE,
    DEFAULT_SIDECAR_LOOP_WITHOUT_PORTS,
    IMAGE_DIGEST_PATTERN,
    SG_DESCRIPTION_PATTERN,
    ECS_HEALTH_INTERVAL_RANGE,
    ECS_HEALTH_RETRIES_RANGE,
    ECS_HEALTH_START_PERIOD_RANGE,
    ECS_HEALTH_TIMEOUT_RANGE,
    PORT_NAME_MAX,
    PORT_NAME_PATTERN,
)
from modules.config.kinds import SecretName, SnsTopicArn
from modules.config.registry import split_reference
from modules.config.schedules import schedule_problem


class Kind(str, Enum):
    service = "service"  # long-running ECS service
    init = "init"  # extra container in another service's task, runs once at task start
    sidecar = "sidecar"  # extra long-running container in another service's task
    job = "job"  # one-shot task definition, run on demand
    scheduled = "scheduled"  # task run by EventBridge Scheduler


class Image(Strict):
    """Exactly one of `build` (an image this project or the app builds, pushed to ECR) or `public`."""

    model_config = ConfigDict(json_schema_extra=or_short_form(
        {"type": "string", "description": "short for {public: <image>}: a public image with a pinned tag"}))

    build: Name | None = Field(None, description="ECR repository name; built from docker/ or the app repo")
    dockerfile: str | None = Field(None, description="Dockerfile in this repo (docker/...); omit if the app builds it")
    public: str | None = Field(None, description="public image with a pinned tag and optionally its digest, e.g. "
                               "ollama/ollama:0.3.14 or ollama/ollama:0.3.14@sha256:<64 hex>")
    tag_env_var: EnvVarName | None = Field(
        None, description="env var holding the tag another repository pushed this image with (only with 'build' "
        "and no 'dockerfile'); unset at synth: registry.app_image_tag, else the fixed tag of no release with a notice",
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # `image: ollama/ollama:0.3.14`
            return {"public": value}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Image:
        if bool(self.build) == bool(self.public):
            raise ValueError("set exactly one of 'build' (ECR repository) or 'public' (image reference)")
        if self.public:
            _, tag, digest = split_reference(self.public)
            if not tag or tag == "latest":
                raise ValueError(f"public image '{self.public}' needs a pinned tag (not 'latest'), "
                                 "optionally with its digest: name:tag@sha256:<64 hex>")
            if digest and not re.match(IMAGE_DIGEST_PATTERN, digest):
                raise ValueError(f"public image '{self.public}': digest '{digest}' is not sha256:<64 lower-case hex>")
        if self.dockerfile and not self.build:
            raise ValueError("'dockerfile' only goes with 'build'")
        if self.tag_env_var and not self.build:
            raise ValueError("'tag_env_var' only goes with 'build' (an image another repository builds); "
                             "a public image carries its tag in its reference")
        if self.tag_env_var and self.dockerfile:
            # One deploy ships one consistent set: everything built from docker/ gets the synth-time tag.
            raise ValueError("'tag_env_var' is for images another repository builds; an image built here "
                             "('dockerfile') is tagged with the hash of its build context")
        return self


class PortMapping(Strict):
    """A container port. A bare number is short for `{port: N}`."""

    model_config = ConfigDict(json_schema_extra=or_short_form(
        {"type": "integer", "minimum": 1, "maximum": 65535, "description": "short for {port: N}"}))

    port: Port = Field(description="container port")
    # ECS portMappings `name` = the Service Connect discovery name: <= 64 of a-z 0-9 _ -, no leading '-'.
    name: str | None = Field(None, max_length=PORT_NAME_MAX, pattern=PORT_NAME_PATTERN,
                             description=f"port name (default <service>-<port>); up to {PORT_NAME_MAX} lowercase "
                             "letters, digits, '_' and '-', not starting with '-'")
    protocol: Literal["http", "http2", "grpc", "tcp"] = Field("http", description="Service Connect protocol")
    allow_from: list[Name] | None = Field(
        None, description="narrows the task's `allow_from` for this port (e.g. OTLP only from the collector); "
        "default: every service in the task's `allow_from`",
    )
    per_request_timeout: int | None = Field(
        None, ge=0, le=SERVICE_CONNECT_TIMEOUT_MAX,
        description=f"Service Connect: seconds a client waits for a complete response (0: no limit); default "
        f"AWS's {SERVICE_CONNECT_PER_REQUEST_TIMEOUT} s; not for tcp ports",
    )
    idle_timeout: int | None = Field(
        None, ge=0, le=SERVICE_CONNECT_TIMEOUT_MAX,
        description=f"Service Connect: seconds a connection may stay idle (0: no limit); default AWS's "
        f"{SERVICE_CONNECT_IDLE_TIMEOUT['http']} s, {SERVICE_CONNECT_IDLE_TIMEOUT['tcp']} s for tcp",
    )

    @model_validator(mode="after")
    def _timeouts(self) -> PortMapping:
        if self.protocol == "tcp" and self.per_request_timeout is not None:
            raise ValueError("'per_request_timeout' needs an HTTP/HTTP2/gRPC port (AWS allows only "
                             "'idle_timeout' for tcp)")
        per_request = self.per_request_timeout
        if per_request is None and self.idle_timeout is not None and self.protocol != "tcp":
            per_request = SERVICE_CONNECT_PER_REQUEST_TIMEOUT
        idle = self.idle_timeout if self.idle_timeout is not None else SERVICE_CONNECT_IDLE_TIMEOUT[self.protocol]
        if per_request and idle != 0 and idle < per_request:  # 0: no idle limit
            raise ValueError(f"idle_timeout {idle} s{' (AWS default)' if self.idle_timeout is None else ''} is below "
                             f"per_request_timeout {per_request} s: the connection would close at {idle} s (AWS); "
                             f"set idle_timeout to at least {per_request}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"port": value} if isinstance(value, int) else value


class VolumeMount(Strict):
    """A volume mounted in a container. The string `volume:/path[:ro]` (compose style) is short for it."""

    model_config = ConfigDict(json_schema_extra=or_short_form(
        {"type": "string", "pattern": "^[^:]+:/[^:]*(:(ro|rw))?$", "description": "volume:/path or volume:/path:ro"}))

    volume: Name = Field(description="a key of `volumes`")
    path: str = Field(description="absolute mount path in the container, e.g. /data")
    read_only: bool = Field(False, description="mount read-only")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # compose style `name:/path[:ro]`
            parts = value.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
                raise ValueError(f"'{value}' is not 'volume:/path' or 'volume:/path:ro'")
            return {"volume": parts[0], "path": parts[1], "read_only": len(parts) == 3 and parts[2] == "ro"}
        return value

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        # ECS mountPoints containerPath is an absolute path in the container.
        if not value.startswith("/") or "/../" in f"{value}/":
            raise ValueError(f"container path '{value}' must be absolute (start with '/', no '..'), e.g. /data")
        return value


class HealthCheck(Strict):
    """A container health check. A string is short for `{command: [CMD-SHELL, <string>]}`."""

    model_config = ConfigDict(json_schema_extra=or_short_form(
        {"type": "string", "description": "short for {command: [CMD-SHELL, <string>]}"}))

    command: list[str] = Field(min_length=1, description="CMD-SHELL form when a single string is given",
                               json_schema_extra=or_short_form({"type": "string"}))
    # ECS HealthCheck (container definitions API): interval 5-300 s, timeout 2-60 s, retries 1-10,
    # startPeriod 0-300 s; RegisterTaskDefinition rejects anything outside.
    interval: int = Field(DEFAULT_HEALTH_INTERVAL, ge=ECS_HEALTH_INTERVAL_RANGE[0], le=ECS_HEALTH_INTERVAL_RANGE[1],
                          description="seconds between checks")
    timeout: int = Field(DEFAULT_HEALTH_TIMEOUT, ge=ECS_HEALTH_TIMEOUT_RANGE[0], le=ECS_HEALTH_TIMEOUT_RANGE[1],
                         description="seconds before a check fails")
    retries: int = Field(DEFAULT_HEALTH_RETRIES, ge=ECS_HEALTH_RETRIES_RANGE[0], le=ECS_HEALTH_RETRIES_RANGE[1],
                         description="failures before unhealthy")
    start_period: int = Field(DEFAULT_HEALTH_START_PERIOD, ge=ECS_HEALTH_START_PERIOD_RANGE[0],
                              le=ECS_HEALTH_START_PERIOD_RANGE[1], description="grace seconds after start")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"command": ["CMD-SHELL", value]}
        if isinstance(value, dict) and isinstance(value.get("command"), str):
            return {**value, "command": ["CMD-SHELL", value["command"]]}
        return value


class Scaling(Strict):
    min: int = Field(1, ge=0, description="fewest tasks")
    max: int = Field(1, ge=1, description="most tasks")
    cpu_target: int = Field(DEFAULT_CPU_TARGET_PERCENT, ge=10, le=95, description="target CPU %")

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def _names_list_or_map(value: Any) -> Any:
    """`[A, B]` is short for `{A: A, B: B}` (env var name = parameter/secret name)."""
    if isinstance(value, list):
        not_names = [item for item in value if not isinstance(item, str)]
        if not_names:  # a nested list or mapping: a ValueError is reported with the field, a TypeError would crash
            raise ValueError(f"the short form is a list of names (e.g. [API_KEY, DB_URL]); got {not_names[0]!r}; "
                             "for env var -> name pairs use a mapping")
        return {item: item for item in value}
    return value


class FailureAlarm(Strict):
    """A CloudWatch metric filter on the container's log group and an alarm on its count."""

    log_pattern: str = Field(DEFAULT_FAILURE_LOG_PATTERN, min_length=1, max_length=1024,
                             description="CloudWatch Logs filter pattern of one failure line")
    period: int = Field(DEFAULT_FAILURE_ALARM_PERIOD, ge=ALARM_PERIOD_RANGE[0], le=ALARM_PERIOD_RANGE[1],
                        description="seconds the alarm counts over (a multiple of 60); one interval of a schedule")
    threshold: int = Field(DEFAULT_FAILURE_ALARM_THRESHOLD, ge=1, description="failure lines per period that alarm")
    alarm_actions: list[SnsTopicArn] = Field(
        default_factory=list,
        description="SNS topics (in the stack's Region) notified on ALARM and OK besides the `alarms` targets")

    @field_validator("period")
    @classmethod
    def _whole_minutes(cls, value: int) -> int:
        if value % 60:
            raise ValueError(f"{value} s is not a multiple of 60 (CloudWatch alarm periods above 30 s are)")
        return value


class EgressRule(Strict):
    """Outbound TCP a task needs beyond what the stack wires for it (the services it calls, Redis, EFS,
    the VPC endpoints, the database). A bare number is short for `{port: N}`: that port to the internet."""

    port: Port = Field(description="TCP port")
    cidrs: list[Cidr] = Field(default_factory=lambda: list(DEFAULT_EGRESS_CIDRS), min_length=1,
                              description="destinations (default: the internet)")
    description: str = Field("", max_length=200, pattern=SG_DESCRIPTION_PATTERN,
                             description="why (the security-group rule's description: AWS's allowed characters)")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"port": value} if isinstance(value, int) and not isinstance(value, bool) else value


class Service(Strict):
    kind: Kind = Field(Kind.service, description="service | job | scheduled own a task; init/sidecar join one")
    description: str = Field("", description="what it is for (documentation; also the schedule's description)")
    image: Image = Field(description="where the image comes from")
    command: list[str] | None = Field(None, description="overrides the image command")
    cpu: float = Field(ge=0, le=192, description="vCPU reserved (0.25 = 256 CPU units); 0 shares the task's")
    memory: int = Field(ge=6, description="MiB hard limit")
    gpu: int = Field(0, ge=0, le=8, description="GPUs (needs a gpu capacity provider)")
    capacity_provider: Name | None = Field(None, description="default: cluster.default_capacity_provider")
    ports: list[PortMapping] = Field(default_factory=list, description="container ports (Service Connect names)")
    environment: dict[EnvVarName, str] = Field(default_factory=dict, description="plain, non-secret values")
    parameters: Annotated[dict[EnvVarName, str], BeforeValidator(_names_list_or_map)] = Field(
        default_factory=dict, description="env var -> key in `parameters` (SSM, injected via valueFrom)",
        json_schema_extra=or_short_form({"type": "array", "items": {"type": "string"},
                                                       "description": "[A, B] is short for {A: A, B: B}"}),
    )
    secrets: Annotated[dict[EnvVarName, str], BeforeValidator(_names_list_or_map)] = Field(
        default_factory=dict, description="env var -> `secret` or `secret:KEY` (Secrets Manager)",
        json_schema_extra=or_short_form({"type": "array", "items": {"type": "string"},
                                                       "description": "[A, B] is short for {A: A, B: B}"}),
    )
    secrets_from: list[SecretName] = Field(default_factory=list, description="JSON secrets whose every key is injected")
    volumes: list[VolumeMount] = Field(default_factory=list, description="persistent volumes (EFS) mounted")
    health_check: HealthCheck | None = Field(None, description="container health check (depends_on waits for it)")
    depends_on: list[Name] = Field(default_factory=list, description="start order (seed §5)")
    init_of: Name | None = Field(None, description="kind init: the service whose task holds this container")
    sidecar_of: Name | None = Field(None, description="kind sidecar: the service whose task holds it")
    allow_from: list[Name] = Field(default_factory=list, description="services allowed to reach the ports")
    egress: list[EgressRule] = Field(
        default_factory=list, description="outbound TCP beyond the stack's own wiring, e.g. [443] for external "
        "APIs; none by default (applies to the whole task)")
    desired_count: int = Field(1, ge=0, description="running tasks (kind service); 0 stops it")
    scaling: Scaling | None = Field(None, description="CPU target tracking (kind service)")
    schedule: str | None = Field(None, description="kind scheduled: cron(...) or rate(...) expression")
    schedule_timezone: str = Field(
        DEFAULT_SCHEDULE_TIMEZONE, pattern=r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$",
        description="IANA time zone the schedule's cron runs in, e.g. America/Sao_Paulo",
    )
    user: str | None = Field(None, description="uid[:gid] the container runs as")
    read_only_root: bool = Field(False, description="read-only root filesystem")
    essential: bool | None = Field(None, description="default: true for service/job, false for init/sidecar")
    stop_timeout: int | None = Field(None, ge=2, le=120, description="seconds between SIGTERM and SIGKILL")
    dns_discovery: bool = Field(
        DEFAULT_DNS_DISCOVERY,
        description="kind service: also register `<name>.<discovery_dns_namespace>` (A records, one per task) "
        "for clients that must reach each task or are outside Service Connect; on anyway for services a "
        "job/scheduled task depends on, or that a derived address or an image contract's per-task call reaches "
        "(Prometheus scraping the api)",
    )
    failure_alarm: FailureAlarm | None = Field(
        None, description="CloudWatch metric filter + alarm on failure lines in this container's log")
    loop: bool | None = Field(
        None, description="kind sidecar: it repeats work on its own clock (a cron loop), so it must run once, "
        "not once per task of its host: refused in a host that can run more than one task (use kind "
        "scheduled); default: true for a sidecar without ports, false for one serving ports (a per-task helper)",
    )

    @field_validator("cpu")
    @classmethod
    def _cpu_units(cls, value: float) -> float:
        if round(value * 1024) != value * 1024:
            raise ValueError(f"{value} vCPU is not a whole number of CPU units (1 vCPU = 1024)")
        return value

    @property
    def cpu_units(self) -> int:
        return round(self.cpu * 1024)

    @property
    def host(self) -> str | None:
        """The service whose task holds this container (None for task-owning kinds)."""
        return self.init_of or self.sidecar_of

    @property
    def is_loop(self) -> bool:
        """A sidecar doing periodic work of its own (env file `loop`, else: it serves no port)."""
        if self.kind != Kind.sidecar:
            return False
        if self.loop is not None:
            return self.loop
        return DEFAULT_SIDECAR_LOOP_WITHOUT_PORTS and not self.ports

    @property
    def is_essential(self) -> bool:
        return self.essential if self.essential is not None else self.kind in (Kind.service, Kind.job, Kind.scheduled)

    @model_validator(mode="after")
    def _kind_fields(self) -> Service:
        if (self.kind == Kind.init) != (self.init_of is not None):
            raise ValueError("'init_of' is required with kind 'init' and allowed only there")
        if (self.kind == Kind.sidecar) != (self.sidecar_of is not None):
            raise ValueError("'sidecar_of' is required with kind 'sidecar' and allowed only there")
        if (self.kind == Kind.scheduled) != (self.schedule is not None):
            raise ValueError("'schedule' is required with kind 'scheduled' and allowed only there")
        if self.schedule and (problem := schedule_problem(self.schedule)):
            raise ValueError(f"schedule {problem}")
        if self.kind == Kind.init and self.essential:
            # ECS stops every container of a task when an essential one exits: an init container exits.
            raise ValueError("an init container runs once and exits; 'essential: true' would stop the task "
                             "when it does (ECS); allowed: essential false or omitted")
        paths: dict[str, int] = {}
        for i, mount in enumerate(self.volumes):
            if mount.path in paths:
                # One container path holds one mount point (ECS/Docker reject a duplicate destination).
                raise ValueError(f"volumes[{i}] mounts '{mount.volume}' at {mount.path}, already the path of "
                                 f"volumes[{paths[mount.path]}]; each mount needs its own container path")
            paths[mount.path] = i
        if self.schedule_timezone != DEFAULT_SCHEDULE_TIMEZONE:
            if self.kind != Kind.scheduled:
                raise ValueError("'schedule_timezone' applies to kind 'scheduled' only")
            known = known_timezones()  # empty without a tz database: the pattern check stands
            if known and self.schedule_timezone not in known:
                raise ValueError(f"schedule_timezone '{self.schedule_timezone}' is not an IANA time zone "
                                 "(e.g. America/Sao_Paulo, UTC)")
        if self.host and (self.capacity_provider or self.scaling or self.allow_from):
            raise ValueError(
                "an init/sidecar container runs in its host's task: set capacity_provider, scaling and "
                "allow_from on the host service"
            )
        if self.loop is not None and self.kind != Kind.sidecar:
            raise ValueError("'loop' applies to kind 'sidecar' only (a periodic task is kind 'scheduled')")
        if self.kind != Kind.service and self.scaling:
            raise ValueError("'scaling' applies to kind 'service' only")
        if self.kind != Kind.service and self.dns_discovery:
            raise ValueError("'dns_discovery' applies to kind 'service' only (tasks of a service register)")
        if self.scaling and not self.scaling.min <= self.desired_count <= self.scaling.max:
            raise ValueError(
                f"desired_count {self.desired_count} must lie within scaling min {self.scaling.min} "
                f"and max {self.scaling.max}"
            )
        return self
