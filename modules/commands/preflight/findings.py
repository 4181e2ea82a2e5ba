"""What every preflight check shares: the finding it reports, the AWS clients it asks, how an AWS error
becomes a finding, and the per-item loop most checks are."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

OK, WARN, FAIL = "ok", "warn", "FAIL"

# Errors that mean "who you are" is the problem, not the account: one line, exit 2.
CREDENTIAL_ERROR_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                          "SignatureDoesNotMatch", "AuthFailure", "RequestExpired", "InvalidAccessKeyId"}
ACCESS_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


@dataclass(frozen=True)
class Finding:
    level: str  # OK | WARN | FAIL
    check: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.check}: {self.text}"


class CredentialsError(Exception):
    """No usable AWS credentials (missing, expired, invalid) or no reachable endpoint."""


class Aws:
    """boto3 clients for the env file's region (and an emulator endpoint), created once each.
    Tests put a Stubber-wrapped client into `clients` for an API the emulator lacks."""

    def __init__(self, region: str, endpoint_url: str | None = None):
        import boto3  # noqa: PLC0415  (only this command needs it)
        import botocore.session  # noqa: PLC0415

        self.region, self.endpoint_url = region, endpoint_url
        core = botocore.session.Session()
        core.register_component("data_loader", _service_model_loader())
        self._session = boto3.session.Session(botocore_session=core, region_name=region)
        self.clients: dict[str, object] = {}
        self._account: str | None = None

    def account(self) -> str:
        """The caller's account (sts:GetCallerIdentity, which needs no permission), asked once."""
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = self._session.client(service, region_name=self.region,
                                                         endpoint_url=self.endpoint_url)
        return self.clients[service]


@functools.cache
def _service_model_loader():
    """botocore's loader, one per process: it keeps the service models it parsed, and a session of its own
    would parse each JSON model again (~0.3 s for EC2's; the tests make an Aws per case)."""
    import botocore.loaders  # noqa: PLC0415

    return botocore.loaders.create_loader()


def error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def denied(check: str, action: str, exc: Exception) -> Finding:
    return Finding(FAIL, check, f"cannot check: {error_code(exc)} on {action}; run preflight with a role that may "
                                f"call it (read-only), or check by hand")



Item = TypeVar("Item")


def per_item(items: Iterable[Item], check_of: Callable[[Item], str], action: str,
             probe: Callable[[Item], Finding | list[Finding]]) -> list[Finding]:
    """The findings of `probe` on each item, in order; when the caller may not call `action` (the API the probe
    asks first), that item's finding says so and the others are still checked."""
    findings: list[Finding] = []
    for item in items:
        try:
            found = probe(item)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) not in ACCESS_DENIED_CODES:
                raise
            found = denied(check_of(item), action, exc)
        findings += found if isinstance(found, list) else [found]
    return findings
