"""Domain: the ALB's certificate and host names in the team's Route 53 public hosted zone (`alb.domain`).

The DNS-validated ACM certificate pattern (as in terraform-aws-modules/terraform-aws-acm):
  aws_acm_certificate            the api host, plus Grafana's host when the ALB exposes it (vpn/sso), as a SAN
  aws_route53_record (CNAME)     one validation record per host name, from the certificate's
                                 domain_validation_options entry for that name
  aws_acm_certificate_validation waits until ACM has seen the records and ISSUED the certificate; the HTTPS
                                 listener takes its certificate_arn, so it is created only after that
  aws_route53_record (A alias)   the api host (and Grafana's) -> the ALB, by the Alb construct (alias_to)
The zone is read with a data source: a zone that does not exist (or is not visible to the deploying
credentials) stops `terraform plan`, before anything is created; `python main.py preflight` says so first.
ACM user guide, "DNS validation": ACM gives one CNAME per domain name and issues the certificate once it
can resolve them through public DNS (the zone must be delegated to Route 53); an unvalidated request
stays PENDING_VALIDATION and fails after 72 hours. ACM renews a DNS-validated certificate by itself as long
as the records stay ("Managed renewal"). A CAA record in the zone must allow amazon.com (ACM, "CAA records").
"""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.acm_certificate import AcmCertificate
from cdktf_cdktf_provider_aws.acm_certificate_validation import AcmCertificateValidation
from cdktf_cdktf_provider_aws.data_aws_route53_zone import DataAwsRoute53Zone
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import DNS_VALIDATION_RECORD_TTL
from modules.network import flat_output
from modules.security_groups import grafana_via_alb

CERTIFICATE_ID = "alb_certificate"  # fixed logical id: the validation records' expressions name it


class Domain(Construct):
    """Exposes api_host, grafana_host (None unless the ALB exposes Grafana), zone_id and certificate_arn
    (the validated certificate; None with `https: false`)."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig):
        super().__init__(scope, construct_id)
        domain = cfg.alb.domain
        if domain is None:
            raise ValueError("Domain needs alb.domain")
        self.api_host = domain.api_host
        self.grafana_host = cfg.alb.grafana_host() if grafana_via_alb(cfg) else None
        # ACM validates over public DNS, so the records go into the public zone of that name (a private zone
        # of the same name answers only inside its VPCs). Route 53 allows several public zones with one name:
        # the lookup then fails the plan ("multiple Route 53 Hosted Zone matched"); preflight reports it.
        zone = DataAwsRoute53Zone(self, "zone", name=domain.zone, private_zone=False)
        self.zone_id: str = zone.zone_id
        self.certificate_arn: str | None = self._certificate() if cfg.alb.https else None

    def hosts(self) -> list[str]:
        return [self.api_host] + ([self.grafana_host] if self.grafana_host else [])

    def _certificate(self) -> str:
        hosts = self.hosts()
        certificate = AcmCertificate(
            self, "certificate", domain_name=hosts[0], subject_alternative_names=hosts[1:] or None,
            validation_method="DNS",
            # a changed host list replaces the certificate: the listener moves to the new one before the old goes
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        certificate.override_logical_id(CERTIFICATE_ID)
        records = []
        for i, host in enumerate(hosts):
            # The entry for this host name (the set of options is keyed by domain name, known at plan time).
            def option(attribute: str, host: str = host) -> str:
                return (f"${{one([for o in aws_acm_certificate.{CERTIFICATE_ID}.domain_validation_options : "
                        f"o.{attribute} if o.domain_name == \"{host}\"])}}")

            records.append(Route53Record(
                self, f"validation_{i}", zone_id=self.zone_id, name=option("resource_record_name"),
                type=option("resource_record_type"), records=[option("resource_record_value")],
                ttl=DNS_VALIDATION_RECORD_TTL,
                allow_overwrite=True,  # a record left by an earlier certificate for the same name is taken over
            ))
        validation = AcmCertificateValidation(
            self, "validation", certificate_arn=certificate.arn, validation_record_fqdns=[r.fqdn for r in records])
        return validation.certificate_arn

    def alias_to(self, lb_dns_name: str, lb_zone_id: str) -> None:
        """A records aliasing each host name to the ALB (Route 53 developer guide, "Routing traffic to an ELB
        load balancer": an alias record names the load balancer's DNS name and its canonical hosted zone id;
        alias queries to AWS resources are free, and unlike a CNAME the record may sit at a zone apex).
        No AAAA: the ALB is IPv4-only (ip_address_type ipv4; the VPC has no IPv6 range)."""
        for i, host in enumerate(self.hosts()):
            Route53Record(self, f"alias_{i}", zone_id=self.zone_id, name=host, type="A",
                          alias=Route53RecordAlias(name=lb_dns_name, zone_id=lb_zone_id,
                                                   evaluate_target_health=True))
        flat_output(self, "api_url", f"https://{self.api_host}" if self.certificate_arn else f"http://{self.api_host}",
                    "the api's public URL (alias record in the zone)")
