"""The `network` section: VPC, subnets, NAT, flow logs, VPC endpoints."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from modules.config.base import NON_INTERNET_TEXT, RETENTION_CHOICES, Cidr, RetentionDays, Strict, address_space_kind, is_non_internet
from modules.config.defaults import (
    ALB_MIN_SUBNET_PREFIX,
    AZ_ID_PATTERN,
    AZ_NAME_PATTERN,
    DEFAULT_AZ_COUNT,
    DEFAULT_FLOW_LOG_RETENTION_DAYS,
    DEFAULT_SUBNET_PREFIX,
    MIN_AZ_COUNT,
    VPC_PREFIX_RANGE,
)


class Endpoints(Strict):
    """VPC endpoints; they keep image pulls and secret reads off the NAT gateway."""

    s3: bool = Field(False, description="S3 gateway endpoint (free; ECR layers come from S3)")
    ecr: bool = Field(False, description="ECR api + dkr interface endpoints")
    logs: bool = Field(False, description="CloudWatch Logs interface endpoint")
    secretsmanager: bool = Field(False, description="Secrets Manager interface endpoint")
    ssm: bool = Field(False, description="SSM interface endpoint")
    ecs: bool = Field(False, description="ECS agent interface endpoints (ecs, ecs-agent, ecs-telemetry): the "
                      "container instances reach the control plane without the NAT")
    session_manager: bool = Field(False, description="Session Manager interface endpoints (ssmmessages, "
                                  "ec2messages): sessions and port forwarding to the instances without the NAT")
    s3_buckets: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]] = Field(
        default_factory=list, description="S3 buckets the tasks use, allowed through the S3 gateway endpoint "
        "(its policy allows only ECR's image layers and the Amazon Linux repositories besides these: S3 traffic "
        "from the private subnets always takes the endpoint's route)")


class FlowLogs(Strict):
    enabled: bool = Field(True, description="VPC flow logs to CloudWatch Logs")
    retention_days: RetentionDays = Field(DEFAULT_FLOW_LOG_RETENTION_DAYS,
                                          description=f"days flow logs are kept: {RETENTION_CHOICES}")
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = Field("ALL", description="which traffic is logged")


class Network(Strict):
    vpc_cidr: Cidr = Field(description="VPC CIDR, e.g. 10.40.0.0/16")
    az_count: int = Field(DEFAULT_AZ_COUNT, ge=MIN_AZ_COUNT, le=6, description="availability zones used")
    availability_zones: list[Annotated[str, Field(pattern=f"{AZ_NAME_PATTERN}|{AZ_ID_PATTERN}")]] = Field(
        default_factory=list, description="the zones, by name (us-east-1a) or zone id (use1-az1), one public + "
        "one private subnet each; default: the region's first az_count zone letters (<region>a, <region>b, ...)")
    subnet_prefix: int = Field(
        DEFAULT_SUBNET_PREFIX, ge=16, le=28, description="prefix length of every public/private subnet"
    )
    nat: Literal["single", "per_az"] = Field("single", description="one NAT gateway, or one per AZ")
    flow_logs: FlowLogs = Field(default_factory=FlowLogs, description="VPC flow logs (on by default)")
    endpoints: Endpoints = Field(default_factory=Endpoints)

    @model_validator(mode="before")
    @classmethod
    def _count_from_zones(cls, value: Any) -> Any:
        """Named zones set az_count when it is not given."""
        if isinstance(value, dict) and isinstance(value.get("availability_zones"), list) \
                and value["availability_zones"] and "az_count" not in value:
            return {**value, "az_count": len(value["availability_zones"])}
        return value

    @model_validator(mode="after")
    def _zones_consistent(self) -> Network:
        zones = self.availability_zones
        if not zones:
            return self
        if len(zones) != self.az_count:
            raise ValueError(f"availability_zones names {len(zones)} zones but az_count is {self.az_count}; "
                             "drop az_count (it follows the list) or make them agree")
        if len(set(zones)) != len(zones):
            raise ValueError(f"availability_zones lists a zone twice: {zones}")
        if len({bool(re.match(AZ_ID_PATTERN, z)) for z in zones}) > 1:
            raise ValueError("availability_zones mixes zone names and zone ids; use one kind")
        return self

    @property
    def zones_by_id(self) -> bool:
        return bool(self.availability_zones) and bool(re.match(AZ_ID_PATTERN, self.availability_zones[0]))

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        vpc = ipaddress.ip_network(value)
        if vpc.version != 4 or not VPC_PREFIX_RANGE[0] <= vpc.prefixlen <= VPC_PREFIX_RANGE[1]:
            raise ValueError(f"{value}: a VPC is an IPv4 block from /{VPC_PREFIX_RANGE[0]} to /{VPC_PREFIX_RANGE[1]}"
                             " (AWS limit), e.g. 10.40.0.0/16")
        if not is_non_internet(vpc):
            raise ValueError(f"{value} is {address_space_kind(vpc)} address space; use {NON_INTERNET_TEXT}, so the "
                             "VPC cannot shadow other addresses (AWS accepts public ranges, this program does not)")
        return value

    @model_validator(mode="after")
    def _subnets_fit(self) -> Network:
        """One public + one private subnet per AZ, carved as equal blocks from the VPC. AWS subnets, like
        VPCs, are /16 to /28 (VPC User Guide, "Subnet sizing"), and the ALB's at least /27, so a small VPC may
        hold too few."""
        vpc = ipaddress.ip_network(self.vpc_cidr)
        needed = 2 * self.az_count
        split_bits = (needed - 1).bit_length()  # equal blocks come in powers of two
        # the ALB's subnets must be at least /27 (ELB user guide, "Subnets for your load balancer"); the
        # private ones share the prefix, so /27 is the smallest subnet this stack can use
        smallest_subnet = ALB_MIN_SUBNET_PREFIX
        if vpc.prefixlen + split_bits > smallest_subnet:
            raise ValueError(
                f"the VPC {self.vpc_cidr} is too small for {needed} subnets ({self.az_count} AZs x public+private): "
                f"the smallest subnet an ALB accepts is /{smallest_subnet} (32 addresses), so the VPC needs a prefix "
                f"of /{smallest_subnet - split_bits} or shorter; use a larger vpc_cidr (e.g. 10.40.0.0/16) or fewer AZs"
            )
        longest_fitting = vpc.prefixlen + split_bits
        if self.subnet_prefix < vpc.prefixlen:
            raise ValueError(
                f"subnet_prefix /{self.subnet_prefix} is larger than the VPC {self.vpc_cidr}; "
                f"use a prefix between /{longest_fitting} and /{smallest_subnet}"
            )
        if self.subnet_prefix < longest_fitting:
            raise ValueError(
                f"{needed} subnets of /{self.subnet_prefix} ({self.az_count} AZs x public+private) "
                f"do not fit in {self.vpc_cidr} (room for {2 ** (self.subnet_prefix - vpc.prefixlen)}); use a "
                f"subnet_prefix between /{longest_fitting} and /{smallest_subnet}, or a larger vpc_cidr"
            )
        return self

    def subnet_cidrs(self) -> dict[str, list[str]]:
        """Public subnets first, then private, carved in order from the VPC CIDR."""
        subnets = ipaddress.ip_network(self.vpc_cidr).subnets(new_prefix=self.subnet_prefix)
        carved = [str(next(subnets)) for _ in range(2 * self.az_count)]
        return {"public": carved[: self.az_count], "private": carved[self.az_count :]}
