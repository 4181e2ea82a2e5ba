"""scripts/tfc_run.py against a local fake of the Terraform Cloud API.

The fake serves HashiCorp's own payloads (tests/fixtures/tfc/README.md: the API reference's sample run, plan,
apply, policy-check and task-stage documents; Terraform's own json-output-redacted test data), with the
status and actions of each scenario, the pre-signed upload and download URLs on another host and the 307 of
json-output-redacted, and records every request (discard and cancel included), so the tests check what the
script asked for (speculative, plan-only, the archive's content, no token sent to pre-signed URLs, the run
it discarded) as well as what it wrote. Workspace and configuration-version documents are the minimal
JSON:API shape the script reads (id, status, upload-url).
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, run

SCRIPT = ROOT / "scripts" / "tfc_run.py"
TFC_FIXTURES = ROOT / "tests" / "fixtures" / "tfc"
API = TFC_FIXTURES / "api"
# What GET /plans/:id/json-output-redacted really returns: Terraform's own test data for it
PLAN_FIXTURE = TFC_FIXTURES / "plans-redacted" / "plan-json-basic.json"
ORG, WORKSPACE, WS_ID = "araquem", "araquem-stage", "ws-LLGHCr4SWy28wyGN"
RUN_DOC = json.loads((API / "run.json").read_text())
PLAN_DOC = json.loads((API / "plan.json").read_text())
APPLY_DOC = json.loads((API / "apply.json").read_text())
RUN_ID, PLAN_ID, APPLY_ID = RUN_DOC["data"]["id"], PLAN_DOC["data"]["id"], APPLY_DOC["data"]["id"]
TOKEN = "team-token-plan"
# States where the run waits for confirmation (is-confirmable): a deploy plan stops at the first of them.
CONFIRMABLE = ("planned", "cost_estimated", "policy_checked", "post_plan_completed")
# The API reference: "discard ... runs that are paused waiting for confirmation or priority ... pending, needs
# confirmation, policy checked, and policy override", and its `discardable` status group. A run task awaiting a
# decision offers the same Discard button in the UI (assumed discardable here too).
DISCARDABLE = {"pending", "planned", "planned_and_saved", "cost_estimated", "policy_checked", "policy_override",
               "post_plan_running", "post_plan_completed", "post_plan_awaiting_decision"}
# "cancel ... interrupt a run that is currently planning or applying"
CANCELABLE = {"fetching", "fetching_completed", "pre_plan_running", "pre_plan_completed", "queuing", "plan_queued",
              "planning", "cost_estimating", "policy_checking", "apply_queued", "queuing_apply", "pre_apply_running",
              "pre_apply_completed", "applying", "post_apply_running"}


class FakeTfc:
    """Scenario knobs: run_statuses (returned one per GET /runs/:id, the last repeats; a discard or cancel
    moves the run to discarded/canceled), upload_status, cv_statuses (same), plan_log and apply_log (log texts),
    forbidden_actions (POST actions answered 404 "not found or not authorized", as for a plan-level token)."""

    def __init__(self, run_statuses, upload_status=200, cv_statuses=("pending", "uploaded"), plan_log="",
                 apply_log="", confirmable_at=CONFIRMABLE, plan_json: Path = PLAN_FIXTURE, forbidden_actions=()):
        self.run_statuses = list(run_statuses)
        self.upload_status = upload_status
        self.cv_statuses = list(cv_statuses)
        self.plan_log, self.apply_log = plan_log, apply_log
        self.confirmable_at = confirmable_at
        self.plan_json = plan_json
        self.forbidden_actions = forbidden_actions
        self.requests: list[dict] = []
        self.actions: list[tuple[str, dict]] = []  # (apply|discard|cancel, body) in order
        self.uploaded: bytes | None = None
        self.run_body: dict | None = None
        self.cv_body: dict | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def applied(self) -> bool:
        return any(name == "apply" for name, _ in self.actions)

    @property
    def discarded(self) -> list[str]:
        """discard and cancel calls: what a failure path must leave behind."""
        return [name for name, _ in self.actions if name in ("discard", "cancel")]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _next(self, seq: list) -> str:
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def status(self) -> str:
        return self._next(self.run_statuses)

    def run_doc(self, status: str) -> dict:
        doc = copy.deepcopy(RUN_DOC)
        attrs = doc["data"]["attributes"]
        attrs["status"] = status
        attrs["plan-only"] = bool(self.run_body and self.run_body["data"]["attributes"]["plan-only"])
        attrs["actions"] = {"is-cancelable": status in CANCELABLE, "is-confirmable": status in self.confirmable_at,
                            "is-discardable": status in DISCARDABLE, "is-force-cancelable": False}
        doc["data"]["relationships"]["workspace"]["data"]["id"] = WS_ID
        return doc

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: dict | bytes | None = None, headers: dict | None = None):
                data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.api+json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append({"method": self.command, "path": self.path,
                                      "auth": self.headers.get("Authorization"),
                                      "content_type": self.headers.get("Content-Type")})
                return body

            def _phase(self, doc: dict, log: str) -> dict:
                doc = copy.deepcopy(doc)
                doc["data"]["attributes"]["log-read-url"] = f"{fake.url}/archivist/{log}?sig=x"  # pre-signed, no token
                return doc

            def do_GET(self):  # noqa: N802
                self._record()
                p = self.path
                if p in (f"/api/v2/organizations/{ORG}/workspaces/{WORKSPACE}", f"/api/v2/workspaces/{WS_ID}"):
                    return self._reply(200, {"data": {"id": WS_ID, "type": "workspaces",
                                                      "attributes": {"name": WORKSPACE}, "relationships": {
                                                          "organization": {"data": {"id": ORG,
                                                                                    "type": "organizations"}}}}})
                if p == "/api/v2/configuration-versions/cv-Fake":
                    status = fake._next(fake.cv_statuses)
                    return self._reply(200, {"data": {"id": "cv-Fake", "type": "configuration-versions",
                                                      "attributes": {"status": status, "error": None,
                                                                     "error-message": "archive is not a tar.gz"
                                                                     if status == "errored" else None}}})
                if p == f"/api/v2/runs/{RUN_ID}":
                    return self._reply(200, fake.run_doc(fake.status()))
                if p == f"/api/v2/plans/{PLAN_ID}":
                    return self._reply(200, self._phase(PLAN_DOC, "plan-log"))
                if p == f"/api/v2/applies/{APPLY_ID}":
                    return self._reply(200, self._phase(APPLY_DOC, "apply-log"))
                if p == f"/api/v2/runs/{RUN_ID}/policy-checks":
                    return self._reply(200, json.loads((API / "policy-checks.json").read_text()))
                if p == f"/api/v2/runs/{RUN_ID}/task-stages":
                    return self._reply(200, json.loads((API / "task-stages.json").read_text()))
                if p.startswith("/api/v2/task-results/"):
                    return self._reply(200, json.loads((API / "task-result.json").read_text()))
                if p == f"/api/v2/plans/{PLAN_ID}/json-output-redacted":
                    return self._reply(307, b"", {"Location": f"{fake.url}/archivist/plan-json?sig=y"})
                if p == f"/api/v2/plans/{PLAN_ID}/json-output":
                    return self._reply(403, {"errors": [{"status": "403", "title": "forbidden"}]})
                if p.startswith("/archivist/plan-json"):
                    return self._reply(200, fake.plan_json.read_bytes())
                if p.startswith("/archivist/plan-log"):
                    return self._reply(200, fake.plan_log.encode())
                if p.startswith("/archivist/apply-log"):
                    return self._reply(200, fake.apply_log.encode())
                return self._reply(404, {"errors": [{"status": "404", "title": "not found"}]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self._record() or b"{}")
                if self.path == f"/api/v2/workspaces/{WS_ID}/configuration-versions":
                    fake.cv_body = body
                    return self._reply(201, {"data": {"id": "cv-Fake", "type": "configuration-versions",
                                                      "attributes": {"status": "pending", "speculative":
                                                                     body["data"]["attributes"]["speculative"],
                                                                     "upload-url": f"{fake.url}/archivist/upload/cv-Fake?sig=z"}}})
                if self.path == "/api/v2/runs":
                    fake.run_body = body
                    return self._reply(201, fake.run_doc("pending"))
                for action, then in (("apply", None), ("discard", "discarded"), ("cancel", "canceled")):
                    if self.path == f"/api/v2/runs/{RUN_ID}/actions/{action}":
                        if action in fake.forbidden_actions:
                            return self._reply(404, {"errors": [{"status": "404", "title": "not found"}]})
                        fake.actions.append((action, body))
                        if then:
                            fake.run_statuses = [then]
                        return self._reply(202, b"")
                return self._reply(404, {"errors": [{"status": "404", "title": "not found"}]})

            def do_PUT(self):  # noqa: N802
                body = self._record()
                if self.path.startswith("/archivist/upload/"):
                    fake.uploaded = body
                    if fake.upload_status >= 400:
                        return self._reply(fake.upload_status, b"<Error><Code>AccessDenied</Code></Error>")
                    return self._reply(200, b"")
                return self._reply(404, b"")

        return Handler


def stack_dir(tmp_path: Path, cloud: dict | None = None) -> Path:
    d = tmp_path / "stacks" / "araquem-stage"
    (d / ".terraform" / "providers").mkdir(parents=True)
    (d / ".terraform" / "providers" / "big-binary").write_text("provider")
    (d / "terraform.tfstate").write_text("{}")
    (d / "assets").mkdir()
    (d / "assets" / "file.txt").write_text("asset")
    cloud = {"organization": ORG, "workspaces": {"name": WORKSPACE}} if cloud is None else cloud
    terraform = {"cloud": cloud} if cloud else {}
    (d / "cdk.tf.json").write_text(json.dumps({"terraform": terraform, "resource": {}}))
    return d


def tfc(args: list[str], fake: FakeTfc | None, tmp_path: Path, token: str = TOKEN):
    env = {"TF_API_TOKEN": token, "TFC_API_URL": fake.url if fake else "http://127.0.0.1:9",
           "TFC_POLL_SECONDS": "0.01", "TFC_TIMEOUT_SECONDS": "20", "TF_WORKSPACE": None}
    return run([PYTHON, str(SCRIPT), *args], cwd=tmp_path, env=env, check=False, timeout=120)


def plan_args(tmp_path: Path, command: str = "speculative") -> list[str]:
    return [command, str(stack_dir(tmp_path)), "--plan-json", str(tmp_path / "plan.json"),
            "--run-json", str(tmp_path / "run.json"), "--message", "PR #7 abc123"]


def api_calls(fake: FakeTfc) -> list[str]:
    return [f"{r['method']} {r['path'].split('?')[0]}" for r in fake.requests]


def load_script():
    spec = importlib.util.spec_from_file_location("tfc_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speculative_plan_uploads_the_stack_and_reads_the_redacted_json(tmp_path):
    with FakeTfc(["pending", "planning", "planned_and_finished"]) as fake:
        proc = tfc(plan_args(tmp_path), fake, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert fake.cv_body == {"data": {"type": "configuration-versions",
                                     "attributes": {"auto-queue-runs": False, "speculative": True}}}
    run_attrs = fake.run_body["data"]["attributes"]
    assert run_attrs["plan-only"] is True and run_attrs["auto-apply"] is False and run_attrs["message"] == "PR #7 abc123"
    assert fake.run_body["data"]["relationships"] == {
        "workspace": {"data": {"type": "workspaces", "id": WS_ID}},
        "configuration-version": {"data": {"type": "configuration-versions", "id": "cv-Fake"}}}
    calls = api_calls(fake)
    # the run is created only once the configuration version is processed ("uploaded")
    assert calls[:6] == [f"GET /api/v2/organizations/{ORG}/workspaces/{WORKSPACE}",
                         f"POST /api/v2/workspaces/{WS_ID}/configuration-versions",
                         "PUT /archivist/upload/cv-Fake", "GET /api/v2/configuration-versions/cv-Fake",
                         "GET /api/v2/configuration-versions/cv-Fake", "POST /api/v2/runs"]
    assert f"GET /api/v2/plans/{PLAN_ID}/json-output-redacted" in calls
    assert f"GET /api/v2/plans/{PLAN_ID}/json-output" not in calls  # needs workspace admin
    # The token goes to the API only, never to the pre-signed upload/download URLs.
    for r in fake.requests:
        assert r["auth"] == (f"Bearer {TOKEN}" if r["path"].startswith("/api/v2") else None), r
    upload = next(r for r in fake.requests if r["method"] == "PUT")
    assert upload["content_type"] == "application/octet-stream"
    with tarfile.open(fileobj=io.BytesIO(fake.uploaded), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["assets/file.txt", "cdk.tf.json"]  # no .terraform/, no state
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved == json.loads(PLAN_FIXTURE.read_text()) and "plan_format_version" in saved
    result = json.loads((tmp_path / "run.json").read_text())
    checks = result.pop("checks")
    assert result == {
        "id": RUN_ID, "url": f"https://app.terraform.io/app/{ORG}/workspaces/{WORKSPACE}/runs/{RUN_ID}",
        "status": "planned_and_finished", "plan_id": PLAN_ID, "has_changes": True, "error": ""}
    # the docs' samples: a soft-failed organization policy check, a passed mandatory run task, an OPA evaluation
    assert checks == [
        {"kind": "policy check", "name": "Sentinel (organization)", "status": "soft_failed",
         "detail": "0 passed, 0 hard-failed, 1 soft-failed, 0 advisory-failed", "url": ""},
        {"kind": "run task", "name": "example-task", "status": "passed",
         "detail": "post_plan, mandatory: No issues found. Severity threshold is set to low.",
         "url": "https://external.service/project/task-123abc"},
        {"kind": "policy evaluation", "name": "poleval-iouaha9KLgGWkBRQ", "status": "passed",
         "detail": "post_plan stage (details in the run)", "url": ""}]
    assert not fake.actions  # a speculative run is never confirmed, discarded or cancelled


def test_archive_is_byte_identical_for_the_same_content(tmp_path):
    module = load_script()
    a, b = stack_dir(tmp_path / "a"), stack_dir(tmp_path / "b")
    (b / "assets" / "file.txt").touch()  # newer mtime, same content
    assert module.archive(a) == module.archive(b)


STRUCTURED_LOG = "\n".join(json.dumps(line) for line in [
    {"@level": "info", "@message": "Terraform 1.11.4", "type": "version"},
    {"@level": "error", "@message": "Error: Invalid value for variable", "type": "diagnostic",
     "diagnostic": {"severity": "error", "summary": "creating ECS Service (araquem-stage-api): "
                    "InvalidParameterException: The target group does not have an associated load balancer.",
                    "detail": "", "range": {"filename": "cdk.tf.json", "start": {"line": 1200}}}},
])


@pytest.mark.parametrize("log,expected", [
    (STRUCTURED_LOG, "Error: creating ECS Service (araquem-stage-api): InvalidParameterException"),
    ("\x1b[31m╷\x1b[0m\n│ Error: Unsupported argument\n│ \n" + "x" * 30000 + "\nthe last line",
     "the last line"),
], ids=["structured-log", "plain-log-trimmed"])
def test_failed_plan_reports_the_error_text(tmp_path, log, expected):
    with FakeTfc(["pending", "planning", "errored"], plan_log=log) as fake:
        proc = tfc(plan_args(tmp_path), fake, tmp_path)
    assert proc.returncode == 1
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["status"] == "errored" and result["id"] == RUN_ID and result["url"].endswith(RUN_ID)
    assert expected in result["error"] and "\x1b" not in result["error"]
    assert len(result["error"]) <= 20_000
    assert "cdk.tf.json line 1200" in result["error"] or "cut" in result["error"]
    assert not (tmp_path / "plan.json").exists()  # no plan JSON: the renderer shows the error instead
    assert expected in proc.stderr


@pytest.mark.parametrize("upload_status,cv_statuses,expected", [
    (403, ("pending",), "upload of the configuration failed: HTTP 403"),
    (200, ("pending", "errored"), "configuration version cv-Fake errored: archive is not a tar.gz"),
], ids=["upload-rejected", "version-errored"])
def test_errored_upload_fails_before_any_run(tmp_path, upload_status, cv_statuses, expected):
    with FakeTfc(["pending"], upload_status=upload_status, cv_statuses=cv_statuses) as fake:
        proc = tfc(plan_args(tmp_path), fake, tmp_path)
    assert proc.returncode == 1
    assert fake.run_body is None and "POST /api/v2/runs" not in api_calls(fake)
    result = json.loads((tmp_path / "run.json").read_text())
    assert result["status"] == "not_started" and expected in result["error"] and result["id"] is None


def test_deploy_plan_waits_for_confirmation_then_apply_confirms_that_run(tmp_path):
    with FakeTfc(["pending", "planning", "cost_estimating", "policy_checking", "post_plan_running",
                  "post_plan_completed"]) as fake:
        # started (the run id saved), then waited for in a second step
        proc = tfc([*plan_args(tmp_path, "plan"), "--no-wait"], fake, tmp_path)
        assert proc.returncode == 0, proc.stderr
        started = json.loads((tmp_path / "run.json").read_text())
        assert started["id"] == RUN_ID and started["status"] == "pending" and not (tmp_path / "plan.json").exists()
        assert f"GET /api/v2/runs/{RUN_ID}" not in api_calls(fake)  # no wait at all
        proc = tfc(["wait", str(tmp_path / "stacks" / "araquem-stage"), "--plan-json", str(tmp_path / "plan.json"),
                    "--run-json", str(tmp_path / "run.json")], fake, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert fake.cv_body["data"]["attributes"]["speculative"] is False
        assert fake.run_body["data"]["attributes"]["plan-only"] is False
        assert fake.run_body["data"]["attributes"]["auto-apply"] is False
        assert json.loads((tmp_path / "run.json").read_text())["status"] == "post_plan_completed"
        for status in ("planning", "cost_estimating", "policy_checking", "post_plan_running"):
            assert f"run {RUN_ID}: {status} (" in proc.stderr  # progress, one line per state
        assert not fake.applied
        fake.run_statuses = ["post_plan_completed", "apply_queued", "applying", "applied"]
        proc = tfc(["apply", RUN_ID, "--run-json", str(tmp_path / "applied.json")], fake, tmp_path,
                   token="team-token-apply")
    assert proc.returncode == 0, proc.stderr
    assert [name for name, _ in fake.actions] == ["apply"]
    assert json.loads((tmp_path / "applied.json").read_text())["status"] == "applied"
    apply_call = next(r for r in fake.requests if r["path"].endswith("/actions/apply"))
    assert apply_call["auth"] == "Bearer team-token-apply"


@pytest.mark.parametrize("status,applied,code", [
    ("discarded", False, 1), ("planned_and_finished", False, 0)], ids=["discarded", "no-changes"])
def test_apply_never_confirms_a_run_that_is_not_waiting(tmp_path, status, applied, code):
    with FakeTfc([status]) as fake:
        proc = tfc(["apply", RUN_ID], fake, tmp_path)
    assert proc.returncode == code, proc.stderr
    assert fake.applied is applied


APPLY_LOG = "\n".join(json.dumps(line) for line in [
    {"@level": "info", "@message": "aws_acm_certificate_validation.domain_validation: Still creating...", "type": "apply_progress"},
    {"@level": "error", "@message": "Error: waiting for ACM Certificate", "type": "diagnostic",
     "diagnostic": {"severity": "error", "summary": "waiting for ACM Certificate (arn:aws:acm:…) to be issued: "
                    "timeout while waiting for state to become 'ISSUED' (last state: 'PENDING_VALIDATION', timeout: 1h15m0s)",
                    "detail": "", "range": {"filename": "cdk.tf.json", "start": {"line": 310}}}},
])


def test_failed_apply_log_reaches_run_json_and_the_job_summary(tmp_path):
    job_summary = tmp_path / "summary.md"
    with FakeTfc(["planned", "applying", "errored"], apply_log=APPLY_LOG) as fake:
        proc = tfc(["apply", RUN_ID, "--run-json", str(tmp_path / "applied.json"), "--summary", str(job_summary)],
                   fake, tmp_path)
    assert proc.returncode == 1 and fake.applied and "ended 'errored'" in proc.stderr
    assert f"GET /api/v2/applies/{APPLY_ID}" in api_calls(fake) and "GET /archivist/apply-log" in api_calls(fake)
    result = json.loads((tmp_path / "applied.json").read_text())
    assert "last state: 'PENDING_VALIDATION'" in result["error"] and "cdk.tf.json line 310" in result["error"]
    text = job_summary.read_text()
    assert "### Terraform Cloud apply `errored`" in text and "PENDING_VALIDATION" in text


def test_apply_timeout_says_the_run_is_still_applying_and_links_it(tmp_path):
    job_summary = tmp_path / "summary.md"
    with FakeTfc(["planned", "applying"]) as fake:
        proc = run([PYTHON, str(SCRIPT), "apply", RUN_ID, "--run-json", str(tmp_path / "applied.json"),
                    "--summary", str(job_summary)], cwd=tmp_path, check=False, timeout=60,
                   env={"TF_API_TOKEN": TOKEN, "TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01",
                        "TFC_TIMEOUT_SECONDS": "0.5", "TFC_HOSTNAME": None})
        assert proc.returncode == 1
        # the failure path then asks to discard it: an apply is never interrupted, and the job says so
        discard = tfc(["discard", RUN_ID, "--summary", str(job_summary)], fake, tmp_path)
    assert "still 'applying'" in proc.stderr and "holds the workspace" in proc.stderr
    result = json.loads((tmp_path / "applied.json").read_text())
    page = f"https://app.terraform.io/app/{ORG}/workspaces/{WORKSPACE}/runs/{RUN_ID}"
    assert result["status"] == "applying" and result["url"] == page and page in proc.stderr
    assert "### Terraform Cloud run still `applying`" in job_summary.read_text()
    assert discard.returncode == 1 and "not interrupted" in discard.stderr
    assert fake.discarded == []


def test_every_documented_run_state_is_known():
    states = json.loads((TFC_FIXTURES / "run-states.json").read_text())
    documented = set(states["docs_run_states"]) | set(states["go_tfe_run_statuses"])
    module = load_script()
    assert set(module.RUN_STATES) == documented
    # each final state is one outcome; decisions stop the wait; the apply phase is never interrupted
    assert module.FINAL == module.PLANNED_FINAL | module.FAILED_FINAL | module.APPLIED_FINAL
    assert not module.PLANNED_FINAL & module.FAILED_FINAL and not module.FAILED_FINAL & module.APPLIED_FINAL
    assert module.DECISION <= documented and module.APPLY_PHASE <= documented
    assert not (module.DECISION | module.APPLY_PHASE) & module.FINAL
    # the docs' final states are final here
    assert {"planned_and_finished", "applied", "discarded", "errored", "canceled", "policy_soft_failed"} <= module.FINAL


@pytest.mark.parametrize("status", ["policy_override", "post_plan_awaiting_decision"])
def test_a_run_waiting_for_a_decision_fails_the_plan_then_is_discarded(tmp_path, status):
    with FakeTfc(["pending", "planning", "policy_checking", status]) as fake:
        proc = tfc(plan_args(tmp_path, "plan"), fake, tmp_path)
        assert proc.returncode == 1
        result = json.loads((tmp_path / "run.json").read_text())
        assert result["status"] == status and "override" in result["error"] and result["url"] in result["error"]
        assert result["checks"]  # the policy / run-task results that stopped it, for the comment
        assert not (tmp_path / "plan.json").exists()
        proc = tfc(["discard", RUN_ID], fake, tmp_path, token="team-token-discard")
    assert proc.returncode == 0, proc.stderr
    assert fake.discarded == ["discard"] and "now 'discarded'" in proc.stderr


@pytest.mark.parametrize("status,action,code", [
    ("planned", "discard", 0),  # waiting for confirmation (a rejected or expired approval, a failed job)
    ("policy_checked", "discard", 0),
    ("pending", "discard", 0),  # queued behind another run
    ("planning", "cancel", 0),  # the job was cancelled or timed out while it planned
    ("plan_queued", "cancel", 0),
    ("errored", None, 0),  # already over: nothing to do
    ("applied", None, 0),
    ("applying", None, 1),  # never interrupted, said so
])
def test_discard_leaves_no_run_waiting(tmp_path, status, action, code):
    job_summary = tmp_path / "summary.md"
    with FakeTfc([status]) as fake:
        proc = tfc(["discard", RUN_ID, "--summary", str(job_summary), "--message", "deploy rejected"], fake,
                   tmp_path)
    assert proc.returncode == code, proc.stderr
    assert fake.discarded == ([action] if action else [])
    if action:
        assert fake.actions[0][1] == {"comment": "deploy rejected"}
        assert f"{action}ed, now '{'discarded' if action == 'discard' else 'canceled'}'" in proc.stderr
    assert RUN_ID in job_summary.read_text()


def test_discard_with_a_plan_token_names_the_permission_it_needs(tmp_path):
    with FakeTfc(["planned"], forbidden_actions=("discard", "cancel")) as fake:
        proc = tfc(["discard", RUN_ID], fake, tmp_path)
    assert proc.returncode == 1 and fake.discarded == []
    assert "HTTP 404" in proc.stderr and "'apply runs'" in proc.stderr


def test_plan_timeout_leaves_the_run_id_for_the_discard(tmp_path):
    with FakeTfc(["pending"]) as fake:
        proc = run([PYTHON, str(SCRIPT), *plan_args(tmp_path, "plan")], cwd=tmp_path, check=False, timeout=60,
                   env={"TF_API_TOKEN": TOKEN, "TFC_API_URL": fake.url, "TFC_POLL_SECONDS": "0.01",
                        "TFC_TIMEOUT_SECONDS": "0.3", "TF_WORKSPACE": None})
        assert proc.returncode == 1 and "still 'pending'" in proc.stderr
        result = json.loads((tmp_path / "run.json").read_text())
        assert result["id"] == RUN_ID and result["status"] == "pending"
        proc = tfc(["discard", result["id"]], fake, tmp_path)
    assert proc.returncode == 0 and fake.discarded == ["discard"]


@pytest.mark.parametrize("case", ["no-token", "no-cloud-block", "bad-run-id", "bad-discard-id", "wait-no-run"])
def test_bad_input_exits_2_without_calling_the_api(tmp_path, case):
    if case == "no-token":
        proc = tfc(plan_args(tmp_path), None, tmp_path, token="")
        assert "TF_API_TOKEN is not set" in proc.stderr
    elif case == "no-cloud-block":
        d = stack_dir(tmp_path, cloud={})
        proc = tfc(["speculative", str(d), "--plan-json", "p", "--run-json", "r"], None, tmp_path)
        assert "no terraform.cloud block" in proc.stderr
    elif case == "wait-no-run":
        (tmp_path / "run.json").write_text(json.dumps({"id": None, "status": "not_started"}))
        proc = tfc(["wait", str(stack_dir(tmp_path)), "--plan-json", "p", "--run-json", str(tmp_path / "run.json")],
                   None, tmp_path)
        assert "no run id in it" in proc.stderr
    else:
        proc = tfc(["apply" if case == "bad-run-id" else "discard", "run-1; rm -rf /"], None, tmp_path)
        assert "is not a run id" in proc.stderr
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_a_long_wait_is_never_silent(capsys):
    module = load_script()
    module.POLL_SECONDS, module.PROGRESS_SECONDS = 0, 0  # every poll counts as "a while"
    statuses = iter(["plan_queued", "plan_queued", "plan_queued", "some_new_status", "planned_and_finished"])

    class Client:
        def request(self, method, path):
            return {"data": {"id": RUN_ID, "attributes": {"status": next(statuses)}}}

    run = module.wait_for(Client(), RUN_ID, lambda r: False, timeout=60)
    assert run["attributes"]["status"] == "planned_and_finished"
    err = capsys.readouterr().err
    assert err.count(f"run {RUN_ID}: plan_queued (waiting for a worker to plan)") == 3
    assert "some_new_status (not in Terraform Cloud's documented run states; still waiting)" in err
