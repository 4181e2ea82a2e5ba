"""The way to a database in another VPC (`database.network`), built in the same apply as the stack.

`via: peering`: a VPC peering connection from the stack's VPC to the database's, accepted by the stack itself
(`auto_accept`: both VPCs in this account and Region), with the database VPC's DNS names answered privately to
the stack (`dns_resolution`). `via: transit_gateway`: an attachment of the stack's VPC (its private subnets) to
the transit gateway the database's VPC is already attached to. Either way, routes both ways: each private route
table of the stack -> the database VPC's CIDR blocks, each of the database VPC's route tables -> the stack's
VPC CIDR. Blocks and route tables not given in the env file are looked up at plan time (data sources read
then, so `for_each` over them is known before the apply).

modules/database.py makes the security-group rules; `ready` is what they wait for (docs/data-and-secrets.md:
a rule naming a group of another VPC is accepted only once a same-Region peering is active).
"""

from __future__ import annotations

from cdktf import TerraformIterator, Token
from cdktf_cdktf_provider_aws.data_aws_route_tables import DataAwsRouteTables
from cdktf_cdktf_provider_aws.data_aws_vpc import DataAwsVpc
from cdktf_cdktf_provider_aws.ec2_transit_gateway_vpc_attachment import Ec2TransitGatewayVpcAttachment
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.vpc_peering_connection import VpcPeeringConnection
from cdktf_cdktf_provider_aws.vpc_peering_connection_options import (
    VpcPeeringConnectionOptions,
    VpcPeeringConnectionOptionsAccepter,
)
from constructs import Construct

from modules.config import EnvConfig
from modules.network import Network, flat_output


class DatabaseNetwork(Construct):
    """Exposes `via`, `each_peer_cidr()` (to make one resource per block of the database's VPC), `ready` (what
    a security-group rule naming the other VPC must be created after) and `stack_subnet_cidrs`."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig, network: Network):
        super().__init__(scope, construct_id)
        net = cfg.database.network
        assert net is not None, "DatabaseNetwork is built only with database.network"
        self.via = net.via
        self.stack_subnet_cidrs: list[str] = cfg.network.subnet_cidrs()["private"]
        self._cfg_cidrs = list(net.cidrs)
        self._peer_vpc = None if net.cidrs else DataAwsVpc(self, "peer_vpc", id=net.vpc_id)
        peer_route_tables = list(net.route_table_ids) or DataAwsRouteTables(
            self, "peer_route_tables", vpc_id=net.vpc_id).ids
        name = f"{cfg.name}-database"

        if net.via == "peering":
            link = VpcPeeringConnection(
                self, "peering", vpc_id=network.vpc_id, peer_vpc_id=net.vpc_id,
                auto_accept=True,  # same account and Region: the stack accepts its own request
                tags={"Name": name})
            target = {"vpc_peering_connection_id": link.id}
            if net.dns_resolution:
                # accepter = the database's VPC: it answers its public DNS names (a publicly accessible RDS
                # endpoint) with private addresses when the stack's tasks ask; the reverse is not needed
                VpcPeeringConnectionOptions(
                    self, "dns", vpc_peering_connection_id=link.id,
                    accepter=VpcPeeringConnectionOptionsAccepter(allow_remote_vpc_dns_resolution=True))
            flat_output(self, "database_peering_connection_id", link.id,
                        "VPC peering connection to the database's VPC (database.network)")
        else:
            link = Ec2TransitGatewayVpcAttachment(
                self, "attachment", transit_gateway_id=net.transit_gateway_id, vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids, dns_support="enable", tags={"Name": name})
            target = {"transit_gateway_id": net.transit_gateway_id}
            flat_output(self, "database_transit_gateway_attachment_id", link.id,
                        "transit gateway attachment of the stack's VPC (database.network)")

        # The peering is active once created (auto_accept waits for it); an attachment is usable once available.
        self.ready = [link]
        # a route through a transit gateway needs the VPC attached first (the peering's id orders itself)
        after = [link] if net.via == "transit_gateway" else None
        for i, table in enumerate(network.private_route_table_ids):
            each, cidr = self.each_peer_cidr()
            Route(self, f"to_database_{i}", for_each=each, route_table_id=table,
                  destination_cidr_block=cidr, depends_on=after, **target)
        back = TerraformIterator.from_list(peer_route_tables)
        Route(self, "from_database", for_each=back, route_table_id=Token.as_string(back.value),
              destination_cidr_block=cfg.network.vpc_cidr, depends_on=after, **target)

    def each_peer_cidr(self) -> tuple[TerraformIterator, str]:
        """(for_each iterator, its CIDR value) over the database VPC's blocks: the env file's `cidrs`, or every
        block of the VPC as looked up (its primary block is one of the associations), keyed by the block."""
        if self._peer_vpc is None:
            each = TerraformIterator.from_list(self._cfg_cidrs)
            return each, Token.as_string(each.value)
        each = TerraformIterator.from_complex_list(self._peer_vpc.cidr_block_associations, "cidr_block")
        return each, each.get_string("cidr_block")
