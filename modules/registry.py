"""ECR: one repository per image this project or the app builds, and pull-through cache for public images.

Repositories are `<project>-<environment>/<build>`, scanned on push, IMMUTABLE (a tag is a release:
the synth-time image tag, seed §5, never `latest`; for an image another repository builds, the tag
that repository pushed, `image.tag_env_var`), encrypted, with a lifecycle policy built by the
provider's policy-document data source. The lifecycle never expires the tag this configuration deploys:
its first rule selects exactly that tag, and ECR never lets a lower-priority rule expire an image that a
higher-priority rule's tag selection matched (ECR lifecycle policy evaluation rules); a tag list selects
images that carry ALL its patterns, hence one rule per repository, for its one deployed tag. Public images (seed §7: outside registries are a risk) are
pulled through an ECR pull-through cache rule per upstream when `registry.pull_through_cache` is on;
ECR creates those cache repositories itself, so a repository creation template per rule gives them
the same encryption, a lifecycle and IMMUTABLE tags (a cached tag is pinned once pulled); a registry
scanning rule scans every repository of the environment on push, cached ones included.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import TerraformOutput
from cdktf_cdktf_provider_aws.data_aws_ecr_lifecycle_policy_document import (
    DataAwsEcrLifecyclePolicyDocument,
    DataAwsEcrLifecyclePolicyDocumentRule,
    DataAwsEcrLifecyclePolicyDocumentRuleAction,
    DataAwsEcrLifecyclePolicyDocumentRuleSelection,
)
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_pull_through_cache_rule import EcrPullThroughCacheRule
from cdktf_cdktf_provider_aws.ecr_registry_scanning_configuration import (
    EcrRegistryScanningConfiguration,
    EcrRegistryScanningConfigurationRule,
    EcrRegistryScanningConfigurationRuleRepositoryFilter,
)
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from cdktf_cdktf_provider_aws.ecr_repository_creation_template import (
    EcrRepositoryCreationTemplate,
    EcrRepositoryCreationTemplateEncryptionConfiguration,
)
from constructs import Construct

from modules.config import EnvConfig
from modules.config.defaults import PULL_THROUGH_UPSTREAMS
from modules.config.registry import pull_through_source
from modules.secrets import Secrets


class Registry(Construct):
    """ECR repositories keyed by `image.build`, pull-through cache rules keyed by upstream."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig, image_tags: Mapping[str, str],
                 secrets: Secrets):
        """`image_tags`: the tag of each built image, keyed by `image.build` (modules/image_tags.py resolves them)."""
        super().__init__(scope, construct_id)
        self._cfg = cfg
        builds = sorted({s.image.build for s in cfg.services.values() if s.image.build})
        if sorted(image_tags) != builds:
            raise ValueError(f"image_tags must have exactly the built images {builds}, got {sorted(image_tags)}")
        self._tags = dict(image_tags)
        self._repositories: dict[str, EcrRepository] = {}
        for build in builds:
            repo = EcrRepository(
                self, f"repo_{build}",
                name=cfg.repository_name(build),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
                encryption_configuration=[EcrRepositoryEncryptionConfiguration(encryption_type=cfg.registry.encryption)],
                force_delete=cfg.registry.force_delete,
            )
            lifecycle = self._lifecycle_policy(cfg, build, self._tags[build])
            EcrLifecyclePolicy(self, f"lifecycle_{build}", repository=repo.name, policy=lifecycle.json)
            self._repositories[build] = repo

        self._cache_rules: dict[str, EcrPullThroughCacheRule] = {}
        upstreams = cfg.pull_through_upstreams()
        cached_lifecycle = self._cached_lifecycle_policy(cfg) if upstreams else None
        for upstream in upstreams:
            host, needs_credentials = PULL_THROUGH_UPSTREAMS[upstream]
            key = upstream.replace("-", "_")
            self._cache_rules[upstream] = EcrPullThroughCacheRule(
                self, f"pull_through_{key}",
                ecr_repository_prefix=self.cache_prefix(upstream),
                upstream_registry_url=host,
                credential_arn=secrets.arn(cfg.registry.docker_hub_secret) if needs_credentials else None,
            )
            # ECR matches a template to a cache repository by the rule's prefix (AWS: use the same one).
            EcrRepositoryCreationTemplate(
                self, f"cache_template_{key}",
                prefix=self.cache_prefix(upstream),
                applied_for=["PULL_THROUGH_CACHE"],
                description=f"repositories ECR creates for images cached from {upstream}",
                # a cached tag is pinned once pulled: an upstream tag moved later (or re-pushed by an attacker
                # holding the upstream account) never replaces what the tasks run
                image_tag_mutability="IMMUTABLE",
                encryption_configuration=[
                    EcrRepositoryCreationTemplateEncryptionConfiguration(encryption_type=cfg.registry.encryption)],
                lifecycle_policy=cached_lifecycle.json,
            )

        if cfg.registry.registry_scanning and (self._repositories or self._cache_rules):
            # repository-level scan_on_push does not reach the repositories ECR creates for the cache; a
            # registry rule does (ECR user guide, "Image scanning": registry-level filters apply to every
            # repository whose name matches, pull-through cache ones included)
            EcrRegistryScanningConfiguration(self, "scanning", scan_type="BASIC", rule=[
                EcrRegistryScanningConfigurationRule(
                    scan_frequency="SCAN_ON_PUSH",
                    repository_filter=[EcrRegistryScanningConfigurationRuleRepositoryFilter(
                        filter=f"{cfg.name}/*", filter_type="WILDCARD")])])

        if self._repositories:
            TerraformOutput(self, "ecr_repository_urls", description="ECR repository URL per built image",
                            value={b: r.repository_url for b, r in self._repositories.items()}
                            ).override_logical_id("ecr_repository_urls")
        if self._cache_rules:
            TerraformOutput(self, "ecr_pull_through_prefixes",
                            description="image name prefix of each cached upstream (<registry>/<prefix>/<image>)",
                            value={u: self._cached_prefix(u) for u in self._cache_rules}
                            ).override_logical_id("ecr_pull_through_prefixes")

    # ------------------------------------------------------------ exposed
    def image(self, service_name: str) -> str:
        """The full image URI a container runs: ECR repo + its build's tag, or the (cached) public image."""
        image = self._cfg.services[service_name].image
        if image.build:
            return f"{self._repositories[image.build].repository_url}:{self._tags[image.build]}"
        upstream, repository, reference = pull_through_source(image.public)
        if upstream in self._cache_rules:
            return f"{self._cached_prefix(upstream)}/{repository}{reference}"
        return image.public

    def repository_arn(self, service_name: str) -> str | None:
        """The service's own ECR repository (None for a public image)."""
        build = self._cfg.services[service_name].image.build
        return self._repositories[build].arn if build else None

    def cache_prefix(self, upstream: str) -> str:
        """`<project>-<env>/<upstream>`: rule prefixes are unique per account and region, so per environment.
        Pulling principals need ecr:BatchImportUpstreamImage + ecr:CreateRepository on `<prefix>/*`."""
        return f"{self._cfg.name}/{upstream}"

    # ------------------------------------------------------------ internals
    def _cached_prefix(self, upstream: str) -> str:
        rule = self._cache_rules[upstream]
        return f"{rule.registry_id}.dkr.ecr.{self._cfg.region}.amazonaws.com/{rule.ecr_repository_prefix}"

    def _cached_lifecycle_policy(self, cfg: EnvConfig) -> DataAwsEcrLifecyclePolicyDocument:
        # a cache repository holds one upstream image's tags: keep as many as of our own images
        return DataAwsEcrLifecyclePolicyDocument(self, "cached_lifecycle_policy", rule=[
            DataAwsEcrLifecyclePolicyDocumentRule(
                priority=1,
                description=f"keep the last {cfg.registry.keep_last} cached images",
                selection=[DataAwsEcrLifecyclePolicyDocumentRuleSelection(
                    tag_status="any", count_type="imageCountMoreThan", count_number=cfg.registry.keep_last)],
                action=[DataAwsEcrLifecyclePolicyDocumentRuleAction(type="expire")],
            ),
        ])

    def _lifecycle_policy(self, cfg: EnvConfig, build: str, deployed_tag: str) -> DataAwsEcrLifecyclePolicyDocument:
        reg = cfg.registry
        return DataAwsEcrLifecyclePolicyDocument(self, f"lifecycle_policy_{build}", rule=[
            DataAwsEcrLifecyclePolicyDocumentRule(
                priority=1,
                # An exact tag (no wildcard) on an IMMUTABLE repository matches one image: never more than 1.
                description=f"never expire {deployed_tag}, the tag this configuration deploys",
                selection=[DataAwsEcrLifecyclePolicyDocumentRuleSelection(
                    tag_status="tagged", tag_pattern_list=[deployed_tag], count_type="imageCountMoreThan",
                    count_number=1)],
                action=[DataAwsEcrLifecyclePolicyDocumentRuleAction(type="expire")],
            ),
            DataAwsEcrLifecyclePolicyDocumentRule(
                priority=2,
                description=f"expire untagged images after {reg.untagged_expire_days} days",
                selection=[DataAwsEcrLifecyclePolicyDocumentRuleSelection(
                    tag_status="untagged", count_type="sinceImagePushed", count_unit="days",
                    count_number=reg.untagged_expire_days)],
                action=[DataAwsEcrLifecyclePolicyDocumentRuleAction(type="expire")],
            ),
            DataAwsEcrLifecyclePolicyDocumentRule(
                priority=3,
                description=f"keep the last {reg.keep_last} tagged images (rollback targets)",
                selection=[DataAwsEcrLifecyclePolicyDocumentRuleSelection(
                    tag_status="tagged", tag_pattern_list=["*"], count_type="imageCountMoreThan",
                    count_number=reg.keep_last)],
                action=[DataAwsEcrLifecyclePolicyDocumentRuleAction(type="expire")],
            ),
        ])
