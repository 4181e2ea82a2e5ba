"""modules/commands/plan_summary.py (and plan_changes.py) on real plan JSON (tests/fixtures/plans, made by scripts/make_plan_fixtures.sh
against moto): counts, call-outs, grouping by construct, task definitions per container and field, sensitive
masking, truncation, commit and run link, a failed run's error, marker, exit codes.

The fixture plan is step 2 of tests/fixtures/plans/src/app.py applied over step 1; its docstring lists
which resource gets which kind of change, and the expectations below follow from it.
"""

from __future__ import annotations

import copy
import re
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_main
from modules.commands import plan_summary
from modules.commands.plan_changes import _container_changes, construct_of, load_construct_paths, load_plan, \
    summarize
from modules.commands.plan_summary import GITHUB_COMMENT_LIMIT, render, render_failure

FIXTURES = ROOT / "tests" / "fixtures" / "plans"
CHANGES = FIXTURES / "plan-changes.json"
NO_CHANGES = FIXTURES / "plan-no-changes.json"
SYNTH = FIXTURES / "cdk.tf.json"
# Terraform Cloud's json-output-redacted shape, from Terraform's own test data (tests/fixtures/tfc/README.md)
REDACTED = ROOT / "tests" / "fixtures" / "tfc" / "plans-redacted"
STACK = "araquem-fixture"


@pytest.fixture(scope="module")
def plan() -> dict:
    return json.loads(CHANGES.read_text())


@pytest.fixture(scope="module")
def paths() -> dict:
    return load_construct_paths(str(SYNTH))[1]


@pytest.fixture(scope="module")
def comment(plan, paths) -> str:
    return render(summarize(plan, STACK, paths))


def address(plan: dict, prefix: str) -> str:
    """The one resource address starting with `prefix` (the hash suffix comes from cdktf)."""
    found = [rc["address"] for rc in plan["resource_changes"] if rc["address"].startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def section(text: str, title: str) -> str:
    """The Markdown from heading `title` to the next heading of the same level."""
    start = text.index(f"#### {title}")
    end = text.find("\n#### ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def group(text: str, construct: str) -> str:
    start = text.index(f"<summary><b>{construct}</b>")
    return text[start:text.index("</details>", start)]


def sensitive_strings(plan: dict) -> set[str]:
    """Every string value that before_sensitive / after_sensitive / output sensitivity flags."""
    found: set[str] = set()

    def walk(value, marks, flagged=False):
        flagged = flagged or marks is True
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, marks.get(k, False) if isinstance(marks, dict) else marks, flagged)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, marks[i] if isinstance(marks, list) and i < len(marks) else marks, flagged)
        elif flagged and isinstance(value, str) and value:
            found.add(value)

    for rc in plan["resource_changes"]:
        change = rc["change"]
        walk(change.get("before"), change.get("before_sensitive"))
        walk(change.get("after"), change.get("after_sensitive"))
    for oc in plan.get("output_changes", {}).values():
        walk(oc.get("before"), oc.get("before_sensitive"))
        walk(oc.get("after"), oc.get("after_sensitive"))
    return found


# ---------------------------------------------------------------- content
def test_counts_match_the_fixture_design(comment):
    # app.py step 2: creates cache/sg, cache/logs, api/index_path; updates vpc tags, api/logs, api/mode;
    # replaces subnet, api/sg, api/token_value, app/task; destroys legacy/flag.
    assert "Plan: **3** to add, **3** to change, **4** to replace, **1** to destroy." in comment


IMAGE = '`"123456789012.dkr.ecr.us-east-1.amazonaws.com/araquem-fixture/api:{}"`'
SECRET = '`"arn:aws:secretsmanager:us-east-1:123456789012:secret:fixture/api-env-AbCdEf:{}::"`'


def test_task_definition_change_is_shown_per_container_and_field(plan, comment):
    # app.py step 2: the api container's image tag, LOG_LEVEL changed, RAG_TOP_K added, DATABASE_URL's
    # secret key moved; OLLAMA_URL, OPENAI_API_KEY and the worker container unchanged.
    task = address(plan, "aws_ecs_task_definition.app_task_")
    text = group(comment, "app")
    assert f"**replace** `{task}` — cannot be updated in place; forced by `container_definitions`" in text
    lines = [line.strip() for line in text[text.index(task):].splitlines()[1:] if line.strip().startswith("- `")]
    container_lines = [line for line in lines if line.startswith("- `container_definitions")]
    assert container_lines == [
        f"- `container_definitions[api].environment.LOG_LEVEL`: `\"info\"` → `\"debug\"`",
        "- `container_definitions[api].environment.RAG_TOP_K`: _(unset)_ → `\"8\"`",
        f"- `container_definitions[api].image`: {IMAGE.format('app-2.4.0')} → {IMAGE.format('app-2.5.0')}",
        f"- `container_definitions[api].secrets.DATABASE_URL`: {SECRET.format('DATABASE_URL')} → "
        f"{SECRET.format('DATABASE_URL_V2')}",
    ]
    # nothing cut, nothing unchanged listed (the provider's normalized empty lists are not changes)
    assert "…" not in "".join(container_lines) and "worker" not in text and "mountPoints" not in text


def test_containers_added_and_removed():
    before = json.dumps([{"name": "api", "image": "r/api:1"}, {"name": "old", "image": "r/old:1"}])
    after = json.dumps([{"name": "api", "image": "r/api:1", "cpu": 256}, {"name": "new", "image": "r/new:2"}])
    assert _container_changes(before, after) == [
        ("container_definitions[api].cpu", "_(unset)_", "`256`"),
        ("container_definitions[new]", "_(no container)_", 'added, image `"r/new:2"`'),
        ("container_definitions[old]", 'image `"r/old:1"`', "_(removed)_"),
    ]
    assert _container_changes("not json", after) is None  # shown whole, as any other attribute


def test_creates_are_listed_under_their_construct(plan, comment):
    cache = group(comment, "cache")
    assert "2 add" in cache
    for prefix in ("aws_security_group.cache_sg_", "aws_cloudwatch_log_group.cache_logs_"):
        assert f"**create** `{address(plan, prefix)}`" in cache
    assert f"**create** `{address(plan, 'aws_ssm_parameter.api_index_path_')}`" in group(comment, "api")


def test_updates_show_the_changed_attribute_values(plan, comment):
    api = group(comment, "api")
    logs = address(plan, "aws_cloudwatch_log_group.api_logs_")
    assert f"**update in place** `{logs}`\n  - `retention_in_days`: `7` → `30`" in api
    network = group(comment, "network")
    assert '`tags`: `{"Name":"fixture"}` → `{"Name":"fixture","Tier":"stage"}`' in network


def test_replacements_and_destroys_are_called_out_before_the_groups(plan, comment):
    callout = section(comment, "Replacements and destroys")
    assert comment.index("#### Replacements and destroys") < comment.index("#### Changes by construct")
    subnet = address(plan, "aws_subnet.network_private_")
    assert f"**replace** `{subnet}` — cannot be updated in place; forced by `cidr_block`" in callout
    assert f"**replace** `{address(plan, 'aws_security_group.api_sg_')}`" in callout
    legacy = address(plan, "aws_ssm_parameter.legacy_flag_")
    assert f"**destroy** `{legacy}` — removed from the configuration" in callout
    # replacements first, then destroys; creates and updates are not called out
    assert callout.index("**replace**") < callout.index("**destroy**")
    assert "**create**" not in callout and "**update in place**" not in callout


def test_forced_attribute_of_a_replacement_is_shown(plan, comment):
    assert '`cidr_block`: `"10.90.1.0/24"` → `"10.90.2.0/24"`' in group(comment, "network")


def test_sensitive_values_never_appear(plan, comment):
    secrets = sensitive_strings(plan)
    # The fixture carries secret values in plain text in the plan JSON (Terraform does that):
    assert any(s.startswith("fixture-secret-") for s in secrets), secrets
    # Short values ("on") occur in ordinary words, so those are checked in their quoted form only.
    leaked = sorted(s for s in secrets if (len(s) >= 6 and s in comment) or json.dumps(s) in comment)
    assert not leaked, f"sensitive values in the comment: {leaked}"
    api = group(comment, "api")
    assert "`secret_string`: _(sensitive)_ → _(sensitive)_" in api  # a change is still visible
    assert "`value`: _(sensitive)_ → _(sensitive)_" in api  # in-place update of an SSM value
    assert "- `token_value`: _(sensitive)_ → _(sensitive)_" in section(comment, "Outputs")


def test_partly_sensitive_structures_are_masked_element_by_element():
    change = {"actions": ["update"],
              "before": {"cfg": {"user": "app", "password": "old-pw-123"}},
              "after": {"cfg": {"user": "app2", "password": "new-pw-456"}},
              "before_sensitive": {"cfg": {"password": True}},
              "after_sensitive": {"cfg": {"password": True}}, "after_unknown": {}}
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": "aws_x.db_conn_0123ABCD", "change": change}]}
    text = render(summarize(plan, "s"))
    assert "old-pw-123" not in text and "new-pw-456" not in text
    assert '"password":"(sensitive)"' in text and '"user":"app2"' in text


def test_grouping_uses_cdktf_metadata_paths(plan, paths):
    # Metadata path wins over the logical id: a resource whose id does not start with its construct.
    vpc = address(plan, "aws_vpc.network_vpc_")
    assert paths[vpc] == "network/vpc"
    assert construct_of(vpc, {vpc: "edge/vpc"}) == "edge"
    assert construct_of("aws_vpc.toplevel", {"aws_vpc.toplevel": "toplevel"}) == "(stack)"


def test_grouping_without_synth_falls_back_to_the_logical_id(plan, comment):
    without = render(summarize(plan, STACK))
    assert without == comment  # cdktf logical ids carry the construct prefix
    assert construct_of("aws_vpc.custom_name", {}) == "(stack)"  # no cdktf hash: not guessed
    assert construct_of("module.net.aws_vpc.this", {}) == "net"


def test_no_changes_plan():
    text = render(summarize(json.loads(NO_CHANGES.read_text()), STACK))
    assert "**No changes.**" in text and "<details>" not in text
    # moto reports tags null -> {} on refresh; Terraform calls that irrelevant drift, so do we.
    assert "drift" not in text


def test_errored_plan_is_flagged(plan):
    errored = {**plan, "errored": True}
    assert "The plan errored" in render(summarize(errored, STACK))


def test_output_is_deterministic(plan, paths):
    shuffled = {**plan, "resource_changes": list(reversed(plan["resource_changes"]))}
    assert render(summarize(shuffled, STACK, paths)) == render(summarize(plan, STACK, paths))


# ---------------------------------------------------------------- marker and size
def test_marker_is_the_first_line_and_depends_only_on_the_stack(plan, comment):
    no_changes = render(summarize(json.loads(NO_CHANGES.read_text()), STACK))
    assert comment.splitlines()[0] == no_changes.splitlines()[0] == f"<!-- araquem-plan:{STACK} -->"
    other = render(summarize(plan, "araquem-prod"))
    assert other.splitlines()[0] == "<!-- araquem-plan:araquem-prod -->"


def huge_plan(plan: dict, copies: int) -> dict:
    """The fixture's resource changes repeated under distinct addresses (a stack far past the limit)."""
    big = copy.deepcopy(plan)
    changes = []
    for i in range(copies):
        for rc in plan["resource_changes"]:
            clone = copy.deepcopy(rc)
            clone["address"] = f"{rc['address']}_{i:04d}"
            changes.append(clone)
    big["resource_changes"] = changes
    return big


def test_huge_plan_is_truncated_under_the_github_limit(plan, paths):
    big = huge_plan(plan, 600)
    total = sum(1 for rc in big["resource_changes"] if rc["change"]["actions"] not in (["no-op"], ["read"]))
    text = render(summarize(big, STACK, paths), run_url="https://ci.example/run/1")
    assert len(text.encode("utf-8")) <= GITHUB_COMMENT_LIMIT
    assert len(text.encode("utf-8")) > GITHUB_COMMENT_LIMIT - 2000  # the room is used, not wasted
    assert text.splitlines()[0] == f"<!-- araquem-plan:{STACK} -->"
    assert f"Plan: **{3 * 600}** to add, **{3 * 600}** to change, **{4 * 600}** to replace" in text
    lines = [line for line in text.splitlines() if line.startswith("**Truncated:**")]
    assert len(lines) == 1 and text.rstrip().endswith("https://ci.example/run/1.")
    groups = text[text.index("#### Changes by construct"):]
    shown = sum(1 for line in groups.splitlines() if line.startswith("- `"))
    left_out = int(lines[0].split()[1])
    assert 0 < left_out and shown + left_out == total  # the notice counts exactly what is missing
    assert text.count("<details>") == text.count("</details>")  # no dangling HTML


def test_a_lower_limit_is_respected(plan):
    text = render(summarize(huge_plan(plan, 3), STACK), limit=4000)
    assert len(text.encode("utf-8")) <= 4000 and "**Truncated:**" in text


def test_a_plan_that_fits_is_not_truncated(comment):
    assert "Truncated" not in comment


# ---------------------------------------------------------------- commit, run link, a failed run
def test_head_names_the_commit_and_links_the_terraform_cloud_run(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"id": "run-X", "url": "https://app.terraform.io/app/o/workspaces/w/runs/run-X",
                                    "status": "planned_and_finished", "error": ""}))
    proc = run_main("plan-summary", str(CHANGES), "--synth", str(SYNTH), "--run-json", str(run_json),
                    "--commit", "0123456789abcdef0123456789abcdef01234567")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1] == f"### Terraform plan: `{STACK}` at `0123456789ab`"
    assert "Full plan: https://app.terraform.io/app/o/workspaces/w/runs/run-X" in lines


def test_failed_run_comment_carries_its_error_trimmed_to_the_limit():
    error = "Error: creating ECS Service: InvalidParameterException\n" + "detail ```line``` " * 8000 + "\nthe end"
    text = render_failure(STACK, error, run_url="https://app.terraform.io/run-1", commit="abcdef0123456789")
    assert len(text.encode("utf-8")) <= GITHUB_COMMENT_LIMIT < len(error)
    assert text.splitlines()[0] == f"<!-- araquem-plan:{STACK} -->" and "at `abcdef012345`" in text
    assert "**The plan failed** (`errored`)" in text and "Full log: https://app.terraform.io/run-1" in text
    assert "Error: creating ECS Service: InvalidParameterException" in text and "the end" in text
    assert "characters cut to fit GitHub's comment limit" in text
    assert "\n````text\n" in text and text.rstrip().endswith("````")  # longer than the error's own ```
    short = render_failure(STACK, "Error: boom", limit=GITHUB_COMMENT_LIMIT)
    assert "```text\nError: boom\n```" in short and "cut" not in short


def test_cli_renders_a_failed_run_without_a_plan(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"id": "run-X", "url": "https://tfc/run-X", "status": "errored",
                                    "error": "Error: Unsupported argument"}))
    proc = run_main("plan-summary", "--stack", STACK, "--run-json", str(run_json))
    assert proc.returncode == 0, proc.stderr
    assert "Error: Unsupported argument" in proc.stdout and "Full log: https://tfc/run-X" in proc.stdout


# ---------------------------------------------------------------- command line and exit codes
def test_cli_writes_the_comment_file(tmp_path, comment):
    out = tmp_path / "comment.md"
    proc = run_main("plan-summary", str(CHANGES), "--synth", str(SYNTH), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == comment  # stack name taken from cdk.tf.json metadata


def test_module_entry_reads_stdin():
    proc = subprocess.run([sys.executable, "-m", "modules.commands.plan_summary", "-", "--stack", STACK], cwd=ROOT,
                          input=NO_CHANGES.read_text(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"<!-- araquem-plan:{STACK} -->\n")


BAD_INPUTS = [
    ("missing.json", None, ["--stack", "s"], "missing.json: no such file"),
    ("garbage.json", "{not json", ["--stack", "s"], "garbage.json: not JSON (line 1, column 2"),
    ("synth.json", SYNTH.read_text(), ["--stack", "s"], "neither 'format_version' nor 'plan_format_version'"),
    # What json-output-redacted holds for a plan that errored (Terraform's plan-json-error test data): no plan.
    ("errored.json", (REDACTED / "plan-json-error.json").read_text(), ["--stack", "s"],
     "neither 'format_version' nor 'plan_format_version'"),
    ("future-redacted.json", '{"plan_format_version": "2.0"}', ["--stack", "s"],
     "plan_format_version '2.0' is not supported"),
    ("state.json", '{"format_version": "1.0", "values": {}}', ["--stack", "s"], "a state, not a plan"),
    ("future.json", '{"format_version": "2.0", "resource_changes": []}', ["--stack", "s"],
     "format_version '2.0' is not supported"),
    ("nostack.json", NO_CHANGES.read_text(), [], "no stack name: pass --stack"),
    ("small.json", NO_CHANGES.read_text(), ["--stack", "s", "--limit", "10"], "--limit 10: too small"),
    ("commit.json", NO_CHANGES.read_text(), ["--stack", "s", "--commit", "main; rm"], "not a commit SHA"),
    ("run.json", None, ["--stack", "s", "--run-json", "/nonexistent/run.json"], "run.json: no such file"),
]


@pytest.mark.parametrize("name,content,extra,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_with_a_clear_message(tmp_path, name, content, extra, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    argv = [str(path), *extra]
    assert plan_summary.main(argv) == 2
    # and through main.py, as a user runs it: one line, no traceback
    proc = run_main("plan-summary", *argv)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""


def test_bad_synth_file_exits_2(tmp_path):
    bad = tmp_path / "cdk.tf.json"
    bad.write_text('{"resource": {}}')
    proc = run_main("plan-summary", str(CHANGES), "--synth", str(bad))
    assert proc.returncode == 2 and "no '//' metadata block" in proc.stderr


def test_fixtures_are_real_terraform_output(plan):
    # Regenerated by scripts/make_plan_fixtures.sh; a hand-edited fixture would lose these.
    assert plan["terraform_version"].startswith("1.")
    assert plan["configuration"]["provider_config"]["aws"]["full_name"] == "registry.terraform.io/hashicorp/aws"
    script = (ROOT / "scripts" / "make_plan_fixtures.sh").read_text()
    assert "terraform" in script and "show -json" in script and "moto_server" in script
    assert Path(FIXTURES / "src" / "app.py").is_file()


def test_stage_stack_groups_one_section_per_workload(stage, stage_cfg):
    # A first deploy of the real stage stack: every resource a create, grouped with its cdk.tf.json.
    resources = [f"{rtype}.{name}" for rtype, blocks in stage.json["resource"].items() for name in blocks]
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": a, "change": {"actions": ["create"], "before": None, "after": {}}} for a in resources]}
    _, paths = load_construct_paths(str(stage.path))
    text = render(summarize(plan, stage_cfg.name, paths))
    groups = re.findall(r"<summary><b>([^<]+)</b>: (\d+) add</summary>", text)
    assert sum(int(n) for _, n in groups) == len(resources)
    # each task-owning service gets its own section, named after its construct
    for owner in stage_cfg.task_owners():
        assert sum(1 for name, _ in groups if name.endswith(owner) or name.endswith(f"_{owner}")) == 1, owner


def test_no_plan_and_no_failed_run_exits_2(tmp_path):
    proc = run_main("plan-summary", "--stack", STACK)
    assert proc.returncode == 2 and "no plan file" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- Terraform Cloud's redacted plan shape
# GET /plans/:id/json-output-redacted returns Terraform's jsonformat.Plan (plan_format_version, no
# format_version), not `terraform show -json` output. The fixtures are hashicorp/terraform's own test data for
# that endpoint (internal/cloud/testdata/*/plan-redacted.json); plan-json-basic also ships the unredacted
# `terraform show -json` output of the same plan.
def test_redacted_plan_renders_like_the_show_json_of_the_same_plan():
    redacted = json.loads((REDACTED / "plan-json-basic.json").read_text())
    assert "format_version" not in redacted and redacted["plan_format_version"].startswith("1.")
    shown = json.loads((REDACTED / "plan-json-basic.unredacted.json").read_text())
    assert "format_version" in shown
    text = render(summarize(redacted, STACK))
    assert "Plan: **1** to add, **0** to change, **0** to replace, **0** to destroy." in text
    assert "`null_resource.foo`" in text
    assert text == render(summarize(shown, STACK))


@pytest.mark.parametrize("fixture,expected", [
    ("plan-json-basic.json", "Plan: **1** to add"),
    ("plan-json-no-changes.json", "**No changes.**"),  # its one resource is a no-op
    ("apply-json-with-outputs.json", "#### Outputs"),
])
def test_cli_reads_the_redacted_shape(tmp_path, fixture, expected):
    out = tmp_path / "comment.md"
    proc = run_main("plan-summary", str(REDACTED / fixture), "--stack", STACK, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert expected in out.read_text()


def test_redacted_outputs_mask_sensitive_values():
    plan = json.loads((REDACTED / "apply-json-with-outputs.json").read_text())
    secret = plan["output_changes"]["secret"]
    assert secret["after_sensitive"] is True and isinstance(secret["after"], str) and secret["after"]
    text = render(summarize(plan, STACK))
    assert "- `secret`: _(sensitive)_" in text and secret["after"] not in text
    assert '- `simple`: `["some","list"]`' in text


def test_redacted_plan_without_changes_may_omit_every_list(tmp_path):
    # jsonformat.Plan marks resource_changes, output_changes, resource_drift ... `omitempty`.
    path = tmp_path / "empty.json"
    path.write_text('{"plan_format_version": "1.2", "provider_format_version": "1.0"}')
    summary = summarize(load_plan(str(path)), STACK)
    assert summary.changes == [] and summary.outputs == [] and summary.drift == 0


# ---------------------------------------------------------------- policy checks and run tasks (run.json "checks")
CHECKS = [  # as scripts/tfc_run.py writes them from the API reference's samples (tests/test_tfc_run.py)
    {"kind": "policy check", "name": "Sentinel (organization)", "status": "soft_failed",
     "detail": "0 passed, 0 hard-failed, 1 soft-failed, 0 advisory-failed", "url": ""},
    {"kind": "run task", "name": "example-task", "status": "passed",
     "detail": "post_plan, mandatory: No issues found.", "url": "https://external.service/project/task-123abc"},
]


def test_comment_lists_policy_checks_and_run_tasks(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"id": "run-1", "url": "https://tfc/run-1", "status": "planned_and_finished",
                                    "error": "", "checks": CHECKS}))
    proc = run_main("plan-summary", str(REDACTED / "plan-json-basic.json"), "--stack", STACK, "--run-json",
                    str(run_json))
    assert proc.returncode == 0, proc.stderr
    checks = section(proc.stdout, "Policy checks and run tasks")
    assert "- **soft_failed** policy check `Sentinel (organization)`: 0 passed, 0 hard-failed, 1 soft-failed" in checks
    assert ("- **passed** run task `example-task`: post_plan, mandatory: No issues found. "
            "([details](https://external.service/project/task-123abc))") in checks
    assert proc.stdout.index("#### Policy checks") < proc.stdout.index("#### Changes by construct")


def test_failed_run_comment_lists_the_checks_that_stopped_it(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"id": "run-1", "url": "https://tfc/run-1", "status": "policy_override",
                                    "error": "The run stopped at 'policy_override'", "checks": CHECKS}))
    proc = run_main("plan-summary", "--stack", STACK, "--run-json", str(run_json))
    assert proc.returncode == 0, proc.stderr
    assert "(`policy_override`)" in proc.stdout and "**soft_failed** policy check" in proc.stdout


def test_run_json_with_malformed_checks_exits_2(tmp_path):
    run_json = tmp_path / "run.json"
    run_json.write_text(json.dumps({"status": "planned", "error": "", "checks": "soft_failed"}))
    proc = run_main("plan-summary", str(NO_CHANGES), "--stack", STACK, "--run-json", str(run_json))
    assert proc.returncode == 2 and "checks: expected a list of objects" in proc.stderr
