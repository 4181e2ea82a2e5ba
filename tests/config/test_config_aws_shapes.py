"""modules/config/aws_shapes.py: the table of where env-file values reach AWS, and the API models' constraints.

The table covers the schema: every field holding text (a value or a mapping key) either reaches an API member
(REACHES) or is exempt with its reason (EXEMPT), so a new field cannot slip past the check. The snapshot of the
models' constraints is the installed botocore's, and the config package needs neither botocore nor cdktf."""

from __future__ import annotations

import enum
import re
import subprocess
import sys
import typing

import pytest

from conftest import ROOT, STAGE_FILE
from modules.config import aws_shapes, rules
from modules.config.loading import load
from schema_fields import leaves


def _holds_text(annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is str:
        return True
    if origin is typing.Literal:
        return all(isinstance(a, str) for a in args)
    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


TEXT_FIELDS = {path for path, annotation, _ in leaves(kinds=False) if _holds_text(annotation)}
ALL_FIELDS = {path for path, _, _ in leaves(kinds=False)}
REACHED = {reach.field for reach in aws_shapes.REACHES}


def test_every_text_field_reaches_an_api_member_or_is_exempt_with_a_reason():
    missing = TEXT_FIELDS - REACHED - set(aws_shapes.EXEMPT)
    assert not missing, f"fields neither in REACHES nor in EXEMPT: {sorted(missing)}"
    assert not REACHED & set(aws_shapes.EXEMPT), "a field both reaches AWS and is exempt"
    assert all(reason.strip() for reason in aws_shapes.EXEMPT.values())


def test_the_table_names_fields_of_the_schema():
    """Each entry is a field of the schema (a leaf, or a whole list: `alb.waf.redacted_headers`)."""
    containers = {path.rsplit("[]", 1)[0] for path in ALL_FIELDS if path.endswith("[]")}
    unknown = (REACHED | set(aws_shapes.EXEMPT)) - ALL_FIELDS - containers
    assert not unknown, f"not fields of the schema: {sorted(unknown)}"


def test_the_snapshot_is_the_installed_botocores():
    current = aws_shapes.snapshot_text(aws_shapes.from_botocore())
    assert aws_shapes.SNAPSHOT.read_text(encoding="utf-8") == current, \
        f"{aws_shapes.SNAPSHOT.name} is stale (botocore upgraded or REACHES changed): run {aws_shapes.REGENERATE}"


def test_every_api_member_of_the_table_has_its_shape():
    assert {str(api) for api in aws_shapes.api_members()} == set(aws_shapes.shapes())


def test_each_named_rule_of_the_table_is_registered():
    names = {rule.__name__ for rule in rules.RULES}
    assert {reach.rule for reach in aws_shapes.REACHES if reach.rule} <= names


def test_members_without_constraints_name_the_rule_that_checks_them_where_one_is_needed():
    """The models say nothing of an ALB's name, a bucket's name, a TLS policy or an image: a rule does."""
    bare = {str(r.api): r.rule for r in aws_shapes.REACHES
            if set(aws_shapes.shapes()[str(r.api)]) <= {"shape", "type"}}
    for member in ("elbv2 CreateLoadBalancer Name", "s3 CreateBucket Bucket", "elbv2 CreateListener SslPolicy",
                   "ecs RegisterTaskDefinition containerDefinitions.image", "elbv2 CreateTargetGroup Matcher.HttpCode"):
        assert bare[member], member


def test_values_at_finds_the_config_values(stage_cfg):
    found = dict(aws_shapes.values_at(stage_cfg, "secrets.<key>"))
    assert found == {("secrets", n): n for n in ("QUALITY_OPS_TOKEN", "api-env", "docker-hub")}
    actions = dict(aws_shapes.values_at(stage_cfg, "services.*.failure_alarm.alarm_actions"))
    assert set(actions) == {("services", n, "failure_alarm", "alarm_actions") for n in ("quality-cron", "rag-refresh-cron")}


TAG = aws_shapes.shapes()["elbv2 AddTags Tags.Key"]


@pytest.mark.parametrize("value,fits", [("Team", True), ("Cost Center", True), ("Equipe/São Paulo", True),
                                        ("team\n", False), ("a;b", False), ("x\ty", False), ("k" * 129, False)])
def test_java_unicode_classes_translate_to_python(value, fits):
    """ELB's tag pattern `^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$`: letters of any script, spaces; no newline or tab."""
    api = aws_shapes.ApiMember("elbv2", "AddTags", "Tags.Key")
    assert (aws_shapes.shape_problem(value, TAG, api) is None) == fits


def test_an_untranslatable_pattern_is_an_error_not_a_blind_check():
    with pytest.raises(ValueError):
        aws_shapes.python_pattern(r"[\p{Lu}]+")


def test_the_config_package_loads_env_files_without_botocore_or_cdktf_reading_the_snapshot_once():
    code = ("import sys; from modules.config import aws_shapes, load; "
            "print(aws_shapes.shapes.cache_info().misses); "
            f"load({str(STAGE_FILE)!r}); load({str(STAGE_FILE)!r}); print(aws_shapes.shapes.cache_info().misses); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'cdktf', 'jsii')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    before, after, modules = out.splitlines()
    assert (before, after) == ("0", "1")  # read when a file is first checked, not at import; then kept
    assert modules == "[]"


def test_a_message_quotes_the_limit_and_the_api_member(tmp_path):
    text = STAGE_FILE.read_text().replace("health_check: {path: /healthz,", "health_check: {path: /" + "h" * 1100 + ",")
    path = tmp_path / "long-path.yaml"
    path.write_text(text)
    with pytest.raises(Exception) as caught:
        load(path)
    line = next(line for line in str(caught.value).splitlines() if "alb.health_check.path" in line)
    assert re.search(r"is 1101 characters; allowed: 1-1024 characters \(elbv2 CreateTargetGroup HealthCheckPath, "
                     r"AWS API model\)", line), line


def test_the_values_checked_are_the_values_synth_sends(stage, stage_cfg):
    """Each name the table derives for stage (a secret's name, a role's, a log group's, a schedule's description,
    ...) is in stage's synthesized JSON: the check sees what AWS will receive, not an invented value."""
    checked = 0
    for reach in aws_shapes.REACHES:
        if not (reach.sent and reach.what):
            continue
        for loc, value in aws_shapes.values_at(stage_cfg, reach.field):
            for sent in reach.sent(stage_cfg, loc, value):
                if isinstance(sent, str) and "0" * 12 not in sent:  # placeholders: Terraform's digits, an account
                    assert f'"{sent}"' in stage.text, f"{reach.field} -> {reach.api}: {sent!r} is not in the stack"
                    checked += 1
    assert checked > 20
