"""Cross-field rules of the env file: checks that need more than one section.

Each rule is a function `rule(cfg) -> list[Problem]` whose docstring states the rule, defined in the
module of its concern and registered once in RULES below. EnvConfig runs them in RULES order after every
section has validated (`check()`), and every problem found is reported at once: a rule marked
only_when_consistent (its figures assume a sound config) runs after all the others, and only when they
found nothing; it never hides another rule's problem. Adding a rule: one
function in its concern's module (a new module for a new concern), one line in RULES, a failing and a
passing case in tests/config/ (test_config_rules*.py).

  images.py      ECR repositories, pull-through cache, image tags
  names.py       generated AWS resource names within AWS's length limits and reserved prefixes
  network.py     availability zones of the region; subnets large enough for what they hold
  tasks.py       task definitions ECS registers: an essential container, CPU, 64 KiB
  references.py  names given by one section are defined in another; depends_on has no cycle
  ports.py       ports, port names, the Service Connect mesh, and reachability of the addresses given
  edge.py        the ALB's targets, its certificate's Region, Grafana's OIDC secret, admin password and SSO login
  secrets.py     secrets a first apply reads exist (with values) before it
  database.py    services reading a Postgres connection are given one; database.network does not overlap
  alarms.py      the SNS topics alarms notify are in the stack's Region
  aws_api.py     values against AWS's own API models (min, max, pattern, enum; modules/config/aws_shapes.py)
  aws_limits.py  AWS limits the models do not carry: reserved prefixes, documented lists, quotas
  contracts.py   image contracts: required variables set or derived, users, the names baked configs call
  capacity.py    GPUs, scheduled tasks in off-hours windows, the capacity fit (modules/config/capacity.py)
  timeouts.py    Service Connect and ALB timeouts, set or derived (modules/config/timeouts.py), obey AWS
  workloads.py   loop sidecars run once; readers mount the writer's volume; users own their volumes
  volumes.py     no volume owned by root; containers mounting a volume run as its owner
  common.py      what the rule modules share (never import this __init__ from them: a cycle)

Rules read the EnvConfig's views (task_owners(), containers_of(), ...). env.py does not import this
package: this package registers its `check` with env.register_rules() below, so the import goes one way only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from modules.config.base import CrossFieldErrors, Problem
from modules.config.rules.alarms import alarm_topics_are_in_the_stack_region
from modules.config.rules.aws_api import values_fit_aws_api_models
from modules.config.rules.aws_limits import (
    access_log_bucket_name_is_allowed,
    alb_name_is_not_reserved,
    certificate_domain_fits_64_octets,
    health_check_matcher_is_in_range,
    image_references_fit,
    parameter_names_fit,
    security_group_rules_fit_the_quota,
    tls_policy_is_offered,
    waf_rule_groups_are_offered,
)
from modules.config.rules.capacity import (
    gpus_on_gpu_providers,
    scheduled_tasks_run_inside_off_hours,
    tasks_fit_capacity,
)
from modules.config.rules.common import Rule, only_when_consistent
from modules.config.rules.contracts import (
    baked_calls_resolve,
    contract_required_variables_are_set,
    contract_users_match,
)
from modules.config.rules.database import (
    database_network_cidrs_do_not_overlap_the_vpc,
    services_reading_a_database_are_given_one,
)
from modules.config.rules.edge import (
    alb_target_is_a_service_port,
    certificate_is_in_the_alb_region,
    grafana_admin_password_is_a_secret,
    grafana_behind_sso_keeps_its_login,
    grafana_target_is_a_service_port,
    oidc_client_secret_is_plain,
)
from modules.config.rules.images import (
    cache_upstreams_need_pull_through,
    docker_hub_has_credentials,
    one_build_one_source,
    public_images_are_cacheable,
    public_images_pin_digests,
    pull_through_prefix_fits,
    tag_env_var_is_not_the_synth_tag,
)
from modules.config.rules.names import (
    cache_id_fits,
    capacity_provider_names_are_not_reserved,
    dns_namespace_fits,
    generated_names_fit,
)
from modules.config.rules.network import availability_zones_are_in_the_region, subnets_hold_what_they_must
from modules.config.rules.ports import (
    jobs_use_dns_names,
    port_allow_from_narrows,
    port_names_are_unique,
    ports_are_unique_per_task,
    services_may_reach_what_they_are_given,
)
from modules.config.rules.references import (
    hosts_own_a_task,
    no_dependency_cycles,
    section_references_resolve,
    service_references_resolve,
    variables_are_set_once,
)
from modules.config.rules.secrets import (
    database_key_is_in_the_secret_region,
    secret_names_are_not_the_stacks_own,
    secrets_read_at_apply_exist_before_it,
)
from modules.config.rules.tasks import (
    task_cpu_is_reserved,
    task_definition_fits_64kib,
    task_has_an_essential_container,
)
from modules.config.rules.timeouts import (
    alb_backends_outlast_the_alb_idle_timeout,
    alb_idle_timeout_covers_its_target,
    service_connect_idle_covers_per_request,
)
from modules.config.rules.workloads import (
    loop_sidecars_run_in_one_task,
    readers_mount_the_writers_volume,
    volume_users_own_their_volumes,
)
from modules.config.rules.volumes import volumes_run_as_their_non_root_owner

from modules.config.env import register_rules

if TYPE_CHECKING:
    from modules.config.env import EnvConfig

__all__ = ["RULES", "Rule", "check", "only_when_consistent", "problems"]

RULES: list[Rule] = [
    cache_upstreams_need_pull_through,
    pull_through_prefix_fits,
    public_images_are_cacheable,
    public_images_pin_digests,
    availability_zones_are_in_the_region,
    docker_hub_has_credentials,
    cache_id_fits,
    tag_env_var_is_not_the_synth_tag,
    one_build_one_source,
    service_references_resolve,
    hosts_own_a_task,
    section_references_resolve,
    variables_are_set_once,
    ports_are_unique_per_task,
    port_allow_from_narrows,
    port_names_are_unique,
    jobs_use_dns_names,
    services_may_reach_what_they_are_given,
    contract_required_variables_are_set,
    contract_users_match,
    baked_calls_resolve,
    gpus_on_gpu_providers,
    scheduled_tasks_run_inside_off_hours,
    alb_target_is_a_service_port,
    grafana_target_is_a_service_port,
    oidc_client_secret_is_plain,
    secrets_read_at_apply_exist_before_it,
    services_reading_a_database_are_given_one,
    database_network_cidrs_do_not_overlap_the_vpc,
    no_dependency_cycles,
    capacity_provider_names_are_not_reserved,
    generated_names_fit,
    dns_namespace_fits,
    certificate_is_in_the_alb_region,
    task_has_an_essential_container,
    task_cpu_is_reserved,
    task_definition_fits_64kib,
    subnets_hold_what_they_must,
    tasks_fit_capacity,
    alarm_topics_are_in_the_stack_region,
    secret_names_are_not_the_stacks_own,
    database_key_is_in_the_secret_region,
    values_fit_aws_api_models,
    alb_name_is_not_reserved,
    access_log_bucket_name_is_allowed,
    certificate_domain_fits_64_octets,
    health_check_matcher_is_in_range,
    tls_policy_is_offered,
    waf_rule_groups_are_offered,
    image_references_fit,
    security_group_rules_fit_the_quota,
    parameter_names_fit,
    service_connect_idle_covers_per_request,
    alb_idle_timeout_covers_its_target,
    alb_backends_outlast_the_alb_idle_timeout,
    loop_sidecars_run_in_one_task,
    readers_mount_the_writers_volume,
    volume_users_own_their_volumes,
    volumes_run_as_their_non_root_owner,
    grafana_admin_password_is_a_secret,
    grafana_behind_sso_keeps_its_login,
]


def problems(cfg: EnvConfig, skip: Iterable[str] = ()) -> list[Problem]:
    """Every problem the rules find; rules named in `skip` are left out. Every rule runs, in RULES order,
    except those marked only_when_consistent: they run last, and only when the others found nothing (their
    figures assume a sound config), so a problem of any other rule is reported whatever its place in RULES."""
    chosen = [rule for rule in RULES if rule.__name__ not in skip]
    gated = [rule for rule in chosen if getattr(rule, "only_when_consistent", False)]
    found: list[Problem] = []
    for rule in chosen:
        if rule not in gated:
            found += rule(cfg)
    if not found:
        for rule in gated:
            found += rule(cfg)
    return found


def check(cfg: EnvConfig, skip: Iterable[str] = ()) -> None:
    """Raise CrossFieldErrors listing every problem; return when the config passes every rule."""
    found = problems(cfg, skip)
    if found:
        raise CrossFieldErrors(found)


register_rules(lambda cfg, skip: check(cfg, skip=skip))
