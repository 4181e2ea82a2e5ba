"""modules/failure_alarms.py: a failed cron run is a CloudWatch alarm (issue 16: failures were silent)."""

from __future__ import annotations

import re

from conftest import ROOT
from test_workload import bad_input_line

OPS_HTTP = ROOT / "docker" / "lib" / "ops-http.sh"


def test_each_cron_has_a_metric_filter_and_an_alarm_on_its_failure_lines(stage, stage_cfg):
    own = re.compile(r"araquem-stage-(.+)-failures")  # the log-line alarms (not -task-failures: test_schedule_failures)
    filters = {f["name"].removeprefix("araquem-stage-"): f for f in stage.resources("aws_cloudwatch_log_metric_filter").values()
               if own.fullmatch(f["name"]) and not f["name"].endswith("-task-failures")}
    alarms = {a["alarm_name"].removeprefix("araquem-stage-"): a for a in stage.resources("aws_cloudwatch_metric_alarm").values()
              if own.fullmatch(a["alarm_name"]) and not a["alarm_name"].endswith("-task-failures")}
    crons = sorted(n for n, s in stage_cfg.services.items() if s.failure_alarm)
    assert crons == ["quality-cron", "rag-refresh-cron"]
    # plus every init container's, by default (ollama-init: tests/test_service_alarms.py)
    assert sorted(filters) == sorted(alarms) == sorted([f"{c}-failures" for c in [*crons, "ollama-init"]])
    for cron in crons:
        spec = stage_cfg.services[cron].failure_alarm
        metric, alarm = filters[f"{cron}-failures"], alarms[f"{cron}-failures"]
        assert f"workload_{cron}_log_group_{cron}_" in metric["log_group_name"]  # the cron's own log group
        assert metric["pattern"] == spec.log_pattern
        transform = metric["metric_transformation"]
        assert (transform["namespace"], transform["name"], transform["value"]) == ("araquem/stage", f"{cron}-failures", "1")
        assert (alarm["namespace"], alarm["metric_name"]) == (transform["namespace"], transform["name"])
        assert alarm["statistic"] == "Sum" and alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["threshold"] == 1 and alarm["evaluation_periods"] == 1
        assert alarm["period"] == spec.period == 3600  # one hourly interval: ALARM until the next run
        assert alarm["treat_missing_data"] == "notBreaching"  # no failure line is no failure


def test_the_pattern_matches_the_line_the_crons_write_on_failure(stage_cfg):
    """CloudWatch's quoted term matches lines containing it; ops-http.sh writes it on every failure."""
    term = re.fullmatch(r'"([^"]+)"', stage_cfg.services["quality-cron"].failure_alarm.log_pattern)[1]
    script = OPS_HTTP.read_text()
    assert re.search(r'fail\(\) \{ code=\$1; shift; log "' + re.escape(term), script)
    assert f'log "{term} cycle $cycle' in script  # the loop mode's failed cycle too


def test_alarm_period_must_be_whole_minutes(tmp_path):
    def mutate(data):
        data["services"]["quality-cron"]["failure_alarm"] = {"period": 90}

    line = bad_input_line(tmp_path, mutate, "services.quality-cron.failure_alarm.period")
    assert "not a multiple of 60" in line
