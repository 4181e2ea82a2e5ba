"""modules/commands/cost.py: `python main.py cost` -- the table, --json, --compare, and bad input."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import run_main, variant


def write_env(tmp_path, name: str, data: dict):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def stage_json():
    proc = run_main("cost", "--env", "stage", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_text_table_shows_every_group_the_total_and_the_assumptions(stage_json):
    proc = run_main("cost", "--env", "stage")
    assert proc.returncode == 0, proc.stderr
    for group in stage_json["groups"]["desired"]:
        assert f"\n{group} " in proc.stdout
    total_row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("TOTAL"))
    assert f"{stage_json['totals']['desired']:,.2f}" in total_row and f"{stage_json['totals']['max']:,.2f}" in total_row
    assert "assumptions: NAT gateways process" in proc.stdout and "not counted:" in proc.stdout
    assert "prices: modules/cost/prices.json, retrieved" in proc.stdout


def test_json_totals_add_up(stage_json):
    assert stage_json["totals"]["desired"] == round(sum(ln["desired"] for ln in stage_json["lines"]), 2)
    assert stage_json["region"] == "us-east-1" and stage_json["currency"] == "USD"
    assert stage_json["totals"]["max"] > stage_json["totals"]["desired"]


def test_fixed_monthly_items_are_lines_and_no_longer_listed_as_not_counted(stage_json):
    # stage: 18 standard alarm metrics x $0.10 (docs/cost.md), the alarm topic's KMS key x $1, 5 created secrets
    # x $0.40 (us-east-1)
    groups = stage_json["groups"]["desired"]
    assert (groups["CloudWatch alarms"], groups["KMS keys"], groups["Secrets Manager"]) == (1.8, 1.0, 2.0)
    not_counted = "; ".join(stage_json["not_counted"])
    assert "Secrets Manager secrets and KMS keys" not in not_counted and "CloudWatch alarms" not in not_counted
    assert "SNS, SQS" in not_counted and "`existing` secrets" in not_counted
    assert any("first two yearly rotations" in a for a in stage_json["assumptions"])


def test_a_new_secret_in_the_env_file_adds_a_secret_month_to_the_delta(tmp_path):
    base = write_env(tmp_path, "base", variant(lambda d: None))
    head = write_env(tmp_path, "head", variant(lambda d: d["secrets"].update(EXTRA={"generate": True})))
    proc = run_main("--env-file", str(head), "cost", "--compare", str(base), "--json")
    assert proc.returncode == 0, proc.stderr
    delta = json.loads(proc.stdout)
    assert {g: v["delta"] for g, v in delta["groups"].items() if v["delta"]} == {"Secrets Manager": 0.4}


def _in_ap_south_2(data):
    """stage moved to a Region the price table lacks (its certificate is requested there: alb.domain)."""
    data["region"] = "ap-south-2"
    data["network"].pop("availability_zones")  # us-east-1's zone names


@pytest.mark.parametrize("mutate, field, words", [
    (_in_ap_south_2, "region", "'ap-south-2' has no prices in modules/cost/prices.json"),
    (lambda d: d["cluster"]["capacity_providers"]["gpu"].update(instance_type="g6.xlarge"),
     "cluster.capacity_providers.gpu.instance_type", "no price for 'g6.xlarge' in us-east-1"),
])
def test_unpriced_input_is_exit_2_naming_file_field_and_price_table(tmp_path, mutate, field, words):
    path = write_env(tmp_path, "odd", variant(mutate))
    proc = run_main("--env-file", str(path), "cost")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{path}: {field}: ") and words in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_compare_gives_the_delta_of_a_change(tmp_path):
    base = write_env(tmp_path, "base", variant(lambda d: None))
    head = write_env(tmp_path, "head", variant(
        lambda d: d["cluster"]["capacity_providers"]["gpu"].update(instance_type="g4dn.xlarge")))
    proc = run_main("--env-file", str(head), "cost", "--compare", str(base), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    per_hour = 0.526 - 1.006  # g4dn.xlarge - g5.xlarge in us-east-1 (prices.json)
    window_hours = 60 * 730 / 168  # stage's GPU runs mon-fri 08:00-20:00: the delta is priced as the env runs
    assert d["groups"]["EC2 gpu"]["delta"] == pytest.approx(per_hour * window_hours, abs=0.01)
    assert d["total"]["delta"] == d["groups"]["EC2 gpu"]["delta"]
    assert {g for g, v in d["groups"].items() if v["delta"]} == {"EC2 gpu"}

    md = run_main("--env-file", str(head), "cost", "--compare", str(base), "--format", "markdown").stdout
    assert md.startswith("<!-- araquem-cost:araquem-stage -->\n")
    assert "**-125.14 USD/month**" in md and "| EC2 gpu | 266.56 | 141.42 | -125.14 |" in md
    assert "(at max sizes -125.14:" in md


def test_compare_shows_what_an_off_hours_window_saves(tmp_path):
    base = write_env(tmp_path, "base", variant(lambda d: d["cluster"]["capacity_providers"]["gpu"].pop("off_hours")))
    head = write_env(tmp_path, "head", variant(lambda d: None))
    d = json.loads(run_main("--env-file", str(head), "cost", "--compare", str(base), "--json").stdout)
    per_month = 1.006 * 730 + 150 * 0.08  # g5.xlarge + its 150 GiB root volume, around the clock
    assert d["groups"]["EC2 gpu"]["delta"] == pytest.approx(-per_month * (1 - 60 / 168), abs=0.01)


def test_compare_of_identical_files_says_no_change(tmp_path):
    base = write_env(tmp_path, "base", variant(lambda d: None))
    md = run_main("--env-file", str(base), "cost", "--compare", str(base), "--format", "markdown")
    assert md.returncode == 0 and "No change:" in md.stdout


def test_a_bad_base_file_is_exit_2_naming_it(tmp_path):
    base = write_env(tmp_path, "base", variant(lambda d: [d.update(region="nowhere"),
                                                          d["network"].pop("availability_zones")]))
    proc = run_main("cost", "--env", "stage", "--compare", str(base))
    assert proc.returncode == 2 and proc.stderr.startswith(f"{base}: region:")


def test_describe_summary_line_is_the_cost_commands_figure(stage_json):
    proc = run_main("describe", "--env", "stage")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("cost: "))
    assert f"~${stage_json['totals']['desired']:,.2f}/month" in line and f"${stage_json['totals']['max']:,.2f} at max" in line


def test_docs_show_the_commands_current_estimate_of_stage():
    from conftest import ROOT

    doc = (ROOT / "docs" / "cost.md").read_text()
    marker = "<!-- generated: python main.py cost --env stage"
    block = doc.split(marker, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    proc = run_main("cost", "--env", "stage")
    assert block == proc.stdout, "docs/cost.md is stale: run `make regen` (or paste `python main.py cost --env stage` into its block)"


def test_describe_says_why_there_is_no_estimate_for_an_unpriced_region(tmp_path):
    path = write_env(tmp_path, "odd", variant(_in_ap_south_2))
    proc = run_main("--env-file", str(path), "describe")
    assert proc.returncode == 0, proc.stderr  # describe still describes
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("cost: "))
    assert line.startswith("cost: not estimated: region: 'ap-south-2' has no prices in modules/cost/prices.json")


def test_compare_ref_prices_the_env_file_as_committed_at_a_git_ref(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    path = write_env(tmp_path, "stage", variant(lambda d: d["cluster"]["capacity_providers"]["gpu"].pop("off_hours")))
    git("init", "-q")
    git("add", "stage.yaml")
    git("commit", "-q", "-m", "around the clock")
    write_env(tmp_path, "stage", variant(lambda d: None))  # the change under review: off-hours
    d = json.loads(run_main("--env-file", str(path), "cost", "--compare-ref", "HEAD", "--json").stdout)
    assert {g for g, v in d["groups"].items() if v["delta"]} == {"EC2 gpu"} and d["total"]["delta"] < 0

    missing = run_main("--env-file", str(path), "cost", "--compare-ref", "no-such-ref")
    assert missing.returncode == 2 and missing.stderr.startswith("error: --compare-ref no-such-ref: cannot read stage.yaml")


def test_output_file_gets_the_table_and_an_unwritable_one_is_exit_2(tmp_path):
    out = tmp_path / "cost.txt"
    written = run_main("cost", "--env", "stage", "--output", str(out))
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and out.read_text().splitlines()[-1] == run_main("cost", "--env", "stage").stdout.splitlines()[-1]
    nowhere = run_main("cost", "--env", "stage", "--output", str(tmp_path / "missing" / "cost.txt"))
    assert nowhere.returncode == 2 and "Traceback" not in nowhere.stderr
    assert f"cannot write the estimate to {tmp_path / 'missing' / 'cost.txt'}: No such file" in nowhere.stderr
