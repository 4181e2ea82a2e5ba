"""Network: VPC, public/private subnets per AZ, internet gateway, NAT, routes, flow logs, VPC endpoints.

Subnets are carved from `network.vpc_cidr` by modules/config/network.py (public first, then private, one of
each per AZ). Private route tables are one per AZ whichever NAT mode is chosen, so switching
`nat: single` -> `per_az` only changes each table's default route, never the subnet associations.
"""

from __future__ import annotations

from cdktf import Postcondition, TerraformOutput, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones,
    DataAwsAvailabilityZonesFilter,
)
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import ENDPOINT_POLICY_SERVICES, S3_ENDPOINT_AWS_BUCKETS
from modules.naming import fit_name
# cdktf-free, shared with the config rules that count security group rules
from modules.security_group_plan import ANYWHERE_IPV4, interface_endpoint_services  # noqa: F401


def flat_output(scope: Construct, name: str, value, description: str) -> TerraformOutput:
    """An output named exactly `name` (not prefixed by the construct path)."""
    output = TerraformOutput(scope, name, value=value, description=description)
    output.override_logical_id(name)
    return output


class Network(Construct):
    """VPC and subnets. Exposes vpc_id, vpc_cidr, public_subnet_ids, private_subnet_ids."""

    def __init__(self, scope: Construct, id_: str, cfg: EnvConfig):
        super().__init__(scope, id_)
        self._cfg = cfg
        self._caller_identity: DataAwsCallerIdentity | None = None
        self._partition: DataAwsPartition | None = None
        self._endpoint_policies: dict[str, DataAwsIamPolicyDocument] = {}
        net = cfg.network
        cidrs = net.subnet_cidrs()

        self.availability_zones = self._check_zones(cfg)
        self._zone_arg = "availability_zone_id" if net.zones_by_id else "availability_zone"

        vpc = Vpc(self, "vpc", cidr_block=net.vpc_cidr, enable_dns_support=True,
                  enable_dns_hostnames=True,  # private DNS of the interface endpoints needs both
                  tags={"Name": cfg.name})
        self.vpc_id: str = vpc.id
        self.vpc_cidr: str = net.vpc_cidr

        public = [self._subnet("public", i, cidr, vpc.id) for i, cidr in enumerate(cidrs["public"])]
        private = [self._subnet("private", i, cidr, vpc.id) for i, cidr in enumerate(cidrs["private"])]
        self.public_subnet_ids: list[str] = [s.id for s in public]
        self.private_subnet_ids: list[str] = [s.id for s in private]

        igw = self._public_tier(vpc.id, public)
        self._private_tier(vpc.id, private, public, igw)

        if net.flow_logs.enabled:
            self._flow_logs(vpc)
        self.s3_prefix_list_id: str | None = None
        if net.endpoints.s3:
            # gateway endpoint: free, and ECR image layers are served from S3
            s3 = VpcEndpoint(self, "endpoint_s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{cfg.region}.s3",
                        vpc_endpoint_type="Gateway", route_table_ids=self.private_route_table_ids,
                        policy=self._s3_endpoint_policy().json, tags={"Name": f"{cfg.name}-s3"})
            self.s3_prefix_list_id = s3.prefix_list_id  # S3's addresses in the Region, for security group rules

        flat_output(self, "vpc_id", vpc.id, "VPC id")
        flat_output(self, "public_subnet_ids", self.public_subnet_ids, "public subnets (ALB, NAT), one per AZ")
        flat_output(self, "private_subnet_ids", self.private_subnet_ids, "private subnets (tasks, data), one per AZ")

    def _check_zones(self, cfg: EnvConfig) -> list[str]:
        """The zones are decided in the env file (or defaulted once by EnvConfig.availability_zones()), never
        re-derived on a plan: an impaired or new zone cannot shift a subnet. The lookup only checks, at
        plan time, that every named zone exists and is available to this account."""
        zones = cfg.availability_zones()
        by_id = cfg.network.zones_by_id
        DataAwsAvailabilityZones(
            self, "zones", state="available",
            filter=[DataAwsAvailabilityZonesFilter(name="zone-id" if by_id else "zone-name",
                                                   values=zones)],
            lifecycle=TerraformResourceLifecycle(postcondition=[Postcondition(
                condition=f"${{length(self.{'zone_ids' if by_id else 'names'}) == {len(zones)}}}",
                error_message=f"network.availability_zones: {', '.join(zones)} are not all "
                              f"available zones of {cfg.region} for this account; name the zones to use",
            )]),
        )
        return zones

    def _public_tier(self, vpc_id: str, public: list[Subnet]) -> InternetGateway:
        """Default route to the internet gateway."""
        name = self._cfg.name
        igw = InternetGateway(self, "igw", vpc_id=vpc_id, tags={"Name": name})
        public_rt = RouteTable(self, "public_rt", vpc_id=vpc_id, tags={"Name": f"{name}-public"})
        Route(self, "public_default", route_table_id=public_rt.id, destination_cidr_block=ANYWHERE_IPV4,
              gateway_id=igw.id)
        for i, subnet in enumerate(public):
            RouteTableAssociation(self, f"public_rta_{i}", subnet_id=subnet.id, route_table_id=public_rt.id)
        return igw

    def _private_tier(self, vpc_id: str, private: list[Subnet], public: list[Subnet], igw: InternetGateway) -> None:
        """Default route through a NAT gateway (one, or one per AZ for AZ independence); one table per AZ."""
        net, name = self._cfg.network, self._cfg.name
        nat_count = 1 if net.nat == "single" else net.az_count
        nats = []
        for i in range(nat_count):
            eip = Eip(self, f"nat_eip_{i}", domain="vpc", tags={"Name": f"{name}-nat-{i + 1}"},
                      depends_on=[igw])
            nats.append(NatGateway(self, f"nat_{i}", allocation_id=eip.id, subnet_id=public[i].id,
                                   tags={"Name": f"{name}-nat-{i + 1}"}, depends_on=[igw]))
        self.private_route_table_ids: list[str] = []
        for i, subnet in enumerate(private):
            rt = RouteTable(self, f"private_rt_{i}", vpc_id=vpc_id, tags={"Name": f"{name}-private-{i + 1}"})
            Route(self, f"private_default_{i}", route_table_id=rt.id, destination_cidr_block=ANYWHERE_IPV4,
                  nat_gateway_id=nats[i % nat_count].id)
            RouteTableAssociation(self, f"private_rta_{i}", subnet_id=subnet.id, route_table_id=rt.id)
            self.private_route_table_ids.append(rt.id)

    def _subnet(self, tier: str, index: int, cidr: str, vpc_id: str) -> Subnet:
        return Subnet(
            self, f"{tier}_{index}", vpc_id=vpc_id, cidr_block=cidr,
            **{self._zone_arg: self.availability_zones[index]},
            map_public_ip_on_launch=False,  # nothing gets a public IP implicitly; the ALB and NAT have their own
            tags={"Name": f"{self._cfg.name}-{tier}-{index + 1}", "Tier": tier},
        )

    def _flow_logs(self, vpc: Vpc) -> None:
        cfg = self._cfg
        group = CloudwatchLogGroup(self, "flow_logs", name=f"/aws/vpc/{cfg.name}/flow-logs",
                                   retention_in_days=cfg.network.flow_logs.retention_days)
        caller, partition = self._caller(), self._aws_partition()
        # confused-deputy guard: only flow logs of this account may assume the role
        trust = DataAwsIamPolicyDocument(self, "flow_logs_trust", statement=[DataAwsIamPolicyDocumentStatement(
            actions=["sts:AssumeRole"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                type="Service", identifiers=["vpc-flow-logs.amazonaws.com"])],
            condition=[
                DataAwsIamPolicyDocumentStatementCondition(
                    test="StringEquals", variable="aws:SourceAccount", values=[caller.account_id]),
                DataAwsIamPolicyDocumentStatementCondition(
                    test="ArnLike", variable="aws:SourceArn",
                    values=[f"arn:{partition.partition}:ec2:{cfg.region}:{caller.account_id}:vpc-flow-log/*"]),
            ],
        )])
        write = DataAwsIamPolicyDocument(self, "flow_logs_write", statement=[DataAwsIamPolicyDocumentStatement(
            sid="WriteThisLogGroupOnly",
            actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups",
                     "logs:DescribeLogStreams"],
            resources=[group.arn, f"{group.arn}:*"],
        )])
        role = IamRole(self, "flow_logs_role", name=fit_name(f"{cfg.name}-vpc-flow-logs", 64),
                       assume_role_policy=trust.json)
        IamRolePolicy(self, "flow_logs_policy", name="write-flow-logs", role=role.id, policy=write.json)
        FlowLog(self, "flow_log", vpc_id=vpc.id, traffic_type=cfg.network.flow_logs.traffic_type,
                log_destination_type="cloud-watch-logs", log_destination=group.arn, iam_role_arn=role.arn,
                max_aggregation_interval=60, tags={"Name": cfg.name})

    def _caller(self) -> DataAwsCallerIdentity:
        if self._caller_identity is None:
            self._caller_identity = DataAwsCallerIdentity(self, "caller")
        return self._caller_identity

    def _aws_partition(self) -> DataAwsPartition:
        if self._partition is None:
            self._partition = DataAwsPartition(self, "partition")
        return self._partition

    def _s3_endpoint_policy(self) -> DataAwsIamPolicyDocument:
        """S3 from the private subnets always takes the gateway's route, so its policy is the whole S3 access of
        the VPC: read ECR's layers and the Amazon Linux repositories; the env file's `s3_buckets` in full.
        No principal condition: ECR hands out layer URLs presigned by its own account."""
        cfg, partition = self._cfg, self._aws_partition().partition
        aws_buckets = [f"arn:{partition}:s3:::{b.format(region=cfg.region)}/*" for b in S3_ENDPOINT_AWS_BUCKETS]
        statements = [DataAwsIamPolicyDocumentStatement(
            sid="ReadEcrLayersAndAmazonLinuxRepositories", actions=["s3:GetObject"], resources=aws_buckets,
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])])]
        buckets = sorted(cfg.network.endpoints.s3_buckets)
        if buckets:
            statements.append(DataAwsIamPolicyDocumentStatement(
                sid="TheEnvFilesBucketsFromThisAccount", actions=["s3:*"],
                resources=[arn for b in buckets for arn in (f"arn:{partition}:s3:::{b}", f"arn:{partition}:s3:::{b}/*")],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])],
                condition=[DataAwsIamPolicyDocumentStatementCondition(
                    test="StringEquals", variable="aws:PrincipalAccount", values=[self._caller().account_id])]))
        return DataAwsIamPolicyDocument(self, "endpoint_s3_policy", statement=statements)

    def _interface_endpoint_policy(self, prefix: str) -> DataAwsIamPolicyDocument:
        """The service's own actions (`<prefix>:*`), for this account's principals only: a credential of another
        account cannot use the endpoint to reach its own resources from inside the VPC (VPC user guide, "Control
        access to VPC endpoints using endpoint policies"). What each principal may do stays with its IAM policy."""
        if prefix not in self._endpoint_policies:
            self._endpoint_policies[prefix] = DataAwsIamPolicyDocument(
                self, f"endpoint_{prefix}_policy", statement=[DataAwsIamPolicyDocumentStatement(
                    sid="ThisAccountsPrincipalsOnly", actions=[f"{prefix}:*"], resources=["*"],
                    principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])],
                    condition=[DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable="aws:PrincipalAccount",
                        values=[self._caller().account_id])])])
        return self._endpoint_policies[prefix]

    def attach_interface_endpoints(self, security_group_id: str) -> None:
        """Interface endpoints switched on in the env file, in the private subnets. Called by
        SecurityGroups once the endpoints' group exists (it owns every security group). Endpoints of services
        that take an endpoint policy get this account's principals only; the others keep AWS's default."""
        cfg = self._cfg
        for service in interface_endpoint_services(cfg):
            policy = (self._interface_endpoint_policy(service.split(".")[0]).json
                      if service in ENDPOINT_POLICY_SERVICES else None)
            VpcEndpoint(self, f"endpoint_{service.replace('.', '_').replace('-', '_')}", vpc_id=self.vpc_id,
                        service_name=f"com.amazonaws.{cfg.region}.{service}", vpc_endpoint_type="Interface",
                        subnet_ids=self.private_subnet_ids, security_group_ids=[security_group_id],
                        private_dns_enabled=True, tags={"Name": f"{cfg.name}-{service}"},
                        policy=policy)
