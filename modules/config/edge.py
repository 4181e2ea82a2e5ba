"""What faces the outside: the `alb` section (Grafana exposure, OIDC) and the `terraform_cloud` backend."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from modules.config.base import (
    NON_INTERNET_TEXT,
    RETENTION_CHOICES,
    Cidr,
    Name,
    Port,
    RetentionDays,
    Strict,
    address_space_kind,
    is_non_internet,
)
from modules.config.kinds import Arn, SecretName
from modules.config.defaults import (
    ALB_IDLE_TIMEOUT_RANGE,
    DEFAULT_ALB_IDLE_TIMEOUT,
    ALB_HEALTH_INTERVAL_RANGE,
    ALB_HEALTH_TIMEOUT_RANGE,
    DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS,
    DEFAULT_ALB_HEALTH_CHECK_TIMEOUT,
    DEFAULT_API_RECORD,
    DEFAULT_GRAFANA_RECORD,
    DEFAULT_GRAFANA_HEALTH_CHECK_PATH,
    DEFAULT_GRAFANA_PORT,
    DEFAULT_GRAFANA_SERVICE,
    DEFAULT_HEALTH_CHECK_INTERVAL,
    DEFAULT_HEALTH_CHECK_PATH,
    DEFAULT_TFC_HOSTNAME,
    DEFAULT_TLS_POLICY,
    DEFAULT_WAF_LOG_RETENTION_DAYS,
    DEFAULT_WAF_MANAGED_RULE_GROUPS,
    DEFAULT_WAF_RATE_LIMIT,
    DEFAULT_WAF_RATE_WINDOW_SECONDS,
    DEFAULT_WAF_REDACTED_HEADERS,
    MAX_GRAFANA_SOURCE_CIDRS,
    WAF_RATE_LIMIT_RANGE,
    WAF_RATE_WINDOWS,
)
from modules.config.defaults import (
    ALB_RULE_CONDITION_VALUES_MAX,
    ALB_RULES_MAX,
    API_PRIVATE_PATHS,
    DEFAULT_GRAFANA_OIDC_SCOPES,
    DEFAULT_PUBLIC_API_PATHS,
    DEFAULT_WAF_IP_REPUTATION,
    WAF_COMMON_BODY_RULES,
    WAF_COMMON_RULE_SET,
    WAF_IP_REPUTATION_GROUP,
)


# A lower-case DNS host name with at least two labels (no scheme, port, path or trailing dot).
HOST_NAME_PATTERN = r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
# A URL path prefix: `/` then segments of unreserved characters (RFC 3986), no trailing `/`, no ALB wildcard.
PATH_PREFIX_PATTERN = r"^(/[A-Za-z0-9._~-]+)+$"
PATH_PREFIX_MAX = 100  # an ALB path pattern value holds up to 128 characters; `/*` is added


def _path_prefix(value: str) -> str:
    if not re.fullmatch(PATH_PREFIX_PATTERN, value) or len(value) > PATH_PREFIX_MAX:
        raise ValueError(f"'{value}' is not a path prefix; allowed: '/' then segments of letters, digits and "
                         f". _ ~ - (no trailing '/', no wildcard, at most {PATH_PREFIX_MAX} characters), e.g. /api "
                         "or /v1/chat; everything below a prefix is included")
    return value


PathPrefix = Annotated[str, AfterValidator(_path_prefix),
                       Field(json_schema_extra={"pattern": PATH_PREFIX_PATTERN, "maxLength": PATH_PREFIX_MAX})]


def path_patterns(prefix: str) -> list[str]:
    """The ALB path-pattern values of a prefix: the path itself and everything under it (not `/apix`)."""
    return [prefix, f"{prefix}/*"]


def under(path: str, prefix: str) -> bool:
    """`path` is `prefix` or below it (segment-wise: /api/x is under /api, /apix is not)."""
    return path == prefix or path.startswith(prefix + "/")


def private_path_problem(prefixes: list[str], field: str) -> str | None:
    """Why a public prefix would expose a path the api serves to the stack only (API_PRIVATE_PATHS), or None."""
    for prefix in prefixes:
        for private in API_PRIVATE_PATHS:
            if under(private, prefix) or under(prefix, private):
                return (f"{field}: '{prefix}' would make {private} public ({private} is for the stack only: "
                        f"Prometheus scrapes /metrics, the crons call /ops/* by DNS); list the api's public "
                        f"prefixes only, none of {', '.join(API_PRIVATE_PATHS)} or below them")
    return None


# A name relative to a zone: one or more labels, e.g. `api` or `api.stage`.
RELATIVE_NAME_PATTERN = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"


def host_name_problem(value: str) -> str | None:
    """Why `value` is not a lower-case DNS host name such as grafana.example.com, or None."""
    if re.fullmatch(HOST_NAME_PATTERN, value):
        return None
    return f"'{value}' is not a lower-case DNS host name such as grafana.example.com (no scheme, port or path)"


class TerraformCloud(Strict):
    """Terraform Cloud / Enterprise `cloud` block. Omit the section for a local backend."""

    organization: str = Field(min_length=1, description="Terraform Cloud organization")
    workspace: str | None = Field(None, description="workspace name (or use workspace_tags)")
    workspace_tags: list[str] = Field(default_factory=list, description="select workspaces by tags")
    project: str | None = Field(None, description="Terraform Cloud project of the workspace")
    hostname: str = Field(DEFAULT_TFC_HOSTNAME, description="Terraform Enterprise hostname")

    @model_validator(mode="after")
    def _one_workspace_selector(self) -> TerraformCloud:
        if bool(self.workspace) == bool(self.workspace_tags):
            raise ValueError("set exactly one of 'workspace' (a name) or 'workspace_tags' (a list)")
        return self


class AlbHealthCheck(Strict):
    path: str = Field(DEFAULT_HEALTH_CHECK_PATH, pattern=r"^/", description="HTTP path the ALB probes")
    # ELB CreateTargetGroup: interval 5-300 s, timeout 2-120 s, timeout below the interval.
    interval: int = Field(DEFAULT_HEALTH_CHECK_INTERVAL, ge=ALB_HEALTH_INTERVAL_RANGE[0],
                          le=ALB_HEALTH_INTERVAL_RANGE[1], description="seconds between probes")
    timeout: int = Field(DEFAULT_ALB_HEALTH_CHECK_TIMEOUT, ge=ALB_HEALTH_TIMEOUT_RANGE[0],
                         le=ALB_HEALTH_TIMEOUT_RANGE[1], description="seconds before a probe fails; below interval")
    healthy_threshold: int = Field(3, ge=2, le=10, description="consecutive successes to mark healthy")
    unhealthy_threshold: int = Field(3, ge=2, le=10, description="consecutive failures to mark unhealthy")
    matcher: str = Field("200-399", description="HTTP codes counted healthy")

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> AlbHealthCheck:
        # ELB rejects a target group whose health check timeout is not smaller than its interval.
        if self.timeout >= self.interval:
            raise ValueError(f"timeout {self.timeout} s must be smaller than interval {self.interval} s "
                             f"(ELB); allowed: timeout {ALB_HEALTH_TIMEOUT_RANGE[0]}-{self.interval - 1}")
        return self


class AlbTarget(Strict):
    service: Name = Field(description="service behind the ALB")
    port: Port = Field(description="container port of that service")


class Oidc(Strict):
    issuer: str = Field(pattern=r"^https://", description="OIDC issuer URL (the ALB requires https)")
    authorization_endpoint: str = Field(pattern=r"^https://", description="OIDC authorization endpoint URL")
    token_endpoint: str = Field(pattern=r"^https://", description="OIDC token endpoint URL")
    user_info_endpoint: str = Field(pattern=r"^https://", description="OIDC user info endpoint URL")
    client_id: str = Field(description="OIDC client id (not secret)")
    client_secret: SecretName = Field(description="name of a secret in `secrets` holding the client secret")
    scopes: str = Field(DEFAULT_GRAFANA_OIDC_SCOPES, min_length=1,
                        description="scopes Grafana's own OIDC login asks for (space-separated)")
    role_attribute_path: str | None = Field(
        None, min_length=1, description="JMESPath over the IdP's claims giving the Grafana role, e.g. "
        "contains(groups[*], 'grafana-admins') && 'Admin' || 'Viewer'; default: every user is a Viewer")


class GrafanaExposure(Strict):
    """Seed §3.3: Grafana for the internal team only."""

    exposure: Literal["internal", "vpn", "sso"] = Field(
        "internal", description="internal: VPC only; vpn: ALB host rule limited to CIDRs; sso: vpn + OIDC"
    )
    host: str | None = Field(
        None, description="host name of the ALB listener rule (vpn/sso); with alb.domain optional (in its zone; "
        "default <domain.grafana_record>.<zone>), without it point its DNS record at the ALB yourself",
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="vpn/sso: VPN source CIDRs on the ALB rule; internal: private ranges routed into the VPC "
        "(VPN, peering) given direct access to the Grafana tasks",
    )
    service: Name = Field(DEFAULT_GRAFANA_SERVICE, description="the Grafana service in `services`")
    port: Port = Field(DEFAULT_GRAFANA_PORT, description="Grafana's container port")
    health_check_path: str = Field(DEFAULT_GRAFANA_HEALTH_CHECK_PATH, pattern=r"^/",
                                   description="ALB health check of the Grafana target group (vpn/sso)")
    oidc: Oidc | None = Field(None, description="OpenID Connect provider (exposure sso only)")

    @field_validator("host")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and (problem := host_name_problem(value)):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _exposure_fields(self) -> GrafanaExposure:
        # `host` is checked by Alb: with alb.domain it is derived from the zone instead
        if self.exposure in ("vpn", "sso"):
            if not self.allowed_cidrs:
                raise ValueError(f"exposure '{self.exposure}' needs 'allowed_cidrs' (the VPN ranges)")
            if len(self.allowed_cidrs) > MAX_GRAFANA_SOURCE_CIDRS:
                raise ValueError(f"exposure '{self.exposure}' allows at most {MAX_GRAFANA_SOURCE_CIDRS} "
                                 f"'allowed_cidrs' (one ALB rule); got {len(self.allowed_cidrs)}")
        for cidr in self.allowed_cidrs:
            network = ipaddress.ip_network(cidr)
            if network.prefixlen == 0:
                raise ValueError(f"allowed_cidrs: {cidr} opens Grafana to everyone; seed §3.3 keeps it for the "
                                 "internal team: list the VPN/office ranges")
            if self.exposure == "internal" and not is_non_internet(network):
                raise ValueError(f"allowed_cidrs: {cidr} is {address_space_kind(network)}; with exposure 'internal' "
                                 f"list {NON_INTERNET_TEXT} routed into the VPC, or use exposure 'vpn'/'sso' for "
                                 "public VPN egress ranges")
        if (self.exposure == "sso") != (self.oidc is not None):
            raise ValueError("'oidc' is required with exposure 'sso' and allowed only there")
        return self


class Waf(Strict):
    """AWS WAFv2 web ACL associated with the ALB: a per-IP rate limit, AWS managed rule groups, logs."""

    enabled: bool = Field(False, description="a WAF web ACL in front of the ALB (on in stage)")
    rate_limit: int = Field(DEFAULT_WAF_RATE_LIMIT, ge=WAF_RATE_LIMIT_RANGE[0], le=WAF_RATE_LIMIT_RANGE[1],
                            description="requests one IP may send per window; above it, blocked")
    rate_limit_window_seconds: int = Field(
        DEFAULT_WAF_RATE_WINDOW_SECONDS, description="the rate limit's evaluation window: 60, 120, 300 or 600")
    managed_rule_groups: dict[Annotated[str, Field(pattern=r"^AWSManagedRules[A-Za-z0-9]+$")], list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_WAF_MANAGED_RULE_GROUPS.items()},
        description="AWS managed rule groups -> rules of the group switched to count-only",
    )
    log_retention_days: RetentionDays = Field(DEFAULT_WAF_LOG_RETENTION_DAYS,
                                              description=f"days WAF logs are kept: {RETENTION_CHOICES}")
    redacted_headers: list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]] = Field(
        default_factory=lambda: list(DEFAULT_WAF_REDACTED_HEADERS),
        description="request headers (lower case) redacted from the WAF logs",
    )
    ip_reputation: bool = Field(DEFAULT_WAF_IP_REPUTATION,
                                description="block the AWS IP reputation list (AWSManagedRulesAmazonIpReputationList)")
    prompt_paths: list[PathPrefix] | None = Field(
        None, description="path prefixes whose request bodies are prompts: the common rule set's body rules "
        "(XSS, LFI, RFI, SSRF, size) only count there and block elsewhere; default: alb.public_paths")

    @field_validator("rate_limit_window_seconds")
    @classmethod
    def _window(cls, value: int) -> int:
        if value not in WAF_RATE_WINDOWS:
            raise ValueError(f"{value} is not a window AWS WAF offers; use one of {', '.join(map(str, WAF_RATE_WINDOWS))}")
        return value


class Domain(Strict):
    """The team's Route 53 public hosted zone: an ACM certificate validated by DNS records in it, and alias
    records pointing the api's (and an exposed Grafana's) host name at the ALB. docs/edge.md#domain-and-certificate"""

    zone: str = Field(
        description="name of a Route 53 public hosted zone in the deploying account, e.g. example.com; looked up "
        "at plan time (`python main.py preflight` checks it exists, is public and can validate the certificate)")
    api_record: str = Field(DEFAULT_API_RECORD, pattern=f"^{RELATIVE_NAME_PATTERN}$",
                            description="the api's host name relative to the zone: <api_record>.<zone>")
    grafana_record: str = Field(DEFAULT_GRAFANA_RECORD, pattern=f"^{RELATIVE_NAME_PATTERN}$",
                                description="Grafana's host name relative to the zone (exposure vpn/sso), "
                                "unless grafana.host names one")

    @field_validator("zone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        if problem := host_name_problem(value):
            raise ValueError(problem.replace("host name such as grafana.example.com", "zone name such as example.com"))
        return value

    @property
    def api_host(self) -> str:
        return f"{self.api_record}.{self.zone}"


class Alb(Strict):
    https: bool = Field(True, description="HTTPS listener (HTTP redirects to it)")
    # ACM certificate ARNs: arn:<partition>:acm:<region>:<account>:certificate/<uuid> (ACM API reference).
    certificate_arn: Arn("acm") | None = Field(
        None, description="an ISSUED ACM certificate managed elsewhere, instead of domain "
        "(arn:aws:acm:<the ALB's region>:<account>:certificate/<id>)",
    )
    domain: Domain | None = Field(
        None, description="Route 53 zone: DNS-validated ACM certificate and alias records (or certificate_arn)")
    ssl_policy: str = Field(DEFAULT_TLS_POLICY, description="TLS policy of the HTTPS listener")
    allowed_cidrs: list[Cidr] = Field(
        default_factory=lambda: ["0.0.0.0/0"], min_length=1, description="sources allowed to the public listeners"
    )
    target: AlbTarget = Field(description="the service and container port the listener forwards to")
    health_check: AlbHealthCheck = Field(default_factory=AlbHealthCheck, description="target group health check")
    deletion_protection: bool = Field(False, description="refuse to delete the ALB (turn on for production)")
    access_logs: bool = Field(False, description="access logs to an encrypted S3 bucket")
    access_logs_retention_days: int = Field(DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS, ge=1,
                                            description="days access log objects are kept")
    idle_timeout: int | None = Field(
        None, ge=ALB_IDLE_TIMEOUT_RANGE[0], le=ALB_IDLE_TIMEOUT_RANGE[1],
        description="seconds a connection may carry no data before the ALB closes it (a 504 for a request "
        "still waiting); default: the per-request timeout of the target port (e.g. an api waiting on an LLM: "
        f"modules/config/timeouts.py), at least AWS's {DEFAULT_ALB_IDLE_TIMEOUT} s",
    )
    grafana: GrafanaExposure = Field(default_factory=GrafanaExposure)
    waf: Waf = Field(default_factory=Waf, description="WAF in front of the ALB")
    public_paths: list[PathPrefix] | None = Field(
        None, min_length=1,
        description="path prefixes of the api the public listener forwards (each with everything below it); "
        f"any other path gets a fixed 404. Default: {', '.join(DEFAULT_PUBLIC_API_PATHS)} and "
        f"health_check.path. Never {', '.join(API_PRIVATE_PATHS)} (the stack's own)")

    @model_validator(mode="after")
    def _certificate(self) -> Alb:
        if self.domain and self.certificate_arn:
            raise ValueError("set one of 'domain' (this stack requests and validates the certificate) or "
                             "'certificate_arn' (a certificate managed elsewhere), not both")
        if self.https and not (self.domain or self.certificate_arn):
            raise ValueError("'https: true' needs a certificate: 'domain' (a Route 53 hosted zone you own; the "
                             "certificate is requested and DNS-validated here) or 'certificate_arn' (an ISSUED ACM "
                             "certificate in this region)")
        if self.grafana.exposure in ("vpn", "sso") and not self.domain and not self.grafana.host:
            raise ValueError(f"grafana exposure '{self.grafana.exposure}' needs 'grafana.host' (or 'domain')")
        if self.domain and (problem := self.host_outside_zone(self.domain.zone)):
            raise ValueError(problem)
        if self.grafana.exposure == "sso" and not self.https:
            raise ValueError("grafana exposure 'sso' needs 'https: true' (the ALB authenticates only on HTTPS)")
        self._public_paths_fit()
        return self

    def public_path_prefixes(self) -> list[str]:
        """`public_paths`, or the default: DEFAULT_PUBLIC_API_PATHS plus the health check path; sorted, unique."""
        chosen = self.public_paths if self.public_paths is not None else [*DEFAULT_PUBLIC_API_PATHS,
                                                                           self.health_check.path]
        return sorted(set(chosen))

    def prompt_path_prefixes(self) -> list[str]:
        """waf.prompt_paths, or every public prefix (on an LLM api whatever the public may post is a prompt)."""
        return sorted(set(self.waf.prompt_paths if self.waf.prompt_paths is not None else self.public_path_prefixes()))

    def waf_rule_groups(self) -> dict[str, list[str]]:
        """The web ACL's managed rule groups in evaluation order -> their count-only rules: the IP reputation
        list first (with waf.ip_reputation), then waf.managed_rule_groups; the common rule set's body rules
        always count (a rule after it blocks their labels outside the prompt paths: modules/waf.py)."""
        groups = dict(self.waf.managed_rule_groups)
        if self.waf.ip_reputation:
            groups = {WAF_IP_REPUTATION_GROUP: groups.pop(WAF_IP_REPUTATION_GROUP, []), **groups}
        derived = {WAF_COMMON_RULE_SET: list(WAF_COMMON_BODY_RULES)}
        return {g: list(dict.fromkeys([*rules, *derived.get(g, [])])) for g, rules in groups.items()}

    def waf_rule_count(self) -> int:
        """Rules of the web ACL: the rate rule, one per managed group, the body-label rule with the common set."""
        groups = self.waf_rule_groups()
        return 1 + len(groups) + int(WAF_COMMON_RULE_SET in groups)

    def public_path_rule_count(self) -> int:
        """Listener rules the public prefixes take (ALB_RULE_CONDITION_VALUES_MAX path-pattern values each)."""
        values = 2 * len(self.public_path_prefixes())
        return -(-values // ALB_RULE_CONDITION_VALUES_MAX)

    def _public_paths_fit(self) -> None:
        prefixes = self.public_path_prefixes()
        if problem := private_path_problem(prefixes, "public_paths"):
            raise ValueError(problem)
        if self.waf.prompt_paths is not None:
            outside = [p for p in self.waf.prompt_paths if not any(under(p, q) for q in prefixes)]
            if outside:
                raise ValueError(f"waf.prompt_paths: {', '.join(outside)} is not under a public path "
                                 f"({', '.join(prefixes)}); the listener answers 404 there anyway")
        room = ALB_RULES_MAX - 1  # Grafana's host rule
        if self.public_path_rule_count() > room:
            raise ValueError(f"public_paths: {len(prefixes)} prefixes need {self.public_path_rule_count()} listener "
                             f"rules; an ALB takes {ALB_RULES_MAX} (ELB quota) with one kept for Grafana: "
                             f"allowed: at most {room * ALB_RULE_CONDITION_VALUES_MAX // 2} prefixes (use shorter, "
                             "common prefixes)")

    def grafana_host(self) -> str | None:
        """Grafana's host name: `grafana.host`, else (with a domain) `<domain.grafana_record>.<zone>`."""
        if self.grafana.host or not self.domain:
            return self.grafana.host
        return f"{self.domain.grafana_record}.{self.domain.zone}"

    def host_outside_zone(self, zone: str) -> str | None:
        """Why grafana.host cannot get a certificate and a record in `zone` (with a domain), or None."""
        host = self.grafana.host
        if self.domain and host and not host.endswith(f".{zone}"):
            return (f"grafana.host '{host}' is not in the zone '{zone}' of alb.domain: the certificate is validated "
                    f"and the record created there; use a name ending in .{zone}, or omit grafana.host for "
                    f"{self.domain.grafana_record}.{zone}")
        return None
