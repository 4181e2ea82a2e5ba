"""Compute: the ECS cluster and, per capacity provider of the env file, a launch template + ASG.

Design choices (docs/compute.md explains them to users):
- Destroy never hangs: managed termination protection is DISABLED and the ASG does not protect
  instances from scale-in, so deleting the ASG terminates its instances; managed draining moves
  tasks off an instance before it goes. The ASG depends on the cluster, so on destroy the
  instances are gone before the cluster is deleted (ECS refuses while instances are registered).
- A provider can be removed from the env file: each capacity provider is create_before_destroy,
  which makes Terraform update its dependents (the cluster association, the services) BEFORE
  deleting it. Without it Terraform deletes first and ECS answers "capacity provider in use".
- `cluster_name` resolves through the cluster/capacity-provider association, so everything placed
  on the cluster is created after the providers are attached to it.
"""

from __future__ import annotations

import base64

from cdktf import Fn, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.autoscaling_group import AutoscalingGroup, AutoscalingGroupLaunchTemplate, AutoscalingGroupTag
from cdktf_cdktf_provider_aws.autoscaling_schedule import AutoscalingSchedule
from cdktf_cdktf_provider_aws.data_aws_ami import DataAwsAmi, DataAwsAmiFilter
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_ssm_parameter import DataAwsSsmParameter
from cdktf_cdktf_provider_aws.ecs_capacity_provider import (
    EcsCapacityProvider,
    EcsCapacityProviderAutoScalingGroupProvider,
    EcsCapacityProviderAutoScalingGroupProviderManagedScaling,
)
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_cluster_capacity_providers import (
    EcsClusterCapacityProviders,
    EcsClusterCapacityProvidersDefaultCapacityProviderStrategy,
)
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateTagSpecifications,
)
from constructs import Construct

from modules.config.capacity import ECS_RESERVED_MEMORY_MIB
from modules.config.defaults import ASG_GROUP_METRICS
from modules.config import EnvConfig
from modules.config.compute import CapacityProvider
from modules.network import flat_output

# AWS's public SSM parameters holding the current ECS-optimized Amazon Linux 2023 AMIs (x86_64).
AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id"
# IMDSv2 only, one hop: the agent (host network) reaches the metadata service; containers cannot
# (bridge tasks are one hop further; awsvpc tasks are also cut off by ECS_AWSVPC_BLOCK_IMDS), so no
# task can borrow the instance role.
IMDS_HOP_LIMIT = 1
# Instance policies (AWS managed): the ECS agent's own permissions, and Session Manager instead of SSH.
ECS_INSTANCE_POLICY = "service-role/AmazonEC2ContainerServiceforEC2Role"
SSM_CORE_POLICY = "AmazonSSMManagedInstanceCore"
# ASGs used by a managed-scaling capacity provider carry this tag; ECS adds it otherwise and the
# next plan would remove it.
ECS_MANAGED_TAG = "AmazonECSManaged"
# aws_autoscaling_schedule: min_size/max_size/desired_capacity default to 0 when omitted; -1 leaves a value as it is.
UNCHANGED = -1


def ecs_config(cluster_name: str, cp: CapacityProvider) -> str:
    """The agent settings in /etc/ecs/ecs.config (sorted: identical user data on every synth)."""
    settings = {
        "ECS_CLUSTER": cluster_name,
        "ECS_AWSVPC_BLOCK_IMDS": "true",  # awsvpc tasks cannot reach instance credentials
        "ECS_ENABLE_TASK_IAM_ROLE": "true",
        "ECS_ENABLE_CONTAINER_METADATA": "true",
        "ECS_RESERVED_MEMORY": str(ECS_RESERVED_MEMORY_MIB),  # what modules/config/capacity.py subtracts
    }
    if cp.gpu:
        settings["ECS_ENABLE_GPU_SUPPORT"] = "true"  # the agent registers the GPUs for resourceRequirements
    return "".join(f"{k}={v}\n" for k, v in sorted(settings.items()))


def user_data(cluster_name: str, cp: CapacityProvider) -> str:
    script = f"#!/bin/bash\nset -euo pipefail\ncat >> /etc/ecs/ecs.config <<'EOF'\n{ecs_config(cluster_name, cp)}EOF\n"
    return base64.b64encode(script.encode()).decode()


class Cluster(Construct):
    """ECS cluster + one launch template, ASG and capacity provider per `cluster.capacity_providers` entry."""

    def __init__(self, scope: Construct, id: str, cfg: EnvConfig, network, security):
        super().__init__(scope, id)
        self._cfg = cfg
        self.cluster = EcsCluster(
            self, "cluster", name=cfg.name,
            setting=[EcsClusterSetting(name="containerInsights",
                                       value="enabled" if cfg.cluster.container_insights else "disabled")],
        )
        profile = self._instance_profile(cfg)

        self.providers: dict[str, EcsCapacityProvider] = {}
        self.asgs: dict[str, AutoscalingGroup] = {}
        for key, cp in cfg.cluster.capacity_providers.items():
            self.asgs[key] = self._auto_scaling_group(key, cp, network, self._launch_template(
                cfg, key, cp, profile, security.instances_id))
            if cp.off_hours:
                self._off_hours_schedule(key, cp, self.asgs[key])
            self.providers[key] = self._capacity_provider(key, cp, self.asgs[key])

        association = EcsClusterCapacityProviders(
            self, "capacity-providers",
            cluster_name=self.cluster.name,
            capacity_providers=[self.providers[k].name for k in sorted(self.providers)],
            default_capacity_provider_strategy=[EcsClusterCapacityProvidersDefaultCapacityProviderStrategy(
                capacity_provider=self.providers[cfg.cluster.default_capacity_provider].name, weight=1, base=0,
            )],
        )
        # Both read through the association: a service (or anything else) placed on the cluster is then
        # created after the capacity providers are attached, which ECS requires of a provider strategy.
        self.cluster_name: str = association.cluster_name
        self.cluster_arn: str = Fn.coalesce([self.cluster.arn, association.id])  # = the ARN, which is never empty

        flat_output(self, "cluster_name", self.cluster_name, "ECS cluster name")
        flat_output(self, "cluster_arn", self.cluster_arn, "ECS cluster ARN")
        flat_output(self, "capacity_provider_names", {k: self.providers[k].name for k in sorted(self.providers)},
                    "ECS capacity provider name per cluster.capacity_providers key")
        flat_output(self, "autoscaling_group_names", {k: self.asgs[k].name for k in sorted(self.asgs)},
                    "Auto Scaling group name per cluster.capacity_providers key")

    def _auto_scaling_group(self, key: str, cp: CapacityProvider, network, template: LaunchTemplate
                            ) -> AutoscalingGroup:
        return AutoscalingGroup(
            self, f"{key}-asg",
            name=f"{self._cfg.name}-{key}",
            vpc_zone_identifier=network.private_subnet_ids,
            min_size=cp.min_size,
            max_size=cp.max_size,
            desired_capacity=cp.desired_capacity,
            launch_template=AutoscalingGroupLaunchTemplate(id=template.id, version=Token.as_string(template.latest_version)),
            protect_from_scale_in=False,  # with managed termination protection off: destroy can terminate
            # GPU groups publish their sizes: the alarm on a GPU instance not in service reads them (free)
            enabled_metrics=list(ASG_GROUP_METRICS) if cp.gpu else None,
            metrics_granularity="1Minute" if cp.gpu else None,
            tag=[AutoscalingGroupTag(key=ECS_MANAGED_TAG, value="true", propagate_at_launch=True)],
            depends_on=[self.cluster],  # destroy: instances terminate before the cluster is deleted
            # managed scaling owns desired_capacity; with off_hours the scheduled actions own the sizes
            # (a plan outside the window must not undo the stop action)
            lifecycle=TerraformResourceLifecycle(ignore_changes=(
                ["desired_capacity", "max_size", "min_size"] if cp.off_hours else ["desired_capacity"])),
        )

    def _capacity_provider(self, key: str, cp: CapacityProvider, asg: AutoscalingGroup) -> EcsCapacityProvider:
        return EcsCapacityProvider(
            self, f"{key}-capacity-provider",
            name=f"{self._cfg.name}-{key}",
            auto_scaling_group_provider=EcsCapacityProviderAutoScalingGroupProvider(
                auto_scaling_group_arn=asg.arn,
                managed_termination_protection="DISABLED",
                managed_draining="ENABLED",
                managed_scaling=EcsCapacityProviderAutoScalingGroupProviderManagedScaling(
                    status="ENABLED", target_capacity=cp.target_capacity,
                ),
            ),
            # Removing a provider: update the association and services first, then delete it.
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )

    def _off_hours_schedule(self, key: str, cp: CapacityProvider, asg: AutoscalingGroup) -> None:
        """Stop: min = max = desired = 0, so the ASG terminates every instance (managed draining moves tasks
        first) and managed scaling cannot add one. Start: the configured min/max come back and desired is left
        to ECS managed scaling, which launches instances for the services scheduled back at the same time
        (a provider with no instance and tasks waiting reads CapacityProviderReservation 200%: scale out)."""
        window = cp.off_hours
        for action, clock, sizes in (("stop", window.stop, (0, 0, 0)),
                                     ("start", window.start, (cp.min_size, cp.max_size, UNCHANGED))):
            AutoscalingSchedule(
                self, f"{key}-off-hours-{action}",
                scheduled_action_name=f"{self._cfg.name}-{key}-off-hours-{action}",
                autoscaling_group_name=asg.name,
                recurrence=window.asg_recurrence(clock),
                time_zone=window.timezone,  # IANA name: the action follows daylight saving time
                min_size=sizes[0], max_size=sizes[1], desired_capacity=sizes[2],
            )

    def capacity_provider_name(self, key: str) -> str:
        """Name of a capacity provider (a reference: a service using it depends on it)."""
        return self.providers[key].name

    def _instance_profile(self, cfg: EnvConfig) -> IamInstanceProfile:
        partition = DataAwsPartition(self, "partition")
        assume = DataAwsIamPolicyDocument(self, "instance-assume-role", statement=[DataAwsIamPolicyDocumentStatement(
            actions=["sts:AssumeRole"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                type="Service", identifiers=[f"ec2.{partition.dns_suffix}"])],
        )])
        role = IamRole(self, "instance-role", name=f"{cfg.name}-ecs-instance", assume_role_policy=assume.json,
                       description="ECS container instances: agent registration, Session Manager")
        for policy in (ECS_INSTANCE_POLICY, SSM_CORE_POLICY):
            IamRolePolicyAttachment(self, f"instance-{policy.rsplit('/', 1)[-1]}", role=role.name,
                                    policy_arn=f"arn:{partition.partition}:iam::aws:policy/{policy}")
        return IamInstanceProfile(self, "instance-profile", name=f"{cfg.name}-ecs-instance", role=role.name)

    def _launch_template(self, cfg: EnvConfig, key: str, cp: CapacityProvider, profile: IamInstanceProfile,
                         security_group_id: str) -> LaunchTemplate:
        image_id = DataAwsSsmParameter(self, f"{key}-ami-id", name=GPU_AMI_PARAMETER if cp.gpu else AMI_PARAMETER)
        # The root device name differs between AMIs; read it so the size applies to the root volume.
        ami = DataAwsAmi(self, f"{key}-ami", owners=["amazon"], most_recent=True,
                         filter=[DataAwsAmiFilter(name="image-id", values=[image_id.insecure_value])])
        name = f"{cfg.name}-{key}"
        instance_tags = {"Project": cfg.project, "Environment": cfg.environment, **cfg.tags, "Name": name}
        return LaunchTemplate(
            self, f"{key}-launch-template",
            name=name,
            description=f"ECS container instances of capacity provider '{key}'",
            image_id=image_id.insecure_value,  # public, non-secret value: keeps plans readable
            instance_type=cp.instance_type,
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile.arn),
            vpc_security_group_ids=[security_group_id],
            user_data=user_data(cfg.name, cp),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=IMDS_HOP_LIMIT,
            ),
            block_device_mappings=[LaunchTemplateBlockDeviceMappings(
                device_name=ami.root_device_name,
                ebs=LaunchTemplateBlockDeviceMappingsEbs(
                    volume_size=cp.root_volume_gb, volume_type="gp3", encrypted="true",
                    delete_on_termination="true",
                ),
            )],
            update_default_version=True,
            tag_specifications=[
                LaunchTemplateTagSpecifications(resource_type=kind, tags=dict(sorted(instance_tags.items())))
                for kind in ("instance", "volume")
            ],
        )
