"""scripts/tfc_run.py against a local fake of the Terraform Cloud API.

The fake replays the documented request and response shapes (JSON:API documents of workspaces,
configuration-versions, runs and plans; the pre-signed upload and download URLs on another host; the 307 of
json-output-redacted) and records every request, so the tests check what the script asked for (speculative,
plan-only, the archive's content, no token sent to pre-signed URLs) as well as what it wrote.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import PYTHON, ROOT, run

SCRIPT = ROOT / "scripts" / "tfc_run.py"
PLAN_FIXTURE = ROOT / "tests" / "fixtures" / "plans" / "plan-changes.json"
ORG, WORKSPACE, WS_ID = "araquem", "araquem-stage", "ws-Fake123"
TOKEN = "team-token-plan"


class FakeTfc:
    """Scenario knobs: run_statuses (returned one per GET /runs/:id, the last repeats), upload_status,
    cv_status (same), plan_log (text of the plan log)."""

    def __init__(self, run_statuses, upload_status=200, cv_statuses=("pending", "uploaded"), plan_log="",
                 confirmable_at=("planned",)):
        self.run_statuses = list(run_statuses)
        self.upload_status = upload_status
        self.cv_statuses = list(cv_statuses)
        self.plan_log = plan_log
        self.confirmable_at = confirmable_at
        self.requests: list[dict] = []
        self.uploaded: bytes | None = None
        self.run_body: dict | None = None
        self.cv_body: dict | None = None
        self.applied = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _next(self, seq: list) -> str:
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def run_doc(self, status: str) -> dict:
        return {"data": {"id": "run-Fake456", "type": "runs", "attributes": {
            "status": status, "plan-only": bool(self.run_body and self.run_body["data"]["attributes"]["plan-only"]),
            "actions": {"is-cancelable": True, "is-confirmable": status in self.confirmable_at,
                        "is-discardable": status in self.confirmable_at, "is-force-cancelable": False}},
            "relationships": {"plan": {"data": {"id": "plan-Fake789", "type": "plans"}},
                              "workspace": {"data": {"id": WS_ID, "type": "workspaces"}}}}}

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

            def do_GET(self):  # noqa: N802
                self._record()
                p = self.path
                if p == f"/api/v2/organizations/{ORG}/workspaces/{WORKSPACE}":
                    return self._reply(200, {"data": {"id": WS_ID, "type": "workspaces",
                                                      "attributes": {"name": WORKSPACE}}})
                if p == "/api/v2/configuration-versions/cv-Fake":
                    status = fake._next(fake.cv_statuses)
                    return self._reply(200, {"data": {"id": "cv-Fake", "type": "configuration-versions",
                                                      "attributes": {"status": status, "error": None,
                                                                     "error-message": "archive is not a tar.gz"
                                                                     if status == "errored" else None}}})
                if p == "/api/v2/runs/run-Fake456":
                    return self._reply(200, fake.run_doc(fake._next(fake.run_statuses)))
                if p == "/api/v2/plans/plan-Fake789":
                    return self._reply(200, {"data": {"id": "plan-Fake789", "type": "plans", "attributes": {
                        "status": "finished", "has-changes": True, "resource-additions": 3,
                        "log-read-url": f"{fake.url}/archivist/log?sig=x"},
                        "links": {"self": "/api/v2/plans/plan-Fake789",
                                  "json-output": "/api/v2/plans/plan-Fake789/json-output",
                                  "json-output-redacted": "/api/v2/plans/plan-Fake789/json-output-redacted"}}})
                if p == "/api/v2/plans/plan-Fake789/json-output-redacted":
                    return self._reply(307, b"", {"Location": f"{fake.url}/archivist/plan-json?sig=y"})
                if p == "/api/v2/plans/plan-Fake789/json-output":
                    return self._reply(403, {"errors": [{"status": "403", "title": "forbidden"}]})
                if p.startswith("/archivist/plan-json"):
                    return self._reply(200, PLAN_FIXTURE.read_bytes())
                if p.startswith("/archivist/log"):
                    return self._reply(200, fake.plan_log.encode())
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
                if self.path == "/api/v2/runs/run-Fake456/actions/apply":
                    fake.applied = True
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
    assert "GET /api/v2/plans/plan-Fake789/json-output-redacted" in calls
    assert "GET /api/v2/plans/plan-Fake789/json-output" not in calls  # needs workspace admin
    # The token goes to the API only, never to the pre-signed upload/download URLs.
    for r in fake.requests:
        assert r["auth"] == (f"Bearer {TOKEN}" if r["path"].startswith("/api/v2") else None), r
    upload = next(r for r in fake.requests if r["method"] == "PUT")
    assert upload["content_type"] == "application/octet-stream"
    with tarfile.open(fileobj=io.BytesIO(fake.uploaded), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["assets/file.txt", "cdk.tf.json"]  # no .terraform/, no state
    assert json.loads((tmp_path / "plan.json").read_text()) == json.loads(PLAN_FIXTURE.read_text())
    assert json.loads((tmp_path / "run.json").read_text()) == {
        "id": "run-Fake456", "url": f"https://app.terraform.io/app/{ORG}/workspaces/{WORKSPACE}/runs/run-Fake456",
        "status": "planned_and_finished", "plan_id": "plan-Fake789", "has_changes": True, "error": ""}


def test_archive_is_byte_identical_for_the_same_content(tmp_path):
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("tfc_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
    assert result["status"] == "errored" and result["id"] == "run-Fake456" and result["url"].endswith("run-Fake456")
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
    assert result["status"] == "not_started" and expected in result["error"]


def test_deploy_plan_waits_for_confirmation_then_apply_confirms_that_run(tmp_path):
    with FakeTfc(["pending", "planning", "planned", "planned"]) as fake:
        proc = tfc(plan_args(tmp_path, "plan"), fake, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert fake.cv_body["data"]["attributes"]["speculative"] is False
        assert fake.run_body["data"]["attributes"]["plan-only"] is False
        assert fake.run_body["data"]["attributes"]["auto-apply"] is False
        assert json.loads((tmp_path / "run.json").read_text())["status"] == "planned"
        assert not fake.applied
        fake.run_statuses = ["planned", "apply_queued", "applying", "applied"]
        proc = tfc(["apply", "run-Fake456", "--run-json", str(tmp_path / "applied.json")], fake, tmp_path,
                   token="team-token-apply")
    assert proc.returncode == 0, proc.stderr
    assert fake.applied
    assert json.loads((tmp_path / "applied.json").read_text())["status"] == "applied"
    apply_call = next(r for r in fake.requests if r["path"].endswith("/actions/apply"))
    assert apply_call["auth"] == "Bearer team-token-apply"


@pytest.mark.parametrize("status,applied,code", [
    ("discarded", False, 1), ("planned_and_finished", False, 0)], ids=["discarded", "no-changes"])
def test_apply_never_confirms_a_run_that_is_not_waiting(tmp_path, status, applied, code):
    with FakeTfc([status]) as fake:
        proc = tfc(["apply", "run-Fake456"], fake, tmp_path)
    assert proc.returncode == code, proc.stderr
    assert fake.applied is applied


def test_apply_fails_when_the_apply_errors(tmp_path):
    with FakeTfc(["planned", "applying", "errored"]) as fake:
        proc = tfc(["apply", "run-Fake456"], fake, tmp_path)
    assert proc.returncode == 1 and fake.applied and "ended 'errored'" in proc.stderr


@pytest.mark.parametrize("case", ["no-token", "no-cloud-block", "bad-run-id"])
def test_bad_input_exits_2_without_calling_the_api(tmp_path, case):
    if case == "no-token":
        proc = tfc(plan_args(tmp_path), None, tmp_path, token="")
        assert "TF_API_TOKEN is not set" in proc.stderr
    elif case == "no-cloud-block":
        d = stack_dir(tmp_path, cloud={})
        proc = tfc(["speculative", str(d), "--plan-json", "p", "--run-json", "r"], None, tmp_path)
        assert "no terraform.cloud block" in proc.stderr
    else:
        proc = tfc(["apply", "run-1; rm -rf /"], None, tmp_path)
        assert "is not a run id" in proc.stderr
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
