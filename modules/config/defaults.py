"""Every default and AWS limit of the env-file schema, each a named constant defined once.

Models and constructs read these names; none invents a default of its own.
"""

DEFAULT_REGION = "us-east-1"
DEFAULT_AZ_COUNT = 2
MIN_AZ_COUNT = 2
# Default zones: the region's first az_count zone letters (<region>a, <region>b, ...), decided at synth, not
# re-derived from a data source on every plan. Letters map to different physical zones per account; zone
# ids (use1-az1) do not (EC2 user guide, "AZ IDs").
DEFAULT_AZ_LETTERS = "abcdef"
AZ_NAME_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$"  # us-east-1a
AZ_ID_PATTERN = r"^[a-z]{2,5}\d-az\d+$"  # use1-az1
DEFAULT_SUBNET_PREFIX = 20  # /20 = 4,091 usable addresses per subnet; awsvpc tasks use one IP each
DEFAULT_LOG_RETENTION_DAYS = 30
DEFAULT_FLOW_LOG_RETENTION_DAYS = 30
DEFAULT_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 + 1.2 only
DEFAULT_HEALTH_CHECK_PATH = "/healthz"
DEFAULT_HEALTH_CHECK_INTERVAL = 30
DEFAULT_TARGET_CAPACITY = 100  # managed scaling: keep instances fully used
DEFAULT_ROOT_VOLUME_GB = 30
DEFAULT_GENERAL_INSTANCE_TYPE = "m6i.xlarge"
DEFAULT_GPU_INSTANCE_TYPE = "g5.xlarge"  # g4dn.xlarge is the cheaper option
DEFAULT_CACHE_NODE_TYPE = "cache.t4g.micro"
DEFAULT_CACHE_ENGINE_VERSION = "7.1"
DEFAULT_CACHE_PORT = 6379
DEFAULT_DB_PORT = 5432
DEFAULT_SECRET_RECOVERY_DAYS = 7
DEFAULT_SECRET_EXISTING = False  # secrets are created by the stack unless marked existing (created out of band)
DEFAULT_GENERATED_SECRET_LENGTH = 48
DEFAULT_ECR_KEEP_LAST = 20
DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS = 7
DEFAULT_KMS_DELETION_WINDOW_DAYS = 30  # longest AWS allows: a scheduled key deletion can still be cancelled
REDIS_AUTH_TOKEN_LENGTH = 64  # ElastiCache AUTH tokens are 16-128 printable characters
# The secrets the stack itself creates with a cache, named like the env file's (<project>-<environment>/<name>)
CACHE_AUTH_TOKEN_SECRET = "redis-auth-token"
CACHE_URL_SECRET = "redis-url"
SECRET_RECOVERY_WINDOWS = "0 (delete at once) or 7-30"  # what Secrets Manager accepts
# ECR pull-through cache: upstream name -> (registry host, credentials needed). Docker Hub needs a
# Secrets Manager secret whose name starts with `ecr-pullthroughcache/`; the others are anonymous.
PULL_THROUGH_UPSTREAMS: dict[str, tuple[str, bool]] = {
    "docker-hub": ("registry-1.docker.io", True),
    "ecr-public": ("public.ecr.aws", False),
    "quay": ("quay.io", False),
    "k8s": ("registry.k8s.io", False),
}
DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
PULL_THROUGH_SECRET_PREFIX = "ecr-pullthroughcache/"  # the only secrets ECR's pull-through service role may read
DOCKER_HUB_SECRET_KEYS = ["accessToken", "username"]  # the keys ECR reads from the credentials secret
PULL_THROUGH_PREFIX_MAX = 30  # ECR's limit on a rule's repository prefix
SSM_STANDARD_VALUE_MAX = 4096  # characters in a Standard-tier SSM parameter value
CACHE_ID_MAX = 40  # ElastiCache replication group ids: <= 40 characters, no '--'
CACHE_ID_SUFFIX = "-redis"
DEFAULT_SERVICE_CONNECT_NAMESPACE = "{project}-{environment}.local"
DEFAULT_IMAGE_TAG_ENV_VAR = "ARAQUEM_IMAGE_TAG"
DEFAULT_TFC_HOSTNAME = "app.terraform.io"
DEFAULT_HEALTH_START_PERIOD = 30
DEFAULT_HEALTH_INTERVAL = 30
DEFAULT_HEALTH_TIMEOUT = 5
DEFAULT_HEALTH_RETRIES = 3
DEFAULT_CPU_TARGET_PERCENT = 70
# workloads
# Service Connect timeouts (ECS API TimeoutConfiguration): AWS's own when a port sets none; 0 disables one.
# perRequestTimeout only for HTTP/HTTP2/gRPC ports; when idleTimeout is below it, idle closes first.
SERVICE_CONNECT_PER_REQUEST_TIMEOUT = 15  # seconds, HTTP/HTTP2/gRPC
SERVICE_CONNECT_IDLE_TIMEOUT = {"http": 300, "http2": 300, "grpc": 300, "tcp": 3600}  # seconds
SERVICE_CONNECT_TIMEOUT_MAX = 2147483647  # the API's maximum for both
# Timeouts derived from the call pattern (modules/config/timeouts.py) when the env file sets none. AWS's rules
# they obey: Service Connect cuts an HTTP/HTTP2/gRPC request after 15 s and closes a connection idle 300 s (tcp:
# 3600 s) unless the called port's TimeoutConfiguration says otherwise (ECS API reference, TimeoutConfiguration:
# perRequestTimeoutSeconds, idleTimeoutSeconds; 0 disables one; an idle timeout below the per-request one
# closes the connection first); an ALB's idle timeout is 1-4000 s, 60 by default, and its targets should keep
# idle connections open longer than it, or the ALB may reuse one the target just closed: a 502 (ELB user
# guide, "Edit attributes for your Application Load Balancer", Connection idle timeout).
# An inference server (a GPU service, or an image of INFERENCE_SERVER_IMAGES) answers after a cold model
# load from EFS plus a generation queued behind its parallel slots: minutes for an 8B model, not 15 s.
INFERENCE_REQUEST_TIMEOUT = 600  # seconds: per-request and idle on its ports, and on its callers' ports
INFERENCE_SERVER_IMAGES = (  # public images (repository, without tag) that serve LLM generations over HTTP
    "ollama/ollama", "vllm/vllm-openai", "ghcr.io/huggingface/text-generation-inference", "localai/localai",
)
# Grafana's datasource queries run through its data proxy, which gives up after [dataproxy] timeout = 30 s
# (Grafana's defaults.ini; GF_DATAPROXY_TIMEOUT overrides it): the ports Grafana queries wait that long.
GRAFANA_DATAPROXY_TIMEOUT = 30
GRAFANA_DATAPROXY_TIMEOUT_VARIABLE = "GF_DATAPROXY_TIMEOUT"
# The ALB's backend keeps idle connections this much longer than the ALB's idle timeout (AWS: larger than it):
# Service Connect's idle timeout on an ALB target port, and the api's own HTTP keep-alive.
ALB_BACKEND_KEEP_ALIVE_MARGIN = 60  # seconds
# The seed's api is FastAPI/Uvicorn; uvicorn's CLI reads each option from UVICORN_<OPTION> (click's
# auto_envvar_prefix) and keeps idle connections only 5 s by default, far below any ALB idle timeout.
# The generator sets it on the ALB target's container unless the env file does; other servers ignore it.
UVICORN_KEEP_ALIVE_VARIABLE = "UVICORN_TIMEOUT_KEEP_ALIVE"
UVICORN_DEFAULT_KEEP_ALIVE = 5
# A sidecar is a loop (periodic work of its own: compose's crons next to the api) unless it serves ports: it
# runs once per task, so a host with several tasks runs it several times per interval (`Service.loop`).
DEFAULT_SIDECAR_LOOP_WITHOUT_PORTS = True
DEFAULT_VOLUME_CONCURRENT_WRITERS = False  # a volume has one writing task unless it says otherwise
DEFAULT_DNS_DISCOVERY = False  # Cloud Map DNS names only for services that need them
# failure alarms: a metric filter on a container's log group + an alarm on its count
METRIC_NAMESPACE = "{project}/{environment}"  # CloudWatch namespace of the stack's own metrics
DEFAULT_FAILURE_LOG_PATTERN = '"ERROR:"'  # CloudWatch Logs filter syntax: lines containing ERROR:
DEFAULT_FAILURE_ALARM_PERIOD = 3600  # seconds: a failed hourly run stays in ALARM until the next run
DEFAULT_FAILURE_ALARM_THRESHOLD = 1  # failure lines per period that raise the alarm
# CloudWatch alarms: a period of 10, 30 or a multiple of 60 s; period x evaluation periods <= 1 day
ALARM_PERIOD_RANGE = (60, 86400)
# where every alarm of the stack notifies (env file `alarms`, modules/notifications.py)
DEFAULT_ALARM_CREATE_TOPIC = True  # an SNS topic `<project>-<environment>-alarms`, encrypted with its own KMS key
DEFAULT_ALARM_NOTIFY_OK = True  # the same targets hear when an alarm clears
# SNS Subscribe protocols the env file may name (SNS API reference, Subscribe: the others are for
# mobile apps, Firehose or SMS, which need set-up outside this stack)
ALARM_SUBSCRIPTION_PROTOCOLS = ("email", "email-json", "https", "sqs", "lambda")
SNS_TOPIC_ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:sns:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
# scheduled tasks (modules/schedule_failures.py): what makes a failed run an alarm
SCHEDULER_DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, the longest SQS keeps a message (SetQueueAttributes)
SCHEDULER_ALARM_PERIOD = 300  # seconds; AWS/Scheduler metrics are published per minute
DEFAULT_EFS_THROUGHPUT_MODE = "elastic"  # pay per use; bursting starves a small file system (model loads)
DEFAULT_SCHEDULE_TIMEZONE = "UTC"  # EventBridge Scheduler's own default, stated
# off-hours window of a capacity provider (its instances and the services on it run only inside it)
DEFAULT_OFF_HOURS_TIMEZONE = "UTC"  # ASG and Application Auto Scaling scheduled actions default to UTC too
DEFAULT_OFF_HOURS_DAYS = "mon-fri"
DEFAULT_OFF_HOURS_START = "08:00"
DEFAULT_OFF_HOURS_STOP = "20:00"
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's day-of-week order: 0 = Sunday
CLOCK_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
# Tasks started by run-task / EventBridge Scheduler are outside the Service Connect mesh; the services
# they depend on are also registered as DNS names `<service>.<this namespace>` (Cloud Map private DNS).
DEFAULT_DISCOVERY_DNS_NAMESPACE = "{project}-{environment}.internal"
# ECS deployment (minimum healthy %, maximum %): rolling starts the new task before stopping the old;
# replace stops the old first: for a service that writes a persistent volume (two Prometheus/Tempo on
# one data directory corrupt it) or holds a GPU (max_size GPU instances leave no room for a second task).
ROLLING_DEPLOYMENT = (100, 200)
REPLACE_DEPLOYMENT = (0, 100)
# network and edge
# Interface endpoints per env-file switch (network.endpoints.<switch>), as AWS service suffixes; each puts
# one ENI (one address) in every private subnet.
INTERFACE_ENDPOINT_SERVICES: dict[str, tuple[str, ...]] = {
    "ecr": ("ecr.api", "ecr.dkr"),
    "logs": ("logs",),
    "secretsmanager": ("secretsmanager",),
    "ssm": ("ssm",),
    # the container instances' ECS agent: all three, or its traffic stays on the public endpoints
    # (ECS developer guide, "Amazon ECS interface VPC endpoints")
    "ecs": ("ecs", "ecs-agent", "ecs-telemetry"),
    # the SSM agent's Session Manager channel (Systems Manager user guide, "VPC endpoints")
    "session_manager": ("ec2messages", "ssmmessages"),
}
# Interface endpoints whose service guide documents endpoint policies (ECR, CloudWatch Logs, Secrets
# Manager, Systems Manager API); the ECS guide says its endpoints take none, and the Session Manager
# channel's are not documented: they keep the default policy (modules/network.py).
ENDPOINT_POLICY_SERVICES = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "ssm")
# What the private subnets read through the S3 gateway endpoint (its policy allows nothing else):
# ECR's image layers (ECR user guide, "Minimum Amazon S3 bucket permissions for Amazon ECR") and the
# Amazon Linux 2023 package repositories the ECS-optimized AMIs use (AL2023 user guide, "Using Amazon
# Linux 2023 with S3 gateway endpoints"); {region} is the stack's.
S3_ENDPOINT_AWS_BUCKETS = ("prod-{region}-starport-layer-bucket", "al2023-repos-{region}-de612dc2")
DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS = 90
LB_NAME_MAX = 32  # ALB and target group names (ELBv2 CreateLoadBalancer/CreateTargetGroup: at most 32 characters)
DEFAULT_ALB_IDLE_TIMEOUT = 60  # seconds: AWS's default for an ALB (attribute idle_timeout.timeout_seconds)
ALB_IDLE_TIMEOUT_RANGE = (1, 4000)  # what the ALB accepts
ALB_ACCESS_LOG_ABORTED_UPLOAD_DAYS = 1  # days until incomplete multipart uploads to the ALB log bucket are dropped
# AWS WAF (alb.waf). Rate-based rules: limit 10-2,000,000,000 requests per IP per evaluation window of
# 60, 120, 300 or 600 seconds (AWS WAF developer guide, "Rate-based rule statement").
DEFAULT_WAF_RATE_LIMIT = 1000  # per IP per window: ~3 requests/s sustained, far above one user of the api
DEFAULT_WAF_RATE_WINDOW_SECONDS = 300
WAF_RATE_LIMIT_RANGE = (10, 2_000_000_000)
WAF_RATE_WINDOWS = (60, 120, 300, 600)
DEFAULT_WAF_MANAGED_RULE_GROUPS: dict[str, list[str]] = {
    "AWSManagedRulesCommonRuleSet": [],          # OWASP-style baseline (700 WCU)
    "AWSManagedRulesKnownBadInputsRuleSet": [],  # Log4j, exploit payloads (200 WCU)
}
DEFAULT_WAF_LOG_RETENTION_DAYS = 30
# credentials never reach the WAF logs: the api's ops token header (QUALITY_TOKEN_HEADER in envs/*.yaml) too
DEFAULT_WAF_REDACTED_HEADERS = ("authorization", "cookie", "x-ops-token")
IMAGE_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"  # an image manifest digest (OCI image spec)
DEFAULT_EGRESS_CIDRS = ("0.0.0.0/0",)  # an `egress` entry without cidrs: that port to the internet
SG_DESCRIPTION_PATTERN = r"^[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]*$"  # characters AWS accepts in rule descriptions
DEFAULT_GRAFANA_SERVICE = "grafana"
DEFAULT_GRAFANA_PORT = 3000
DEFAULT_GRAFANA_HEALTH_CHECK_PATH = "/api/health"
VPC_PREFIX_RANGE = (16, 28)  # the VPC sizes AWS accepts
MAX_GRAFANA_SOURCE_CIDRS = 4  # an ALB rule takes 5 condition values: 1 host + up to 4 source CIDRs

# ---------------------------------------------------------------- AWS limits the validation checks against
# AWS Regions by code (AWS General Reference, "AWS Regions and endpoints"; as listed 2025-10, including the
# opt-in Regions, the China partition and GovCloud). A new Region is one line here.
AWS_REGIONS_AS_OF = "2025-10"
AWS_REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1",
    "cn-north-1", "cn-northwest-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2",
    "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
    "sa-east-1", "us-east-1", "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-west-1", "us-west-2",
)


def partition_of(region: str) -> str:
    """The ARN partition a Region belongs to (aws, aws-cn, aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# CloudWatch Logs PutRetentionPolicy: retentionInDays takes only these values (API reference).
LOG_RETENTION_DAYS_ALLOWED = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                              2192, 2557, 2922, 3288, 3653)
# Tags (AWS "Tagging AWS resources" best practices/limits): key 1-128, value 0-256 Unicode characters of
# letters, digits, spaces and _ . : / = + - @; the `aws:` prefix is reserved for AWS.
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_CHARACTERS = r"[\w .:/=+\-@]*"  # the whole value (re.fullmatch): no trailing newline
TAG_RESERVED_PREFIX = "aws:"
# At most 50 user tags per resource; the stack adds Project and Environment to every resource and Name/Tier
# to some, which leaves 46 for the env file's `tags`.
TAGS_PER_RESOURCE_MAX = 50
STACK_TAG_KEYS = ("Project", "Environment", "Name", "Tier")
# ECS CreateCapacityProvider: a name cannot start with "aws", "ecs" or "fargate".
RESERVED_CAPACITY_PROVIDER_PREFIXES = ("aws", "ecs", "fargate")
# ECS HealthCheck (API reference, container definitions): interval 5-300 s, timeout 2-60 s, retries 1-10,
# startPeriod 0-300 s.
ECS_HEALTH_INTERVAL_RANGE = (5, 300)
ECS_HEALTH_TIMEOUT_RANGE = (2, 60)
ECS_HEALTH_RETRIES_RANGE = (1, 10)
ECS_HEALTH_START_PERIOD_RANGE = (0, 300)
# ELB target group health check (CreateTargetGroup): interval 5-300 s, timeout 2-120 s, and the timeout
# must be shorter than the interval; 5 s is ELB's default timeout for target type ip over HTTP.
ALB_HEALTH_INTERVAL_RANGE = (5, 300)
ALB_HEALTH_TIMEOUT_RANGE = (2, 120)
DEFAULT_ALB_HEALTH_CHECK_TIMEOUT = 5
# ECS task-level CPU on EC2: 128 (0.125 vCPU) to 196608 units (RegisterTaskDefinition `cpu`).
ECS_TASK_CPU_MIN_UNITS = 128
# ECS RegisterTaskDefinition: a task definition is at most 64 KiB (ECS service quotas, "Task definition size").
TASK_DEFINITION_MAX_BYTES = 64 * 1024
# ECS portMappings `name` (and the Service Connect discovery name): up to 64 lowercase letters, digits,
# underscores and hyphens, not starting with a hyphen.
PORT_NAME_MAX = 64
PORT_NAME_PATTERN = r"^[a-z0-9_][a-z0-9_-]{0,63}$"
# Subnets (VPC user guide, "Subnet CIDR blocks"): AWS reserves 5 addresses in every subnet; an ALB needs
# subnets of at least /27 with at least 8 free addresses each (ELB user guide, "Subnets for your load balancer").
SUBNET_RESERVED_ADDRESSES = 5
ALB_MIN_SUBNET_PREFIX = 27
ALB_MIN_FREE_ADDRESSES = 8
# ElastiCache node types (ElastiCache user guide, "Supported node types"; current generation, as listed 2025-10).
ELASTICACHE_NODE_TYPES_AS_OF = "2025-10"
ELASTICACHE_NODE_TYPES = tuple(
    f"cache.{family}.{size}"
    for family, sizes in {
        "t3": ("micro", "small", "medium"),
        "t4g": ("micro", "small", "medium"),
        "m5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
        "m6g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
        "m7g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
        "r5": ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge"),
        "r6g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
        "r7g": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
        "r6gd": ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
        "c7gn": ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"),
    }.items()
    for size in sizes
)
# ElastiCache engine versions this stack can create, per engine (ElastiCache user guide, "Supported engines
# and versions", as listed 2025-10; Terraform takes major.minor from 6 on). The stack sets
# TransitEncryptionMode=required, which CreateReplicationGroup accepts from Redis OSS 7.0.5 on, so older
# Redis OSS versions (4.0.10, 5.0.6, 6.x) are left out; every Valkey version takes it.
CACHE_ENGINE_VERSIONS = {
    "redis": ("7.0", "7.1"),
    "valkey": ("7.2", "8.0", "8.1"),
}
DEFAULT_CACHE_ENGINE = "redis"
# Lengths of generated names (each resource's API reference): IAM role 64, EventBridge Scheduler schedule
# 64, EFS creation token 64, ECS service / task family / capacity provider 255, CloudWatch log group 512.
IAM_ROLE_NAME_MAX = 64
SCHEDULE_NAME_MAX = 64
EFS_CREATION_TOKEN_MAX = 64
ECS_NAME_MAX = 255
LOG_GROUP_NAME_MAX = 512
SCHEDULE_GROUP_NAME_MAX = 64  # EventBridge Scheduler CreateScheduleGroup
EVENT_RULE_NAME_MAX = 64  # EventBridge PutRule
SQS_QUEUE_NAME_MAX = 80  # SQS CreateQueue
DNS_LABEL_MAX = 63  # RFC 1035 labels; Cloud Map private DNS namespaces are DNS names
DNS_NAME_MAX = 253
# domain (alb.domain): host names relative to the Route 53 zone
DEFAULT_API_RECORD = "api"
DEFAULT_GRAFANA_RECORD = "grafana"
DNS_VALIDATION_RECORD_TTL = 60  # seconds; ACM only needs the CNAME to exist (terraform-aws-acm uses 60 too)

# ---------------------------------------------------------------- AWS limits the API models do not carry
# (rules/aws_limits.py; each rule's docstring cites its page)
ALB_RESERVED_NAME_PREFIX = "internal-"  # ELB CreateLoadBalancer: a name must not begin with "internal-"
# S3 general purpose bucket naming rules: reserved prefixes and suffixes
S3_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
ACM_FIRST_DOMAIN_MAX_OCTETS = 64  # ACM RequestCertificate: the first domain name, periods included
ALB_MATCHER_CODE_RANGE = (200, 499)  # ELB Matcher HttpCode for an Application Load Balancer's HTTP checks
ECS_IMAGE_MAX = 255  # ECS ContainerDefinition image: up to 255 characters
SSM_PARAMETER_ARN_MAX = 1011  # SSM PutParameter: a parameter's name, with its full ARN
SECURITY_GROUP_RULES_MAX = 60  # VPC quota: inbound (and, separately, outbound) rules per security group, default
# ALB predefined TLS security policies (ELB user guide, "Security policies for your Application Load Balancer";
# as listed 2025-10). ALBs take no custom policy. A new policy is one line here.
ALB_TLS_POLICIES_AS_OF = "2025-10"
ALB_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09", "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-1-2021-06", "ELBSecurityPolicy-TLS13-1-0-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04",
    "ELBSecurityPolicy-FS-1-2-Res-2020-10", "ELBSecurityPolicy-FS-1-2-Res-2019-08", "ELBSecurityPolicy-FS-1-2-2019-08",
    "ELBSecurityPolicy-FS-1-1-2019-08", "ELBSecurityPolicy-FS-2018-06",
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-1-2017-01",
    "ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS-1-0-2015-04", "ELBSecurityPolicy-2015-05",
)
# AWS WAF managed rule groups of vendor AWS (WAF developer guide, "AWS Managed Rules rule groups list";
# as listed 2025-10). A new group is one line here.
WAF_MANAGED_RULE_GROUPS_AS_OF = "2025-10"
WAF_MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet", "AWSManagedRulesAdminProtectionRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesLinuxRuleSet", "AWSManagedRulesUnixRuleSet",
    "AWSManagedRulesWindowsRuleSet", "AWSManagedRulesPHPRuleSet", "AWSManagedRulesWordPressRuleSet",
    "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList", "AWSManagedRulesBotControlRuleSet",
    "AWSManagedRulesATPRuleSet", "AWSManagedRulesACFPRuleSet", "AWSManagedRulesAntiDDoSRuleSet",
)

# The tag of the images another repository builds while no release is recorded (registry.app_image_tag unset):
# the same for every commit, so a commit of this repository restarts nothing; never pushed, so the deploy
# workflow and preflight refuse to deploy it (docs/delivery.md, "First deploy").
APP_IMAGE_UNRELEASED_TAG = "unreleased"

# ---------------------------------------------------------------- edge: public paths, WAF for prompts, Grafana
# alb.public_paths: the api's path prefixes the public listener forwards; everything else gets a fixed 404.
# The app's routes live in the app repository; the default is its health check (alb.health_check.path, for
# uptime checks, added by Alb.public_path_prefixes()) plus the FastAPI convention of a router under /api.
DEFAULT_PUBLIC_API_PATHS = ("/api",)
# Paths the api serves to the stack only: Prometheus scrapes /metrics, the crons call /ops/* (by DNS, not
# through the ALB). No public prefix may cover one of them (docs/edge.md "Only public paths public").
API_PRIVATE_PATHS = ("/metrics", "/ops")
ALB_NOT_FOUND_BODY = "not found"
# ELB quotas ("Quotas for your Application Load Balancers", Rules): 100 rules per ALB besides the default
# ones, 5 condition values and 5 wildcards per rule. A prefix takes two path-pattern values (`/p`, `/p/*`).
ALB_RULES_MAX = 100
ALB_RULE_CONDITION_VALUES_MAX = 5
ALB_RULE_WILDCARDS_MAX = 5
PUBLIC_PATH_RULE_PRIORITY_START = 100  # after Grafana's host rule (10)
# AWSManagedRulesCommonRuleSet rules that inspect the request body (AWS WAF developer guide, "Baseline rule
# groups", core rule set), each with the label it adds. On a prompt API they match prompts holding code,
# file paths, URLs or long RAG context: they count (and label) instead of blocking, and a rule after the
# group blocks their labels outside waf.prompt_paths.
WAF_COMMON_RULE_SET = "AWSManagedRulesCommonRuleSet"
WAF_CORE_RULE_SET_LABEL = "awswaf:managed:aws:core-rule-set:"
WAF_COMMON_BODY_RULES = {
    "CrossSiteScripting_BODY": "CrossSiteScripting_Body",
    "GenericLFI_BODY": "GenericLFI_Body",
    "GenericRFI_BODY": "GenericRFI_Body",
    "EC2MetaDataSSRF_BODY": "EC2MetaDataSSRF_Body",
    "SizeRestrictions_BODY": "SizeRestrictions_Body",
}
WAF_IP_REPUTATION_GROUP = "AWSManagedRulesAmazonIpReputationList"  # 25 WCU: known bots and threat actors
DEFAULT_WAF_IP_REPUTATION = True
# Grafana: which images are Grafana (public repository names; a docker/ build FROM one of them is too)
GRAFANA_IMAGE_REPOSITORIES = ("grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise")
GRAFANA_ADMIN_SECRET_SUFFIX = "admin-password"  # secret <service>-admin-password, generated
GRAFANA_ADMIN_PASSWORD_LENGTH = 32
GRAFANA_ADMIN_PASSWORD_VAR = "GF_SECURITY_ADMIN_PASSWORD"
GRAFANA_OAUTH_CLIENT_SECRET_VAR = "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"
DEFAULT_GRAFANA_OIDC_SCOPES = "openid email profile"
# ---------------------------------------------------------------- alarms on what users feel (modules/service_alarms.py)
# Each: (period s, evaluation periods, threshold). Why these numbers: docs/observability.md "The alarms".
# ALB 5XX (its own 502/503/504, or the api's 5xx): a deploy or a task the circuit breaker replaces makes a few;
# 10 in 5 minutes (one every 30 s, sustained) is users failing, not a blip.
ALB_5XX_ALARM = (300, 1, 10)
# A target failing its health check for 5 minutes straight: the ALB marks it after 3 x 30 s and ECS replaces
# it within a couple of minutes; a deploy's new task is `initial`, not unhealthy. Still there at 5: not healing.
UNHEALTHY_HOSTS_ALARM = (60, 5, 1)
# A service short of a task for 15 minutes: the slowest legitimate start is the GPU one after off-hours
# (instance boot ~5 min, then the ollama image pull and start) or ollama's replace deployment (old task
# stopped first). Needs Container Insights (ECS/ContainerInsights RunningTaskCount, DesiredTaskCount).
BELOW_DESIRED_ALARM = (60, 15, 1)
# The GPU Auto Scaling group wants an instance it does not have in service for 20 minutes: a g5 boots in ~5;
# the ASG keeps retrying InsufficientInstanceCapacity, and after 20 minutes the LLM stays down until a person
# picks another instance type or zone. Off-hours its desired capacity is 0, so nothing is missing.
GPU_NOT_IN_SERVICE_ALARM = (60, 20, 1)
# Auto Scaling group metrics the GPU alarm reads (free at 1-minute granularity, EC2 Auto Scaling user guide)
ASG_GROUP_METRICS = ("GroupDesiredCapacity", "GroupInServiceInstances")
