"""The IAM roles of one task: the execution role (ECS agent) and the task role (the containers).

Each role trusts ECS through a DataAwsIamPolicyDocument and carries one inline least-privilege policy:
  execution role -> write its own log groups, pull its own images (and public ones through the ECR
                    cache), read exactly the secrets/parameters its containers reference, decrypt them
                    only via those stores when a customer-managed key protects them
  task role      -> mount exactly its EFS access points (write/root only where the env file asks)
The resources are created in the Workload's scope (ids as before: execution_trust, execution_role, ...).
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.config.registry import pull_through_source
from modules.task_owner import TaskOwner, WorkloadDeps
from modules.task_secrets import SecretRef

ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
ECR_PULL_ACTIONS = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def statement(sid: str, actions: list[str], resources: list[str], conditions=None) -> DataAwsIamPolicyDocumentStatement:
    """An Allow statement (actions sorted, so two synths are byte-identical)."""
    return DataAwsIamPolicyDocumentStatement(
        sid=sid, effect="Allow", actions=sorted(actions), resources=resources, condition=conditions or None
    )


def condition(test: str, variable: str, values: list[str]) -> DataAwsIamPolicyDocumentStatementCondition:
    return DataAwsIamPolicyDocumentStatementCondition(test=test, variable=variable, values=values)


def assume_role_policy(scope: Construct, deps: WorkloadDeps, principal: str, doc_id: str,
                       source_arn: tuple[str, str] | None = None) -> str:
    """A trust policy for an AWS service principal, limited to this account's callers when known.

    `source_arn`: (condition operator, ARN pattern) the service passes as aws:SourceArn, where its guide
    documents one (ECS task role: any ECS resource of this account and Region; Scheduler: the schedule group)."""
    conditions = None
    if deps.account_id is not None:
        # confused-deputy guard: only this account's tasks/schedules may assume the role. ECS sets
        # aws:SourceAccount both when it starts a task (execution role) and for the task's containers
        # (task role); the ECS developer guide recommends it on both ("Task execution IAM role",
        # "Task IAM role"), and aws:SourceArn on the task role only.
        conditions = [condition("StringEquals", "aws:SourceAccount", [deps.account_id])]
        if source_arn:
            conditions.append(condition(source_arn[0], "aws:SourceArn", [source_arn[1]]))
    doc = DataAwsIamPolicyDocument(
        scope,
        doc_id,
        statement=[
            DataAwsIamPolicyDocumentStatement(
                effect="Allow",
                actions=["sts:AssumeRole"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="Service", identifiers=[principal])],
                condition=conditions,
            )
        ],
    )
    return doc.json


def execution_role(scope: Construct, task: TaskOwner, log_groups: Mapping[str, CloudwatchLogGroup],
                   secret_refs: Mapping[str, list[SecretRef]]) -> IamRole:
    """The role the ECS agent uses to start the task: images, logs and the task's secrets, nothing else."""
    role = IamRole(
        scope,
        "execution_role",
        name=f"{task.prefix}-execution",
        description=f"ECS agent: pull images, write logs, read the secrets of {task.name}'s task",
        assume_role_policy=assume_role_policy(scope, task.deps, ECS_TASKS_PRINCIPAL, "execution_trust"),
    )
    statements = [
        statement("WriteOwnLogGroups", ["logs:CreateLogStream", "logs:PutLogEvents"],
                  [f"{lg.arn}:*" for _, lg in sorted(log_groups.items())]),
    ]
    statements += _image_pull_statements(task)
    statements += _secret_read_statements(task, [r for c in task.containers for r in secret_refs[c]])
    doc = DataAwsIamPolicyDocument(scope, "execution_policy_document", statement=statements)
    IamRolePolicy(scope, "execution_policy", name="least-privilege", role=role.id, policy=doc.json)
    return role


def _image_pull_statements(task: TaskOwner) -> list[DataAwsIamPolicyDocumentStatement]:
    """Pull the task's own ECR images and its public images through the pull-through cache."""
    statements = []
    repositories = sorted({arn for c in task.containers if (arn := task.deps.registry.repository_arn(c))})
    cached = _pull_through_repositories(task)
    if repositories or cached:
        # GetAuthorizationToken has no resource-level permissions: "*" is the only valid resource.
        statements.append(statement("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]))
    if repositories:
        statements.append(statement("PullOwnImages", ECR_PULL_ACTIONS, repositories))
    if cached:
        # the first pull of a public image through the cache creates its cache repository
        statements.append(statement(
            "PullPublicImagesThroughCache", ECR_PULL_ACTIONS + ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"],
            cached))
    return statements


def _secret_read_statements(task: TaskOwner, refs: list[SecretRef]) -> list[DataAwsIamPolicyDocumentStatement]:
    """Read exactly the referenced secrets and parameters; decrypt only through those two stores."""
    statements = []
    secret_arns = sorted({r.resource for r in refs if r.store == "secretsmanager"})
    parameter_arns = sorted({r.resource for r in refs if r.store == "ssm"})
    if secret_arns:
        statements.append(statement("ReadOwnSecrets", ["secretsmanager:GetSecretValue"], secret_arns))
    if parameter_arns:
        statements.append(statement("ReadOwnParameters", ["ssm:GetParameters"], parameter_arns))
    kms_keys = sorted(_kms_keys(task))
    if kms_keys and refs:
        region = task.cfg.region
        statements.append(statement(
            "DecryptViaSecretStores", ["kms:Decrypt"], kms_keys,
            [condition("StringEquals", "kms:ViaService",
                       [f"secretsmanager.{region}.amazonaws.com", f"ssm.{region}.amazonaws.com"])],
        ))
    return statements


def _kms_keys(task: TaskOwner) -> set[str]:
    """Customer-managed keys behind the secrets/parameters this task reads (none: AWS-managed keys)."""
    deps, keys = task.deps, set()
    if getattr(deps.secrets, "kms_key_arn", None):
        keys.add(deps.secrets.kms_key_arn)
    for section, construct in [(task.cfg.cache, deps.cache), (task.cfg.database, deps.database)]:
        if section is not None and construct is not None and set(task.containers) & set(section.allow_from):
            keys.update(getattr(construct, "kms_key_arns", []))
    return keys


def _pull_through_repositories(task: TaskOwner) -> list[str]:
    """Cache-repository ARN patterns of the upstreams this task's public images come through."""
    deps, registry, found = task.deps, task.deps.registry, set()
    for cname, svc in task.containers.items():
        # the registry rewrites a public image to its cache only when a cache rule covers it
        if svc.image.public and registry.image(cname) != svc.image.public:
            upstream = pull_through_source(svc.image.public)[0]
            found.add(f"arn:{deps.partition}:ecr:{task.cfg.region}:{deps.account_id}:repository/"
                      f"{registry.cache_prefix(upstream)}/*")
    return sorted(found)


def task_role(scope: Construct, task: TaskOwner) -> IamRole:
    """The containers' identity: EFS mounts through their own access points only."""
    role = IamRole(
        scope,
        "task_role",
        name=f"{task.prefix}-task",
        description=f"Identity of {task.name}'s containers: only what they use",
        # ECS developer guide, "Task IAM role": aws:SourceArn ArnLike arn:...:ecs:<region>:<account>:*
        assume_role_policy=assume_role_policy(
            scope, task.deps, ECS_TASKS_PRINCIPAL, "task_trust",
            source_arn=("ArnLike", f"arn:{task.deps.partition}:ecs:{task.cfg.region}:{task.deps.account_id}:*")),
    )
    statements = []
    for volume, read_only in sorted(task.mounted_volumes().items()):
        actions = ["elasticfilesystem:ClientMount"]
        if not read_only:
            actions.append("elasticfilesystem:ClientWrite")
        # never ClientRootAccess: no volume is owned by root (volumes_run_as_their_non_root_owner)
        statements.append(statement(
            f"Efs{''.join(p.title() for p in volume.split('-'))}",
            actions,
            [task.deps.volumes.file_system_arn],
            [condition("StringEquals", "elasticfilesystem:AccessPointArn",
                       [task.deps.volumes.access_point_arn(volume)])],
        ))
    if statements:
        doc = DataAwsIamPolicyDocument(scope, "task_policy_document", statement=statements)
        IamRolePolicy(scope, "task_policy", name="least-privilege", role=role.id, policy=doc.json)
    return role
