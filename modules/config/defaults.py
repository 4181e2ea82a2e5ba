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
DEFAULT_GENERATED_SECRET_LENGTH = 48
DEFAULT_ECR_KEEP_LAST = 20
DEFAULT_ECR_UNTAGGED_EXPIRE_DAYS = 7
DEFAULT_KMS_DELETION_WINDOW_DAYS = 30  # longest AWS allows: a scheduled key deletion can still be cancelled
REDIS_AUTH_TOKEN_LENGTH = 64  # ElastiCache AUTH tokens are 16-128 printable characters
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
DEFAULT_VOLUME_CONCURRENT_WRITERS = False  # a volume has one writing task unless it says otherwise
DEFAULT_DNS_DISCOVERY = False  # Cloud Map DNS names only for services that need them
# failure alarms: a metric filter on a container's log group + an alarm on its count
METRIC_NAMESPACE = "{project}/{environment}"  # CloudWatch namespace of the stack's own metrics
DEFAULT_FAILURE_LOG_PATTERN = '"ERROR:"'  # CloudWatch Logs filter syntax: lines containing ERROR:
DEFAULT_FAILURE_ALARM_PERIOD = 3600  # seconds: a failed hourly run stays in ALARM until the next run
DEFAULT_FAILURE_ALARM_THRESHOLD = 1  # failure lines per period that raise the alarm
# CloudWatch alarms: a period of 10, 30 or a multiple of 60 s; period x evaluation periods <= 1 day
ALARM_PERIOD_RANGE = (60, 86400)
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
DEFAULT_ALB_ACCESS_LOG_RETENTION_DAYS = 90
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
DEFAULT_WAF_REDACTED_HEADERS = ("authorization", "cookie")  # credentials never reach the WAF logs
IMAGE_DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"  # an image manifest digest (OCI image spec)
DEFAULT_EGRESS_CIDRS = ("0.0.0.0/0",)  # an `egress` entry without cidrs: that port to the internet
SG_DESCRIPTION_PATTERN = r"^[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]*$"  # characters AWS accepts in rule descriptions
DEFAULT_GRAFANA_SERVICE = "grafana"
DEFAULT_GRAFANA_PORT = 3000
DEFAULT_GRAFANA_HEALTH_CHECK_PATH = "/api/health"
VPC_PREFIX_RANGE = (16, 28)  # the VPC sizes AWS accepts
MAX_GRAFANA_SOURCE_CIDRS = 4  # an ALB rule takes 5 condition values: 1 host + up to 4 source CIDRs
