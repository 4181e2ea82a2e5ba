"""What every section of the schema shares: the strict base model, name/port/CIDR types, error locations."""

from __future__ import annotations

import functools
import ipaddress
import re
import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from modules.config.defaults import LOG_RETENTION_DAYS_ALLOWED

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PORT_RANGE = (1, 65535)
KIND_KEY = "x-value-kind"  # JSON Schema keyword naming a field's value kind (modules/config/kinds.py)
# A problem found by a cross-field rule: (field path as a tuple of keys and list indexes, message).
Problem = tuple[tuple, str]

class Strict(BaseModel):
    """Base of every section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def or_short_form(short: dict[str, Any]):
    """json_schema_extra of a model (or field) that also accepts a short form: its JSON Schema becomes
    `anyOf: [short form, full form]`, so editors accept what the before-validator accepts."""

    def extra(schema: dict[str, Any], *_: Any) -> None:
        full = dict(schema)
        schema.clear()
        schema.update({"anyOf": [short, full]})
        for key in ("title", "description", "default"):
            if key in full:
                schema[key] = full.pop(key)

    return extra


Name = Annotated[str, Field(pattern=NAME_PATTERN)]
EnvVarName = Annotated[str, Field(pattern=ENV_VAR_PATTERN)]
Port = Annotated[int, Field(ge=PORT_RANGE[0], le=PORT_RANGE[1])]


def _cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a CIDR string such as 10.0.0.0/16")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid network CIDR ({exc})") from None


Cidr = Annotated[str, BeforeValidator(_cidr)]


PLAIN_KEY = re.compile(r"[A-Za-z0-9_:-]+")


def _retention(value: int) -> int:
    # CloudWatch Logs PutRetentionPolicy accepts only these retentionInDays values (API reference).
    if value not in LOG_RETENTION_DAYS_ALLOWED:
        raise ValueError(f"{value} days is not a CloudWatch Logs retention; allowed: "
                         f"{', '.join(map(str, LOG_RETENTION_DAYS_ALLOWED))}")
    return value


RETENTION_CHOICES = f"one of {', '.join(map(str, LOG_RETENTION_DAYS_ALLOWED))} (CloudWatch Logs)"
RetentionDays = Annotated[int, AfterValidator(_retention),
                          Field(json_schema_extra={"enum": list(LOG_RETENTION_DAYS_ALLOWED),
                                                           KIND_KEY: "retention-days"})]


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names of this machine's tz database (empty without one), read once per process:
    zoneinfo.available_timezones() walks and opens every file of the database on each call (~30 ms)."""
    return frozenset(zoneinfo.available_timezones())


def dotted(loc: tuple) -> str:
    """('services', 'api', 'ports', 0) -> 'services.api.ports[0]'; a key with a space or a dot is quoted:
    ('secrets', 'api env') -> "secrets.'api env'"."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            text = str(part)
            out += ("." if out else "") + (text if PLAIN_KEY.fullmatch(text) else repr(text))
    return out


class CrossFieldErrors(ValueError):
    """Several reference errors at once, each with its own field path."""

    def __init__(self, errors: list[Problem]):
        self.errors = errors
        super().__init__("; ".join(f"{dotted(loc)}: {msg}" for loc, msg in errors))


# Address space that is nobody's on the internet: RFC 1918 private space and RFC 6598 shared space
# (100.64.0.0/10, CGNAT and VPN overlays such as Tailscale; AWS accepts it for VPCs:
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html). One verdict for every field that asks.
NON_INTERNET_BLOCKS = tuple(ipaddress.ip_network(block) for block in
                            ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
NON_INTERNET_TEXT = ("a private range (RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) or the RFC 6598 shared "
                     "space (100.64.0.0/10)")


def is_non_internet(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return network.version == 4 and any(network.subnet_of(block) for block in NON_INTERNET_BLOCKS)


def address_space_kind(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """What a block that is_non_internet refuses is, in words a user recognises."""
    return ("loopback" if network.is_loopback else "link-local" if network.is_link_local
            else "multicast" if network.is_multicast else "public, internet-routable" if network.is_global
            else "special-purpose (IANA reserved)")
