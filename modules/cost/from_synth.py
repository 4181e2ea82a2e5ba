"""A synthesized stack (cdktf's Terraform JSON) -> the Inventory the estimate prices.

What a pull request's cost delta compares: the base commit's synth (made by the base's own code) and the
head's, each read here from the resources Terraform would create, not from an env file. Pure Python.

Read: aws_launch_template (instance_type, gp3 root volume) through aws_autoscaling_group (desired_capacity,
else min_size; max_size) and its aws_autoscaling_schedule off-hours pair; aws_nat_gateway and aws_eip;
Interface aws_vpc_endpoint (one ENI per subnet, billed per AZ); application aws_lb (one public IPv4 per subnet
when internet-facing); aws_wafv2_web_acl (its rules); aws_elasticache_replication_group / _cluster;
aws_efs_file_system (+ access points); aws_cloudwatch_log_group; aws_cloudwatch_metric_alarm (its period),
aws_kms_key and aws_secretsmanager_secret (an `existing` secret is a data source: not created, not counted).
A value the price needs that is not a literal (a `${...}` reference) is an error naming the resource: a guess
would hide a line of the bill.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from modules.cost.estimate import CacheNodes, Fleet, Inventory, Window
from modules.cost.prices import PriceError
from modules.input_files import SYNTH_JSON_MAX_BYTES, InputFileError, read_json

STACK_FILE = "cdk.tf.json"
REFERENCE = re.compile(r"^\$\{(?P<type>[a-z0-9_]+)\.(?P<id>[^.}]+)\.[a-z_]+\}$")
# Auto Scaling scheduled actions: Unix cron "minute hour day-of-month month day-of-week", 0 = Sunday
# (Amazon EC2 Auto Scaling user guide, "Scheduled scaling": recurrence in Unix cron format).
ASG_RECURRENCE = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* (\*|[0-7](?:[-,][0-7])*)$")


class SynthError(Exception):
    """The directory holds no (or no single) synthesized stack."""


def stack_file(path: Path, stack: str | None = None) -> Path:
    """cdk.tf.json of a cdktf output directory (manifest.json; `stack` picks one of several), a stack
    directory, or the file itself."""
    path = Path(path)
    if path.is_file():
        return path
    if (path / STACK_FILE).is_file():
        return path / STACK_FILE
    manifest = path / "manifest.json"
    if not os.path.lexists(manifest):
        raise SynthError(f"{path}: no {STACK_FILE} and no manifest.json: not a synth output directory "
                         "(python main.py synth --outdir DIR writes one)")
    stacks = _manifest_stacks(manifest)
    if stack is None and len(stacks) == 1:
        stack = next(iter(stacks))
    if stack not in stacks:
        raise SynthError(f"{path}: {'stack ' + repr(stack) + ' is not in it' if stack else 'several stacks'}; "
                         f"stacks: {', '.join(sorted(stacks)) or '(none)'}; name one with --stack")
    file = path / stacks[stack]
    if not file.is_file():
        raise SynthError(f"{path}: its manifest.json names {stacks[stack]}, which is not there; synthesize again "
                         "(python main.py synth --outdir DIR)")
    return file


def _manifest_stacks(manifest: Path) -> dict[str, str]:
    """Stack name -> its synthesizedStackPath, from cdktf's manifest.json; SynthError when it is not one."""
    not_cdktf = f"{manifest}: not the manifest.json cdktf writes"
    try:
        data = read_json(manifest, SYNTH_JSON_MAX_BYTES)
    except InputFileError as exc:
        raise SynthError(str(exc).replace(f"{manifest}: not JSON (", f"{not_cdktf} (not JSON: ", 1)) from None
    stacks = data.get("stacks") if isinstance(data, dict) else None
    if not isinstance(stacks, dict):
        raise SynthError(f"{not_cdktf} (no 'stacks' object)")
    paths = {}
    for name, entry in stacks.items():
        stack_path = entry.get("synthesizedStackPath") if isinstance(entry, dict) else None
        if not isinstance(stack_path, str) or Path(stack_path).is_absolute() or ".." in Path(stack_path).parts:
            raise SynthError(f"{not_cdktf} (stacks.{name}.synthesizedStackPath: a path inside the directory expected)")
        paths[name] = stack_path
    return paths


def _literal(resource_type: str, rid: str, attribute: str, value, kind=str):
    if isinstance(value, str) and "${" in value or not isinstance(value, kind) or isinstance(value, bool):
        raise PriceError([(f"resource.{resource_type}.{rid}.{attribute}",
                           f"{value!r} is not a literal {kind.__name__}: the estimate needs the synthesized value")])
    return value


def _referenced(value, resource_type: str) -> str | None:
    match = REFERENCE.match(value) if isinstance(value, str) else None
    return match["id"] if match and match["type"] == resource_type else None


def _clock(minute: str, hour: str) -> int:
    return int(hour) * 60 + int(minute)


def _days(field: str) -> tuple[int, ...]:
    if field == "*":
        return tuple(range(7))
    days: set[int] = set()
    for part in field.split(","):
        first, _, last = part.partition("-")
        days.update(d % 7 for d in range(int(first), int(last or first) + 1))  # 7 is Sunday too
    return tuple(sorted(days))


def _window(asg_id: str, schedules: dict[str, dict]) -> Window | None:
    """The off-hours window of an ASG: its scheduled actions, one that stops (max_size 0) and one that starts."""
    mine = {sid: s for sid, s in schedules.items() if _referenced(s.get("autoscaling_group_name"),
                                                                  "aws_autoscaling_group") == asg_id}
    if not mine:
        return None
    stops = [(sid, s) for sid, s in mine.items() if s.get("max_size") == 0]
    starts = [(sid, s) for sid, s in mine.items() if s.get("max_size") != 0]
    where = f"resource.aws_autoscaling_schedule.{','.join(sorted(mine))}"
    if len(stops) != 1 or len(starts) != 1:
        raise PriceError([(where, "the estimate prices one start and one stop (max_size 0) action per group, "
                                  f"found {len(starts)} start and {len(stops)} stop")])
    parsed = []
    for sid, action in (starts[0], stops[0]):
        recurrence = _literal("aws_autoscaling_schedule", sid, "recurrence", action.get("recurrence"))
        match = ASG_RECURRENCE.match(recurrence)
        if not match:
            raise PriceError([(f"resource.aws_autoscaling_schedule.{sid}.recurrence",
                               f"'{recurrence}': the estimate reads 'M H * * DAYS' (a fixed time on whole days)")])
        parsed.append((_clock(match[1], match[2]), _days(match[3]), action.get("time_zone", "UTC")))
    (start, days, zone), (stop, stop_days, stop_zone) = parsed
    if days != stop_days or zone != stop_zone or stop <= start:
        raise PriceError([(where, "start and stop must share days and time zone, stop after start on the same "
                                  "day (what off_hours synthesizes)")])
    return Window(days, start, stop, zone)


def _region(doc: dict) -> str:
    providers = [p for p in doc.get("provider", {}).get("aws", []) if "alias" not in p]
    region = providers[0].get("region") if len(providers) == 1 else None
    if not isinstance(region, str) or "${" in region:
        raise PriceError([("provider.aws.region", f"{region!r}: the estimate needs the default aws provider's "
                                                  "literal region")])
    return region


def inventory_of_synth(doc: dict, environment: str) -> Inventory:
    """What the synthesized stack creates that the price table prices (same lines as the env-file path)."""
    res = doc.get("resource", {})

    def of(rtype: str) -> dict[str, dict]:
        return dict(sorted(res.get(rtype, {}).items()))

    templates, schedules = of("aws_launch_template"), of("aws_autoscaling_schedule")
    fleets = []
    for aid, asg in of("aws_autoscaling_group").items():
        tid = _referenced((asg.get("launch_template") or {}).get("id"), "aws_launch_template")
        if tid not in templates:
            raise PriceError([(f"resource.aws_autoscaling_group.{aid}.launch_template",
                               "the estimate prices groups launched from one aws_launch_template of this stack")])
        template = templates[tid]
        instance_type = _literal("aws_launch_template", tid, "instance_type", template.get("instance_type"))
        root_gb = sum(_literal("aws_launch_template", tid, "block_device_mappings.ebs.volume_size",
                               m["ebs"].get("volume_size"), int)
                      for m in template.get("block_device_mappings", []) if m.get("ebs"))
        name = _literal("aws_autoscaling_group", aid, "name", asg.get("name"))
        minimum = _literal("aws_autoscaling_group", aid, "min_size", asg.get("min_size"), int)
        desired = asg.get("desired_capacity", minimum)
        fleets.append(Fleet(
            name.removeprefix(f"{environment}-"), instance_type, root_gb,
            _literal("aws_autoscaling_group", aid, "desired_capacity", desired, int),
            _literal("aws_autoscaling_group", aid, "max_size", asg.get("max_size"), int),
            _window(aid, schedules), f"resource.aws_launch_template.{tid}.instance_type"))
    fleets.sort(key=lambda f: f.key)

    interface = [e for e in of("aws_vpc_endpoint").values() if e.get("vpc_endpoint_type") == "Interface"]
    albs = [lb for lb in of("aws_lb").values() if lb.get("load_balancer_type", "application") == "application"]
    caches = []
    for gid, group in of("aws_elasticache_replication_group").items():
        nodes = group.get("num_cache_clusters") or (
            group.get("num_node_groups", 1) * (1 + group.get("replicas_per_node_group", 0)))
        caches.append(CacheNodes(group.get("node_type"), _literal("aws_elasticache_replication_group", gid,
                                                                   "num_cache_clusters", nodes, int),
                                 f"resource.aws_elasticache_replication_group.{gid}.node_type"))
    for cid, cluster in of("aws_elasticache_cluster").items():
        if "replication_group_id" not in cluster:  # members of a group are counted with it
            caches.append(CacheNodes(cluster.get("node_type"), cluster.get("num_cache_nodes", 1),
                                     f"resource.aws_elasticache_cluster.{cid}.node_type"))
    return Inventory(
        environment, _region(doc), "provider.aws.region", tuple(fleets), len(of("aws_nat_gateway")),
        len(of("aws_eip")), tuple(len(e.get("subnet_ids", [])) for e in interface),
        tuple(0 if lb.get("internal") else len(lb.get("subnets", [])) for lb in albs),
        tuple(len(acl.get("rule", [])) for acl in of("aws_wafv2_web_acl").values()), tuple(caches),
        len(of("aws_efs_file_system")), len(of("aws_efs_access_point")), bool(of("aws_cloudwatch_log_group")),
        tuple(sorted(period for aid, alarm in of("aws_cloudwatch_metric_alarm").items()
                     for period in _alarm_metric_periods(aid, alarm))),
        len(of("aws_kms_key")), len(of("aws_secretsmanager_secret")))


def _alarm_metric_periods(aid: str, alarm: dict) -> list[int]:
    """An alarm's period, once per metric it reads: a metric-math alarm (metric_query) is billed per metric."""
    queries = alarm.get("metric_query")
    if not queries:
        return [_literal("aws_cloudwatch_metric_alarm", aid, "period", alarm.get("period"), int)]
    return [_literal("aws_cloudwatch_metric_alarm", aid, "metric_query.metric.period",
                     (q.get("metric") or {}).get("period"), int) for q in queries if q.get("metric")]


def load_inventory(path: Path, stack: str | None = None) -> tuple[Inventory, Path]:
    """The inventory of the synthesized stack at `path` (see stack_file), and the file it was read from."""
    file = stack_file(path, stack)
    try:
        doc = read_json(file, SYNTH_JSON_MAX_BYTES)
    except InputFileError as exc:
        raise SynthError(str(exc).replace(": not JSON (", ": not Terraform JSON (", 1)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resource", {}), dict) or not all(
            isinstance(block, dict) and all(isinstance(r, dict) for r in block.values())
            for block in doc.get("resource", {}).values()):
        raise SynthError(f"{file}: not Terraform JSON (`resource`: type -> name -> arguments objects expected)")
    try:
        return inventory_of_synth(doc, file.parent.name), file
    except (AttributeError, TypeError, KeyError) as exc:  # arguments of shapes this program never writes
        raise SynthError(f"{file}: not a stack this program synthesized ({type(exc).__name__}: {exc})") from None
