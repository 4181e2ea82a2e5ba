"""Preflight checks of capacity: the chosen zones, each capacity provider's instance type offered in them,
and the On-Demand vCPU quotas the providers need at max_size."""

from __future__ import annotations

import re

from modules.commands.preflight.findings import (
    CREDENTIAL_ERROR_CODES,
    FAIL,
    OK,
    WARN,
    Aws,
    Finding,
    error_code,
    per_item,
)
from modules.config import EnvConfig
from modules.config.compute import CapacityProvider

# EC2 On-Demand vCPU quotas by instance family (Service Quotas, service code ec2; AWS docs "Amazon EC2
# service quotas" / "On-Demand Instance quotas"). A family not listed is reported as not checked.
STANDARD_VCPU_QUOTA = "L-1216C47A"  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
GPU_VCPU_QUOTA = "L-DB2E81BA"       # Running On-Demand G and VT instances (0 on new accounts)
VCPU_QUOTAS: dict[str, tuple[str, str]] = {  # leading letters of the family -> (quota code, quota name)
    **{letter: (STANDARD_VCPU_QUOTA, "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")
       for letter in "acdhimrtz"},
    "g": (GPU_VCPU_QUOTA, "Running On-Demand G and VT instances"),
    "vt": (GPU_VCPU_QUOTA, "Running On-Demand G and VT instances"),
    "p": ("L-417A185B", "Running On-Demand P instances"),
    "f": ("L-74FC7D96", "Running On-Demand F instances"),
    "x": ("L-7295265B", "Running On-Demand X instances"),
    "inf": ("L-1945791B", "Running On-Demand Inf instances"),
    "trn": ("L-2C3B7624", "Running On-Demand Trn instances"),
    "dl": ("L-6E869C2A", "Running On-Demand DL instances"),
}


# ------------------------------------------------------------------ instances: offering and quotas
def chosen_zones(cfg: EnvConfig, aws: Aws) -> tuple[list[str], list[str]]:
    """(names of the env file's zones that are available, those that are not): network.availability_zones as
    modules/network.py writes them into the subnets (zone names, or zone ids mapped to this account's names)."""
    zones = aws.client("ec2").describe_availability_zones(Filters=[
        {"Name": "state", "Values": ["available"]},
    ])["AvailabilityZones"]
    key = "ZoneId" if cfg.network.zones_by_id else "ZoneName"
    names = {z[key]: z["ZoneName"] for z in zones}
    wanted = cfg.network.availability_zones
    return [names[z] for z in wanted if z in names], [z for z in wanted if z not in names]


def check_instance_offerings(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    zones, unavailable = chosen_zones(cfg, aws)
    if unavailable:
        return [Finding(FAIL, "zones", f"network.availability_zones {', '.join(unavailable)} not available in "
                                       f"{cfg.region} for this account (aws ec2 describe-availability-zones): "
                                       "choose zones it lists")]

    def offering(item: tuple[str, CapacityProvider]) -> Finding:
        name, provider = item
        offered = {o["Location"] for o in aws.client("ec2").describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [provider.instance_type]},
                     {"Name": "location", "Values": zones}])["InstanceTypeOfferings"]}
        if missing := [z for z in zones if z not in offered]:
            return Finding(FAIL, f"capacity provider {name}", f"{provider.instance_type} is not offered in "
                           f"{', '.join(missing)} (of the chosen {', '.join(zones)}): the Auto Scaling group cannot "
                           f"launch there; choose a type offered in every zone (aws ec2 describe-instance-type-"
                           f"offerings --location-type availability-zone --region {cfg.region})")
        return Finding(OK, f"capacity provider {name}", f"{provider.instance_type} offered in {', '.join(zones)}")

    return per_item(sorted(cfg.cluster.capacity_providers.items()), lambda item: f"capacity provider {item[0]}",
                    "ec2:DescribeInstanceTypeOfferings", offering)


def vcpu_quota_of(instance_type: str) -> tuple[str, str] | None:
    """The On-Demand vCPU quota governing `instance_type`, by the letters its family starts with
    (g4dn -> g, inf2 -> inf, im4gn -> im: an I family), or None when not known here."""
    letters = re.match(r"[a-z]+", instance_type)
    family = letters.group(0) if letters else ""
    if family in ("im", "is"):  # im4gn, is4gen: storage-optimized I families, in the Standard quota
        family = "i"
    return VCPU_QUOTAS.get(family)


def _quota_value(aws: Aws, code: str) -> float | str:
    """The quota's applied value, else AWS's default; or why it could not be read (the error code)."""
    sq = aws.client("service-quotas")
    try:
        try:
            return sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except sq.exceptions.NoSuchResourceException:  # no applied value recorded: AWS's default applies
            return sq.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except sq.exceptions.ClientError as exc:
        if error_code(exc) in CREDENTIAL_ERROR_CODES:
            raise
        return error_code(exc) or "error"


def check_vcpu_quotas(cfg: EnvConfig, aws: Aws) -> list[Finding]:
    """Each quota >= the sum over the capacity providers it governs of max_size x the type's vCPUs.
    Instances already running in the account count against the same quota; they are not subtracted."""
    providers = cfg.cluster.capacity_providers
    types = sorted({p.instance_type for p in providers.values()})
    vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"]
             for t in aws.client("ec2").describe_instance_types(InstanceTypes=types)["InstanceTypes"]}
    needed: dict[tuple[str, str], list[tuple[str, int]]] = {}
    findings = []
    for name, provider in sorted(providers.items()):
        quota = vcpu_quota_of(provider.instance_type)
        if quota is None:
            findings.append(Finding(WARN, f"capacity provider {name}", f"no known On-Demand vCPU quota for "
                                                                       f"{provider.instance_type}: not checked"))
            continue
        needed.setdefault(quota, []).append((name, provider.max_size * vcpus[provider.instance_type]))
    for (code, quota_name), parts in sorted(needed.items()):
        check = f"quota {code}"
        total = sum(v for _, v in parts)
        value = _quota_value(aws, code)
        detail = " + ".join(f"{n} {v}" for n, v in parts)
        if isinstance(value, str):
            findings.append(Finding(FAIL, check, f"cannot read '{quota_name}' ({value} on servicequotas:GetServiceQuota);"
                                                 f" the capacity providers need {total} vCPUs ({detail}): check it in "
                                                 f"the Service Quotas console ({cfg.region})"))
        elif value < total:
            findings.append(Finding(FAIL, check, f"'{quota_name}' is {value:g} vCPUs, the capacity providers need "
                                                 f"{total} at max_size ({detail}): request an increase (Service Quotas "
                                                 f"console, or aws service-quotas request-service-quota-increase "
                                                 f"--service-code ec2 --quota-code {code} --desired-value {total} "
                                                 f"--region {cfg.region}); new accounts start at 0 for G and VT"))
        else:
            findings.append(Finding(OK, check, f"'{quota_name}' {value:g} vCPUs >= {total} at max_size ({detail})"))
    return findings


