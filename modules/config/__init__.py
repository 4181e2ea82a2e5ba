"""The one config schema: an env file (envs/<name>.yaml) validated into typed objects.

Layout (one concern per module):
  defaults.py   every default and AWS limit, a named constant defined once
  base.py       the strict base model, name/port/CIDR types, error locations
  kinds.py      one validator per kind of value: tags, ARNs by service, security group ids, secret names
  network.py    network: VPC, subnets, NAT, flow logs, endpoints
  edge.py       alb (Grafana exposure, OIDC) and terraform_cloud
  compute.py    cluster and its capacity providers
  services.py   services: image, ports, volume mounts, health check, scaling, kind
  data.py       cache, database, secrets, volumes, logs
  registry.py   registry (ECR, pull-through cache)
  alarms.py     alarms: where every alarm of the stack notifies (SNS topics, subscriptions)
  env.py        EnvConfig: the whole file and its derived views; runs the rules
  rules/        cross-field rules, small named functions by concern, registered in rules.RULES
  aws_shapes.py field -> AWS API member, and the members' constraints (aws_shapes.json, from botocore's models)
  capacity.py   instance specs and the capacity fit (one of the rules)
  loading.py    load(): file reading, YAML, error collection and rendering (ConfigError)

Constructs read these objects and never invent defaults of their own. The package imports only
pydantic and PyYAML, so bad input is reported in well under a second, before jsii starts.
"""

# What callers import from the package: the loader, the validated config and the service types. Every other
# name lives in its submodule and is imported from there (modules.config.defaults, .base, ...). Importing
# `rules` registers the cross-field rules with EnvConfig's validation (env.register_rules).
from modules.config import capacity, rules  # noqa: F401  (rules: registers itself; capacity: the fit, a view)
from modules.config.env import EnvConfig
from modules.config.loading import ConfigError, load
from modules.config.services import Kind, Service

__all__ = ["ConfigError", "EnvConfig", "Kind", "Service", "capacity", "load", "rules"]
