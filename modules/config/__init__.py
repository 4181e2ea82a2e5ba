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

from modules.config import capacity, rules
from modules.config.alarms import AlarmSubscription, Alarms
from modules.config.base import (
    ENV_VAR_PATTERN,
    NAME_PATTERN,
    PORT_RANGE,
    Cidr,
    CrossFieldErrors,
    EnvVarName,
    Name,
    Port,
    Problem,
    Strict,
)
from modules.config.compute import CapacityProvider, Cluster, OffHours
from modules.config.data import Cache, Database, DatabaseEnv, Logs, RecoveryWindow, Secret, Volume
from modules.config.defaults import (
    ALARM_PERIOD_RANGE,
    ALB_IDLE_TIMEOUT_RANGE,
    DEFAULT_ALB_IDLE_TIMEOUT,
    DEFAULT_DNS_DISCOVERY,
    DEFAULT_FAILURE_ALARM_PERIOD,
    DEFAULT_FAILURE_ALARM_THRESHOLD,
    DEFAULT_FAILURE_LOG_PATTERN,
    DEFAULT_VOLUME_CONCURRENT_WRITERS,
    METRIC_NAMESPACE,
    SERVICE_CONNECT_IDLE_TIMEOUT,
    SERVICE_CONNECT_PER_REQUEST_TIMEOUT,
    SERVICE_CONNECT_TIMEOUT_MAX,
    ALB_ACCESS_LOG_ABORTED_UPLOAD_DAYS,
    LB_NAME_MAX,
    CACHE_ID_MAX,
    CACHE_ID_SUFFIX,
    DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS,
    DEFAULT_API_RECORD,
    DEFAULT_AZ_COUNT,
    DEFAULT_CACHE_ENGINE_VERSION,
    DEFAULT_CACHE_NODE_TYPE,
    DEFAULT_CACHE_PORT,
    DEFAULT_CPU_TARGET_PERCENT,
    DEFAULT_DB_PORT,
    DEFAULT_DISCOVERY_DNS_NAMESPACE,
    DEFAULT_ECR_KEEP_LAST,
    DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS,
    DEFAULT_EFS_THROUGHPUT_MODE,
    DEFAULT_FLOW_LOG_RETENTION_DAYS,
    DEFAULT_GENERAL_INSTANCE_TYPE,
    DEFAULT_GENERATED_SECRET_LENGTH,
    DEFAULT_GPU_INSTANCE_TYPE,
    DEFAULT_GRAFANA_HEALTH_CHECK_PATH,
    DEFAULT_GRAFANA_PORT,
    DEFAULT_GRAFANA_RECORD,
    DEFAULT_GRAFANA_SERVICE,
    DEFAULT_HEALTH_CHECK_INTERVAL,
    DEFAULT_HEALTH_CHECK_PATH,
    DEFAULT_HEALTH_INTERVAL,
    DEFAULT_HEALTH_RETRIES,
    DEFAULT_HEALTH_START_PERIOD,
    DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_IMAGE_TAG_ENV_VAR,
    DEFAULT_KMS_DELETION_WINDOW_DAYS,
    DEFAULT_LOG_RETENTION_DAYS,
    DEFAULT_REGION,
    DEFAULT_ROOT_VOLUME_GB,
    DEFAULT_SCHEDULE_TIMEZONE,
    DEFAULT_SECRET_EXISTING,
    DEFAULT_SECRET_RECOVERY_DAYS,
    DEFAULT_SERVICE_CONNECT_NAMESPACE,
    DEFAULT_SUBNET_PREFIX,
    DEFAULT_TARGET_CAPACITY,
    DEFAULT_TFC_HOSTNAME,
    DEFAULT_TLS_POLICY,
    DEFAULT_WAF_LOG_RETENTION_DAYS,
    DEFAULT_WAF_MANAGED_RULE_GROUPS,
    DEFAULT_WAF_RATE_LIMIT,
    DEFAULT_WAF_RATE_WINDOW_SECONDS,
    DEFAULT_WAF_REDACTED_HEADERS,
    DNS_VALIDATION_RECORD_TTL,
    DOCKER_HUB_HOSTS,
    DOCKER_HUB_SECRET_KEYS,
    INTERFACE_ENDPOINT_SERVICES,
    MAX_GRAFANA_SOURCE_CIDRS,
    MIN_AZ_COUNT,
    PULL_THROUGH_PREFIX_MAX,
    PULL_THROUGH_SECRET_PREFIX,
    PULL_THROUGH_UPSTREAMS,
    REDIS_AUTH_TOKEN_LENGTH,
    REPLACE_DEPLOYMENT,
    ROLLING_DEPLOYMENT,
    SECRET_RECOVERY_WINDOWS,
    SSM_STANDARD_VALUE_MAX,
    VPC_PREFIX_RANGE,
)
from modules.config.edge import Alb, AlbHealthCheck, AlbTarget, Domain, GrafanaExposure, Oidc, TerraformCloud, Waf
from modules.config.env import EnvConfig
from modules.config.loading import ConfigError, load
from modules.config.network import Endpoints, FlowLogs, Network
from modules.config.registry import Registry, pull_through_source
from modules.config.services import (
    EgressRule,
    HealthCheck,
    Image,
    Kind,
    PortMapping,
    Scaling,
    Service,
    VolumeMount,
    _names_list_or_map,  # noqa: F401  (modules/reference.py recognises this short form)
)
