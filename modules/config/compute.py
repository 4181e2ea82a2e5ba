"""The `cluster` section: the ECS cluster and its EC2 capacity providers."""

from __future__ import annotations

from pydantic import Field, model_validator

from modules.config.base import Name, Strict
from modules.config.defaults import DEFAULT_GENERAL_INSTANCE_TYPE, DEFAULT_ROOT_VOLUME_GB, DEFAULT_TARGET_CAPACITY


class CapacityProvider(Strict):
    instance_type: str = Field(DEFAULT_GENERAL_INSTANCE_TYPE, description="EC2 instance type")
    gpu: bool = Field(False, description="GPU-optimized ECS AMI and GPU support in the agent")
    min_size: int = Field(0, ge=0, description="ASG minimum instances (0 lets managed scaling remove all)")
    max_size: int = Field(2, ge=1, description="ASG maximum instances; bounds the capacity for tasks")
    desired_capacity: int | None = Field(None, ge=0, description="initial ASG size; managed scaling owns it after")
    target_capacity: int = Field(DEFAULT_TARGET_CAPACITY, ge=1, le=100, description="managed scaling target %")
    root_volume_gb: int = Field(DEFAULT_ROOT_VOLUME_GB, ge=30, le=16384, description="encrypted gp3 root volume, GiB")

    @model_validator(mode="after")
    def _sizes(self) -> CapacityProvider:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is above max_size {self.max_size}")
        if self.desired_capacity is not None and not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"desired_capacity {self.desired_capacity} must lie between min_size {self.min_size} "
                f"and max_size {self.max_size}"
            )
        return self


class Cluster(Strict):
    container_insights: bool = Field(True, description="CloudWatch Container Insights on the cluster")
    default_capacity_provider: Name = Field("general", description="capacity provider of services that name none")
    capacity_providers: dict[Name, CapacityProvider] = Field(
        min_length=1, description="one launch template + ASG + ECS capacity provider per entry"
    )

    @model_validator(mode="after")
    def _default_exists(self) -> Cluster:
        if self.default_capacity_provider not in self.capacity_providers:
            raise ValueError(
                f"default_capacity_provider '{self.default_capacity_provider}' is not one of "
                f"{sorted(self.capacity_providers)}"
            )
        return self
