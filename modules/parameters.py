"""SSM Parameter Store: non-secret per-environment configuration under /<project>/<environment>/.

Tasks read the parameters through `secrets[].valueFrom`, so changing a value needs a new task, not a
new synth. Plain `String` parameters keep their values visible in `terraform plan` (PR comments show
what changes); with `secrets_kms: true` they become `SecureString` under the customer-managed key.
"""

from __future__ import annotations

import re

from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter
from constructs import Construct

from modules.config import EnvConfig
from modules.secrets import Secrets


class Parameters(Construct):
    """One SSM parameter per `cfg.parameters` entry; other constructs add theirs with `define`."""

    def __init__(self, scope: Construct, construct_id: str, cfg: EnvConfig, secrets: Secrets):
        super().__init__(scope, construct_id)
        self._cfg = cfg
        self._kms_key_arn = secrets.kms_key_arn
        self._parameters: dict[str, SsmParameter] = {}
        for key, value in cfg.parameters.items():
            self.define(key, value, f"{cfg.name}: {key} (env file parameters.{key})")

    def arn(self, key: str) -> str:
        return self._parameters[key].arn

    def name(self, key: str) -> str:
        return self._cfg.parameter_prefix + key

    def define(self, key: str, value: str, description: str) -> str:
        """A parameter `<prefix><key>` (key may contain `/`); returns its ARN for `valueFrom`."""
        secure = self._kms_key_arn is not None
        parameter = SsmParameter(
            self, "param_" + re.sub(r"[^A-Za-z0-9_]", "_", key),
            name=self.name(key),
            description=description,
            type="SecureString" if secure else "String",
            key_id=self._kms_key_arn if secure else None,
            # `insecure_value` is the same value, shown in plans; SecureString must use `value`.
            value=value if secure else None,
            insecure_value=None if secure else value,
            tier="Standard",
        )
        self._parameters[key] = parameter
        return parameter.arn
