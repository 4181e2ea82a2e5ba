"""Secrets Manager: the env file's `secrets` (generated, or JSON with keys set out of band) and their KMS key.

A generated secret never has its value in the synthesized JSON nor in Terraform state: an *ephemeral*
`aws_secretsmanager_random_password` (Terraform >= 1.10) produces it during apply and the write-only
`secret_string_wo` (Terraform >= 1.11, hashicorp/aws >= 5.90) sends it to Secrets Manager. Bumping
`secrets.<name>.generation` in the env file generates a new value. cdktf 0.21 has no class for
ephemeral resources, so the block is written with a stack override (plain Terraform JSON).

An `existing` secret is created, with its value, outside the stack before the first deploy (the ones a
first apply itself reads: the Docker Hub login of the pull-through cache rule, the Grafana OIDC client
secret): it is looked up by the same name (a data source: a missing one stops the plan, before anything
is created) and never created, changed or deleted here.

Besides the env file's, every Grafana service's admin password is a generated secret
(`<service>-admin-password`, modules/config/grafana.py).
"""

from __future__ import annotations

import re

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_secretsmanager_secret import DataAwsSecretsmanagerSecret
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from modules.config import EnvConfig
from modules.config.data import Secret
from modules.config.defaults import DEFAULT_KMS_DELETION_WINDOW_DAYS
from modules.config.defaults import GRAFANA_ADMIN_PASSWORD_LENGTH
from modules.config.grafana import derived_admin_secrets

# Write-only attributes and ephemeral resources: Terraform 1.11 is the first release with both.
REQUIRED_TERRAFORM_VERSION = ">= 1.11.0"


def ephemeral_password(scope: Construct, label: str, length: int) -> str:
    """Declare an ephemeral random password (never stored) and return the expression that reads it."""
    logical = re.sub(r"[^a-z0-9_]", "_", label.lower())
    stack = TerraformStack.of(scope)
    # Alphanumeric only: the values travel in HTTP headers (X-Ops-Token) and in rediss:// URLs unescaped.
    stack.add_override(f"ephemeral.aws_secretsmanager_random_password.{logical}",
                       {"password_length": length, "exclude_punctuation": True, "require_each_included_type": True})
    stack.add_override("terraform.required_version", REQUIRED_TERRAFORM_VERSION)
    return f"${{ephemeral.aws_secretsmanager_random_password.{logical}.random_password}}"


class Secrets(Construct):
    """One Secrets Manager secret per `cfg.secrets` entry, plus the optional customer-managed KMS key."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig):
        super().__init__(scope, construct_id)
        self._cfg = cfg
        self.kms_key_arn: str | None = self._kms_key(cfg) if cfg.secrets_kms else None
        self._secrets: dict[str, SecretsmanagerSecret | DataAwsSecretsmanagerSecret] = {}
        for name, spec in cfg.secrets.items():
            self._secrets[name] = (DataAwsSecretsmanagerSecret(self, f"existing_{name}", name=self.secret_name(name))
                                   if spec.existing else self._secret(name, spec))
        # every Grafana's built-in admin gets a generated password (modules/config/grafana.py), no shared default
        for name, service in derived_admin_secrets(cfg).items():
            self._secrets[name] = self._secret(name, Secret(
                generate=True, length=GRAFANA_ADMIN_PASSWORD_LENGTH,
                description=f"Grafana '{service}': password of the built-in admin (break-glass; docs/edge.md)"))
        if self._secrets:
            TerraformOutput(self, "secret_arns", description="ARN of each secret in the env file (never values)",
                            value={n: s.arn for n, s in sorted(self._secrets.items())}).override_logical_id("secret_arns")

    # ------------------------------------------------------------ exposed
    def arn(self, name: str) -> str:
        return self._secrets[name].arn

    def new_secret(self, scope: Construct, construct_id: str, name: str, description: str,
                   recovery_window_days: int | None = None, customer_key: bool = True) -> SecretsmanagerSecret:
        """A secret with this environment's naming, KMS key and recovery window (also used by Cache)."""
        window = self._cfg.secrets_recovery_window_days if recovery_window_days is None else recovery_window_days
        return SecretsmanagerSecret(
            scope, construct_id,
            name=name,
            description=description or None,
            kms_key_id=self.kms_key_arn if customer_key else None,
            recovery_window_in_days=window,
        )

    def generate_value(self, scope: Construct, construct_id: str, secret: SecretsmanagerSecret, length: int,
                       generation: int) -> SecretsmanagerSecretVersion:
        """Store a random value in `secret` at apply time: not in cdk.tf.json, not in state."""
        value = ephemeral_password(scope, f"{self._cfg.name}_{construct_id}", length)
        return SecretsmanagerSecretVersion(
            scope, construct_id,
            secret_id=secret.id,
            secret_string_wo=value,
            secret_string_wo_version=generation,  # changes -> Terraform writes a newly generated value
        )

    # ------------------------------------------------------------ internals
    def secret_name(self, name: str) -> str:
        return self._cfg.secret_name(name)

    def _secret(self, name: str, spec: Secret) -> SecretsmanagerSecret:
        description = spec.description
        if spec.keys:
            description = (description + " " if description else "") + f"(JSON keys: {', '.join(spec.keys)})"
        # ECR's service-linked role decrypts the Docker Hub login with the AWS-managed key only; a customer
        # key would need a key policy for that role, so that secret keeps aws/secretsmanager.
        customer_key = name != self._cfg.registry.docker_hub_secret
        secret = self.new_secret(self, f"secret_{name}", self.secret_name(name), description,
                                 spec.recovery_window_days, customer_key)
        if spec.generate:
            self.generate_value(self, f"value_{name}", secret, spec.length, spec.generation)
        # `keys` secrets get no version here: the values are set out of band (docs/data-and-secrets.md), never by Terraform.
        return secret

    def _kms_key(self, cfg: EnvConfig) -> str:
        account = DataAwsCallerIdentity(self, "account")
        partition = DataAwsPartition(self, "partition")
        # The account's default key policy: the account root administers the key and IAM policies decide
        # who may use it (the task execution roles get kms:Decrypt for this key only). The condition states what
        # the root principal already means, this account's principals only (as the alarm topic's key does), so
        # a policy scanner does not read kms:* on "*" (this key) as unconstrained.
        policy = DataAwsIamPolicyDocument(self, "kms_policy", statement=[DataAwsIamPolicyDocumentStatement(
            sid="AccountAdministersKeyAndDelegatesUseToIam",
            actions=["kms:*"],
            resources=["*"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                type="AWS", identifiers=[f"arn:{partition.partition}:iam::{account.account_id}:root"])],
            condition=[DataAwsIamPolicyDocumentStatementCondition(
                test="StringEquals", variable="aws:PrincipalAccount", values=[account.account_id])],
        )])
        key = KmsKey(
            self, "kms_key",
            description=f"{cfg.name}: Secrets Manager secrets, SSM SecureString parameters, Redis at rest",
            enable_key_rotation=True,
            deletion_window_in_days=DEFAULT_KMS_DELETION_WINDOW_DAYS,
            policy=policy.json,
        )
        KmsAlias(self, "kms_alias", name=f"alias/{cfg.name}/secrets", target_key_id=key.key_id)
        return key.arn
