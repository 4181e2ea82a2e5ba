#!/usr/bin/env python3
"""Terraform Cloud runs through the API (stdlib only), as the delivery workflows use them.

    python scripts/tfc_run.py speculative STACK_DIR --plan-json plan.json --run-json run.json
        PR plans: upload STACK_DIR as a *speculative* configuration version, create a plan-only run, wait for
        it, save the *redacted* plan JSON. A speculative run can never be applied, from CI or from the UI.
    python scripts/tfc_run.py plan STACK_DIR --plan-json plan.json --run-json run.json [--no-wait]
        deploy, step 1: upload STACK_DIR, create a run that stops for confirmation (auto-apply off), wait until
        it is planned, save the redacted plan JSON. run.json names the run to confirm; it is written as soon as
        the run exists, so a job that fails or is cancelled later still knows which run to discard.
        `--no-wait` stops there (the workflow saves the id in a step of its own, then calls `wait`).
        `--target ADDR` (repeatable) limits the run to those resources (the one-time ECR bootstrap).
    python scripts/tfc_run.py wait STACK_DIR --plan-json plan.json --run-json run.json
        the wait of `plan`/`speculative` for the run named in run.json.
    python scripts/tfc_run.py apply RUN_ID [--run-json run.json] [--summary FILE]
        deploy, step 2 (in the protected environment): confirm exactly that run and wait until it is applied.
        A failed apply's log (its error diagnostics, else its tail) goes to run.json and to FILE (Markdown; the
        workflow passes $GITHUB_STEP_SUMMARY). Timeout: a run still applying is said so, with its link.
    python scripts/tfc_run.py discard RUN_ID [--summary FILE]
        every failure path: leave no run waiting. Discards a run waiting for confirmation or a decision
        (policy override, run task), cancels one still queued or planning; never interrupts an apply (cut off
        halfway it leaves resources half made; it ends on its own and frees the workspace): says so instead.

The organization, workspace and hostname come from the `terraform.cloud` block of STACK_DIR/cdk.tf.json
(`workspace_tags` stacks take the name from $TF_WORKSPACE). The token is $TF_API_TOKEN.
Permissions (Terraform Cloud workspace permissions, API reference "Runs"): `speculative`, `plan` and `wait` need
"queue plans" (the *plan* level), which cannot apply; `apply`, and also `discard` (discarding and cancelling
a run both "require permission to apply runs"), need "apply runs" (the *write* level). Plan JSON is read from
/plans/:id/json-output-redacted, which anyone who can read runs may call; /plans/:id/json-output (the
unredacted one, what `terraform show -json` of a cloud plan fetches) requires workspace *admin*.

run.json: {"id", "url", "status", "plan_id", "has_changes", "error", "checks"}; "error" is the failure text (the
plan or apply log's error diagnostics, else its tail), trimmed to MAX_ERROR_CHARS; "checks" the run's policy
checks and run task results (plan-summary shows them in the comment).
Every status of Terraform Cloud's run-state list is known (RUN_STATES); each change is printed as it happens,
and every PROGRESS_SECONDS while it lasts.
Exit codes: 0 ok (planned / applied / nothing left waiting), 1 the run failed, stopped for a decision, timed
out, or could not be discarded (run.json and stderr say why), 2 bad input.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_HOSTNAME = "app.terraform.io"
JSONAPI = "application/vnd.api+json"
MAX_ERROR_CHARS = 20_000  # the comment renderer trims again to fit GitHub's 65,536-character limit
POLL_SECONDS = float(os.environ.get("TFC_POLL_SECONDS", "5"))
# A plan waits for a free worker and for the runs queued before it. An apply must fit a first deploy: the ACM
# certificate validation alone may take 75 min (aws_acm_certificate_validation's create timeout), plus the
# cache cluster and the rest; the deploy job's timeout-minutes is above this.
# TFC_TIMEOUT_SECONDS (the tests) sets both.
PLAN_TIMEOUT_SECONDS = float(os.environ.get("TFC_TIMEOUT_SECONDS") or os.environ.get("TFC_PLAN_TIMEOUT_SECONDS")
                             or 3600)
APPLY_TIMEOUT_SECONDS = float(os.environ.get("TFC_TIMEOUT_SECONDS") or os.environ.get("TFC_APPLY_TIMEOUT_SECONDS")
                              or 9000)
DISCARD_WAIT_SECONDS = 120  # discard and cancel are queued requests; the run ends shortly after
PROGRESS_SECONDS = 300  # a line while a status lasts, so a long wait is never silent
HTTP_RETRIES = 5  # 429 (the API allows 30 requests/s per token) and 5xx are retried with backoff
# Files never uploaded: Terraform's working files and anything that could hold state or secrets.
SKIPPED = re.compile(r"^(\.terraform(/|$)|.*\.tfstate(\.backup)?$|.*\.tfplan$|plan\.json$|run\.json$)")

# Every run status: the API reference's "Run States" table plus go-tfe's RunStatus constants
# (tests/fixtures/tfc/run-states.json), each with what the job prints while the run is in it.
RUN_STATES = {
    "pending": "queued behind the workspace's earlier runs",
    "fetching": "fetching the configuration",
    "fetching_completed": "configuration fetched",
    "pre_plan_running": "pre-plan run tasks running",
    "pre_plan_completed": "pre-plan run tasks done",
    "queuing": "queuing the plan",
    "plan_queued": "waiting for a worker to plan",
    "planning": "planning",
    "planned": "planned",
    "cost_estimating": "estimating cost",
    "cost_estimated": "cost estimated",
    "policy_checking": "checking policies",
    "policy_checked": "policies checked",
    "policy_override": "a soft-mandatory policy failed: waiting for someone to override it (or discard the run)",
    "policy_soft_failed": "a soft-mandatory policy failed (plan-only run)",
    "post_plan_running": "post-plan run tasks running",
    "post_plan_completed": "post-plan run tasks done",
    "post_plan_awaiting_decision": "a run task failed: waiting for someone to override it (or discard the run)",
    "planned_and_finished": "planned, nothing to apply",
    "planned_and_saved": "planned and saved",
    "confirmed": "confirmed",
    "apply_queued": "waiting for a worker to apply",
    "queuing_apply": "queuing the apply",
    "pre_apply_running": "pre-apply run tasks running",
    "pre_apply_completed": "pre-apply run tasks done",
    "applying": "applying",
    "post_apply_running": "applied; post-apply run tasks running",
    "post_apply_completed": "applied; post-apply run tasks done",
    "applied": "applied",
    "discarded": "discarded",
    "errored": "errored",
    "canceled": "canceled",
    "force_canceled": "force-canceled",
}
PLANNED_FINAL = {"planned_and_finished", "planned_and_saved"}
FAILED_FINAL = {"errored", "canceled", "force_canceled", "discarded", "policy_soft_failed"}
# Post-apply tasks run on changes already made and cannot undo them: the apply is over.
APPLIED_FINAL = {"applied", "post_apply_completed"}
FINAL = PLANNED_FINAL | FAILED_FINAL | APPLIED_FINAL
# The run stops until a person decides (override, or discard): waiting longer only holds the workspace.
DECISION = {"policy_override", "post_plan_awaiting_decision"}
# Changes are being made: never interrupted by `discard`.
APPLY_PHASE = {"confirmed", "apply_queued", "queuing_apply", "pre_apply_running", "pre_apply_completed", "applying",
               "post_apply_running"}


class TfcError(Exception):
    """An API call failed; the message says which and why."""


class BadInput(Exception):
    pass


def api_token() -> str:
    """$TF_API_TOKEN; BadInput when it is unset (every command of this script and of tfc_workspace_version.py)."""
    token = os.environ.get("TF_API_TOKEN", "")
    if not token:
        raise BadInput("TF_API_TOKEN is not set (a Terraform Cloud team token; docs/terraform-cloud.md)")
    return token


class Client:
    def __init__(self, hostname: str, token: str, base_url: str | None = None):
        self.hostname = hostname
        self.base = (base_url or f"https://{hostname}").rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        url = path if path.startswith("http") else f"{self.base}/api/v2{path}"
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": JSONAPI, "Accept": JSONAPI}
        status, payload, location = self._send(method, url, data, headers)
        if status in (301, 302, 303, 307, 308) and location:
            # A temporary download URL (plan JSON, logs) on another host: fetched WITHOUT the token.
            status, payload, _ = self._send("GET", urllib.parse.urljoin(url, location), None, {})
        if status >= 400:
            raise TfcError(f"{method} {path}: HTTP {status}: {_api_errors(payload)}")
        return json.loads(payload) if payload.strip() else {}

    def download(self, url: str) -> bytes:
        """A pre-signed URL (log-read-url): no token."""
        status, payload, _ = self._send("GET", url, None, {})
        if status >= 400:
            raise TfcError(f"GET {url.split('?')[0]}: HTTP {status}")
        return payload

    def upload(self, url: str, archive: bytes) -> None:
        # The upload URL is pre-signed: it carries its own authorization, so no token is sent with it.
        status, payload, _ = self._send("PUT", url, archive, {"Content-Type": "application/octet-stream"})
        if status >= 400:
            raise TfcError(f"upload of the configuration failed: HTTP {status}: {payload[:500].decode(errors='replace')}")

    @staticmethod
    def _send(method: str, url: str, data: bytes | None, headers: dict) -> tuple[int, bytes, str | None]:
        opener = urllib.request.build_opener(_NoRedirect)
        for attempt in range(HTTP_RETRIES + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with opener.open(req, timeout=60) as resp:
                    return resp.status, resp.read(), None
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if (exc.code == 429 or exc.code >= 500) and attempt < HTTP_RETRIES:
                    time.sleep(min(float(exc.headers.get("Retry-After") or 2 ** attempt), 30))
                    continue
                return exc.code, body, exc.headers.get("Location")
            except urllib.error.URLError as exc:
                if attempt < HTTP_RETRIES:
                    time.sleep(2 ** attempt)
                    continue
                raise TfcError(f"{method} {url.split('?')[0]}: {exc.reason}") from None
        raise AssertionError("unreachable")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return None  # surfaced as HTTPError 30x; Client.request follows it without the token


def _api_errors(payload: bytes) -> str:
    try:
        errors = json.loads(payload).get("errors", [])
        return "; ".join(str(e.get("detail") or e.get("title") or e) if isinstance(e, dict) else str(e)
                         for e in errors) or payload[:300].decode(errors="replace")
    except (ValueError, AttributeError):
        return payload[:300].decode(errors="replace")


# ---------------------------------------------------------------- configuration
def cloud_settings(stack_dir: Path) -> tuple[str, str, str]:
    """(hostname, organization, workspace) from the synthesized stack's `cloud` block."""
    path = stack_dir / "cdk.tf.json"
    try:
        cloud = json.loads(path.read_text())["terraform"].get("cloud")
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"{path}: cannot read the synthesized stack ({exc})") from None
    if not cloud:
        raise BadInput(f"{path}: no terraform.cloud block (the env file has no terraform_cloud section): "
                       "nothing to run in Terraform Cloud")
    workspace = cloud.get("workspaces", {}).get("name") or os.environ.get("TF_WORKSPACE", "")
    if not workspace:
        raise BadInput(f"{path}: the cloud block selects workspaces by tags; set TF_WORKSPACE to one of them")
    return cloud.get("hostname", DEFAULT_HOSTNAME), cloud["organization"], workspace


def archive(stack_dir: Path) -> bytes:
    """STACK_DIR as a tar.gz, files at the root (where Terraform Cloud looks), byte-identical per content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(stack_dir.rglob("*")):
            rel = path.relative_to(stack_dir).as_posix()
            if SKIPPED.match(rel) or path.is_dir() or path.is_symlink():
                continue
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = path.stat().st_size, 0o644, 0
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


# ---------------------------------------------------------------- the run
def run_url(client: Client, org: str, workspace: str, run_id: str) -> str:
    return f"https://{client.hostname}/app/{org}/workspaces/{workspace}/runs/{run_id}"


def workspace_id(client: Client, org: str, workspace: str) -> str:
    org_q, ws_q = urllib.parse.quote(org, safe=""), urllib.parse.quote(workspace, safe="")
    return client.request("GET", f"/organizations/{org_q}/workspaces/{ws_q}")["data"]["id"]


def upload_configuration(client: Client, ws_id: str, stack_dir: Path, speculative: bool) -> str:
    """A configuration version holding STACK_DIR; returns its id once Terraform Cloud has processed it."""
    body = {"data": {"type": "configuration-versions",
                     # auto-queue-runs off: the run is created explicitly, with its own message and mode.
                     "attributes": {"auto-queue-runs": False, "speculative": speculative}}}
    cv = client.request("POST", f"/workspaces/{ws_id}/configuration-versions", body)["data"]
    client.upload(cv["attributes"]["upload-url"], archive(stack_dir))
    deadline = time.monotonic() + 300
    while True:  # pending -> uploaded (or errored); a run on a pending version is rejected
        attrs = client.request("GET", f"/configuration-versions/{cv['id']}")["data"]["attributes"]
        if attrs["status"] == "uploaded":
            return cv["id"]
        if attrs["status"] == "errored":
            raise TfcError(f"configuration version {cv['id']} errored: {attrs.get('error-message') or attrs.get('error')}")
        if time.monotonic() > deadline:
            raise TfcError(f"configuration version {cv['id']} still {attrs['status']} after 300 s")
        time.sleep(POLL_SECONDS)


def create_run(client: Client, ws_id: str, cv_id: str, message: str, plan_only: bool,
               targets: list[str] | None = None) -> dict:
    attributes = {"message": message[:255], "plan-only": plan_only, "auto-apply": False}
    if targets:
        attributes["target-addrs"] = targets  # like `terraform plan -target=…` (the one-time ECR bootstrap)
    body = {"data": {"type": "runs", "attributes": attributes, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": ws_id}},
        "configuration-version": {"data": {"type": "configuration-versions", "id": cv_id}}}}}
    return client.request("POST", "/runs", body)["data"]


class StillRunning(TfcError):
    """The wait ended before the run did; `run` is its last document."""

    def __init__(self, message: str, run: dict):
        super().__init__(message)
        self.run = run


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def wait_for(client: Client, run_id: str, done, timeout: float) -> dict:  # noqa: ANN001
    """Poll the run until `done(run)`, a final status or a decision; returns the run document's data. Prints every
    status change and, while one lasts, a line every PROGRESS_SECONDS. Raises StillRunning on timeout."""
    start = time.monotonic()
    deadline, last, last_print = start + timeout, None, start
    while True:
        run = client.request("GET", f"/runs/{run_id}")["data"]
        status = run["attributes"]["status"]
        now = time.monotonic()
        if status != last or now - last_print >= PROGRESS_SECONDS:
            what = RUN_STATES.get(status, "not in Terraform Cloud's documented run states; still waiting")
            print(f"[{_minutes(now - start)}] run {run_id}: {status} ({what})", file=sys.stderr, flush=True)
            last, last_print = status, now
        if done(run) or status in FINAL | DECISION:
            return run
        if now > deadline:
            raise StillRunning(f"run {run_id} still '{status}' after {_minutes(timeout)}", run)
        time.sleep(POLL_SECONDS)


def confirmable(run: dict) -> bool:
    return bool(run["attributes"].get("actions", {}).get("is-confirmable"))


def plan_of(client: Client, run: dict) -> dict:
    plan_id = run["relationships"]["plan"]["data"]["id"]
    return client.request("GET", f"/plans/{plan_id}")["data"]


def redacted_plan_json(client: Client, plan: dict) -> dict:
    path = plan.get("links", {}).get("json-output-redacted") or f"/plans/{plan['id']}/json-output-redacted"
    if path.startswith("/api/v2"):
        path = path[len("/api/v2"):]
    return client.request("GET", path)


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_text(client: Client, phase: dict | None, fallback: str) -> str:
    """What went wrong, from a plan's or an apply's log: the error diagnostics of structured (JSON lines) logs,
    else the tail."""
    log_url = (phase or {}).get("attributes", {}).get("log-read-url")
    if not log_url:
        return fallback
    try:
        log = ANSI.sub("", client.download(log_url).decode("utf-8", errors="replace"))
    except TfcError as exc:
        return f"{fallback} ({phase.get('type', 'run')} log unavailable: {exc})"
    errors = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("@level") == "error":
            diag = entry.get("diagnostic") or {}
            where = diag.get("range", {}).get("filename", "")
            text = f"Error: {diag.get('summary') or entry.get('@message', '')}"
            if where:
                text += f"\n  on {where} line {diag.get('range', {}).get('start', {}).get('line', '?')}"
            if diag.get("detail"):
                text += f"\n\n{diag['detail']}"
            errors.append(text)
    text = "\n\n".join(errors) if errors else log.strip()
    return trim(text or fallback)


def trim(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    # The errors are at the end of a plain log; keep the end.
    return f"[… {len(text) - limit + 40} characters cut …]\n" + text[-(limit - 40):]


def summary(client: Client, org: str, workspace: str, run: dict, plan: dict | None, error: str = "",
            checks: list | None = None) -> dict:
    attrs = (plan or {}).get("attributes", {})
    return {"id": run["id"], "url": run_url(client, org, workspace, run["id"]),
            "status": run["attributes"]["status"], "plan_id": (plan or {}).get("id"),
            "has_changes": attrs.get("has-changes"), "error": error, "checks": checks or []}


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_run_json(path: str) -> dict:
    try:
        run = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: not the run.json `plan --no-wait` writes ({exc})") from None
    if not isinstance(run, dict) or not re.fullmatch(r"run-[A-Za-z0-9]+", str(run.get("id"))):
        raise BadInput(f"{path}: no run id in it (the run was never created)")
    return run


def append_summary(path: str | None, markdown: str) -> None:
    """Markdown for the GitHub job summary ($GITHUB_STEP_SUMMARY), appended."""
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown.rstrip("\n") + "\n")


def _related(run: dict, name: str) -> list[str]:
    data = run.get("relationships", {}).get(name, {}).get("data")
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    return [item["id"] for item in items if isinstance(item, dict) and item.get("id")]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_checks(client: Client, run: dict) -> list[dict]:
    """The run's Sentinel policy checks and its run task stages (task results and policy evaluations), as
    {"kind", "name", "status", "detail", "url"}; shown in the PR comment and the deploy summary."""
    checks: list[dict] = []
    try:
        for check in client.request("GET", f"/runs/{run['id']}/policy-checks").get("data", []):
            attrs = check.get("attributes", {})
            result = attrs.get("result") or {}
            counts = ", ".join(f"{result[k]} {k}" for k in ("passed", "hard-failed", "soft-failed", "advisory-failed")
                               if isinstance(result.get(k), int))
            checks.append({"kind": "policy check", "name": f"Sentinel ({attrs.get('scope', '?')})",
                           "status": attrs.get("status", "?"), "detail": counts, "url": ""})
        for stage in client.request("GET", f"/runs/{run['id']}/task-stages").get("data", []):
            attrs = stage.get("attributes", {})
            for result_id in _related(stage, "task-results"):
                result = client.request("GET", f"/task-results/{result_id}")["data"].get("attributes", {})
                level = result.get("workspace-task-enforcement-level", "")
                checks.append({"kind": "run task", "name": result.get("task-name", result_id),
                               "status": result.get("status", "?"),
                               "detail": _one_line(f"{attrs.get('stage', '')}, {level}: {result.get('message') or ''}"),
                               "url": result.get("url") or ""})
            for evaluation in _related(stage, "policy-evaluations"):
                checks.append({"kind": "policy evaluation", "name": evaluation, "status": attrs.get("status", "?"),
                               "detail": f"{attrs.get('stage', '')} stage (details in the run)", "url": ""})
    except TfcError as exc:  # never hides the plan itself; the comment says the checks could not be read
        checks.append({"kind": "note", "name": "policy checks and run tasks", "status": "unknown",
                       "detail": _one_line(f"could not be read: {exc}"), "url": ""})
    return checks


def decision_error(status: str, url: str) -> str:
    what = ("a soft-mandatory policy failed: someone allowed to manage policy overrides may override it in "
            "Terraform Cloud" if status == "policy_override"
            else "a mandatory run task failed: someone allowed to override run tasks may override it in Terraform Cloud")
    return (f"The run stopped at '{status}': {what} ({url}), or fix the configuration. Nothing was applied; the "
            "workflow discards the run so that it does not hold the workspace.")


def plan_run(client: Client, stack_dir: Path, args: argparse.Namespace, speculative: bool) -> int:
    _, org, workspace = cloud_settings(stack_dir)
    try:
        ws_id = workspace_id(client, org, workspace)
        cv_id = upload_configuration(client, ws_id, stack_dir, speculative)
        run = create_run(client, ws_id, cv_id, args.message, plan_only=speculative,
                         targets=getattr(args, "target", None))
    except TfcError as exc:
        write_json(args.run_json, {"id": None, "url": None, "status": "not_started", "plan_id": None,
                                   "has_changes": None, "error": trim(str(exc)), "checks": []})
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # Saved before any wait: a job that fails or is cancelled from here on still names the run to discard.
    write_json(args.run_json, summary(client, org, workspace, run, None))
    print(f"run {run['id']}: {run_url(client, org, workspace, run['id'])}", file=sys.stderr)
    if getattr(args, "no_wait", False):
        return EXIT_OK
    return wait_plan(client, org, workspace, run["id"], args, speculative)


def wait_plan(client: Client, org: str, workspace: str, run_id: str, args: argparse.Namespace,
              speculative: bool) -> int:
    run, plan = {"id": run_id, "attributes": {"status": "unknown"}}, None
    try:
        # Deploy plans stop at "planned" (or later pre-apply stages) waiting for confirmation.
        run = wait_for(client, run_id, lambda r: not speculative and confirmable(r), PLAN_TIMEOUT_SECONDS)
        plan = plan_of(client, run)
        status = run["attributes"]["status"]
        checks = run_checks(client, run)
        url = run_url(client, org, workspace, run_id)
        if status in FAILED_FINAL | DECISION:
            error = (decision_error(status, url) if status in DECISION
                     else error_text(client, plan, f"the run ended '{status}'"))
            write_json(args.run_json, summary(client, org, workspace, run, plan, error, checks))
            print(f"run {run_id} {status}:\n{error}", file=sys.stderr)
            return EXIT_FAILED
        write_json(args.plan_json, redacted_plan_json(client, plan))
        write_json(args.run_json, summary(client, org, workspace, run, plan, checks=checks))
        return EXIT_OK
    except TfcError as exc:
        if isinstance(exc, StillRunning):
            run = exc.run
        write_json(args.run_json, summary(client, org, workspace, run, plan, trim(str(exc))))
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED


def apply_log(client: Client, run: dict, status: str) -> str:
    """The failed apply's own log (GET /applies/:id, its log-read-url), as error_text reads a plan's."""
    try:
        apply_ids = _related(run, "apply")
        phase = client.request("GET", f"/applies/{apply_ids[0]}")["data"] if apply_ids else None
    except TfcError as exc:
        return f"the run ended '{status}' (apply log unavailable: {exc})"
    return error_text(client, phase, f"the run ended '{status}'")


def link_of(client: Client, run: dict, org_workspace: tuple[str, str] | None) -> str:
    """The run's page. Without a stack dir (the deploy and discard jobs do not synthesize), the organization and
    workspace names come from the run's workspace (GET /workspaces/:id)."""
    if not org_workspace:
        try:
            ws = client.request("GET", f"/workspaces/{_related(run, 'workspace')[0]}")["data"]
            org_workspace = (ws["relationships"]["organization"]["data"]["id"], ws["attributes"]["name"])
        except (TfcError, KeyError, IndexError, TypeError):
            return f"run {run['id']} (its workspace could not be read for a link)"
    return run_url(client, *org_workspace, run["id"])


def apply_run(client: Client, run_id: str, args: argparse.Namespace) -> int:
    url = run_url(client, *args.org_workspace, run_id) if args.org_workspace else f"run {run_id}"
    try:
        run = client.request("GET", f"/runs/{run_id}")["data"]
        url = link_of(client, run, args.org_workspace)
        status = run["attributes"]["status"]
        if status in PLANNED_FINAL:
            print(f"run {run_id} is {status}: nothing to apply", file=sys.stderr)
            write_json(args.run_json, {"id": run_id, "url": url, "status": status, "error": ""})
            return EXIT_OK
        if not confirmable(run):
            raise TfcError(f"run {run_id} is '{status}', not waiting for confirmation: a newer run or a person "
                           "acted on it; nothing was applied")
        client.request("POST", f"/runs/{run_id}/actions/apply", {"comment": args.message[:255]})
        try:
            run = wait_for(client, run_id, lambda r: False, APPLY_TIMEOUT_SECONDS)
        except StillRunning as exc:
            status = exc.run["attributes"]["status"]
            error = (f"{exc}. Terraform Cloud is still applying it and holds the workspace until it ends: follow it "
                     f"at {url}. Do not start another deploy before it has ended (it would queue behind it); "
                     "re-run this workflow's rollout check, or deploy again, once it is applied.")
            write_json(args.run_json, {"id": run_id, "url": url, "status": status, "error": error})
            append_summary(args.summary, f"### Terraform Cloud run still `{status}`\n\n{error}")
            print(f"tfc_run: {error}", file=sys.stderr)
            return EXIT_FAILED
        status = run["attributes"]["status"]
        if status not in APPLIED_FINAL:
            error = apply_log(client, run, status)
            write_json(args.run_json, {"id": run_id, "url": url, "status": status, "error": error})
            fence = "`" * max(3, 1 + max(map(len, re.findall("`+", error)), default=0))
            append_summary(args.summary, f"### Terraform Cloud apply `{status}`\n\nRun: {url}\n\n{fence}text\n"
                                         f"{error}\n{fence}")
            print(f"run {run_id} ended '{status}', not applied:\n{error}", file=sys.stderr)
            return EXIT_FAILED
        write_json(args.run_json, {"id": run_id, "url": url, "status": status, "error": ""})
        return EXIT_OK
    except TfcError as exc:
        write_json(args.run_json, {"id": run_id, "url": url, "status": "unknown", "error": trim(str(exc))})
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED


def discard_run(client: Client, run_id: str, args: argparse.Namespace) -> int:
    """Leave no run waiting: discard (waiting for confirmation or a decision) or cancel (queued, planning)."""
    url = run_url(client, *args.org_workspace, run_id) if args.org_workspace else f"run {run_id}"

    def report(text: str, code: int) -> int:
        print(f"tfc_run: {text}", file=sys.stderr)
        append_summary(args.summary, f"**Terraform Cloud:** {text}")
        return code

    try:
        run = client.request("GET", f"/runs/{run_id}")["data"]
        url = link_of(client, run, args.org_workspace)
        status, actions = run["attributes"]["status"], run["attributes"].get("actions", {})
        if status in FINAL:
            return report(f"run {run_id} already '{status}': nothing left waiting ({url})", EXIT_OK)
        if status in APPLY_PHASE:
            return report(f"run {run_id} is '{status}': not interrupted (an apply cut off halfway leaves resources "
                          f"half made); it ends on its own and then frees the workspace. Follow it: {url}", EXIT_FAILED)
        if actions.get("is-discardable"):
            action = "discard"
        elif actions.get("is-cancelable"):
            action = "cancel"
        else:
            return report(f"run {run_id} is '{status}' and Terraform Cloud offers neither discard nor cancel for "
                          f"it: act on it by hand ({url})", EXIT_FAILED)
        try:
            client.request("POST", f"/runs/{run_id}/actions/{action}", {"comment": args.message[:255]})
        except TfcError as exc:
            raise TfcError(f"{exc} ({action} needs the workspace permission 'apply runs': the discard token, "
                           "docs/terraform-cloud.md)") from None
        try:
            run = wait_for(client, run_id, lambda r: False, DISCARD_WAIT_SECONDS)
            final = run["attributes"]["status"]
        except StillRunning as exc:
            final = exc.run["attributes"]["status"]
        if final in FINAL:
            return report(f"run {run_id} was '{status}': {action}ed, now '{final}' ({url})", EXIT_OK)
        return report(f"run {run_id}: {action} requested while '{status}', still '{final}' after "
                      f"{DISCARD_WAIT_SECONDS} s: check it ({url})", EXIT_FAILED)
    except TfcError as exc:
        return report(f"could not discard run {run_id}: {exc} ({url})", EXIT_FAILED)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("speculative", "plan", "wait"):
        p = sub.add_parser(name)
        p.add_argument("stack_dir", type=Path)
        p.add_argument("--plan-json", required=True)
        p.add_argument("--run-json", required=True)
        if name != "wait":
            p.add_argument("--message", default="araquem: queued from CI")
            p.add_argument("--no-wait", action="store_true",
                           help="create the run, write run.json and stop (then `wait`)")
        if name == "plan":
            p.add_argument("--target", action="append", help="resource address to limit the run to (repeatable)")
    for name, message in (("apply", "araquem: confirmed by the deploy job"),
                          ("discard", "araquem: discarded by the workflow (it failed, was cancelled or rejected)")):
        p = sub.add_parser(name)
        p.add_argument("run_id")
        p.add_argument("--stack-dir", type=Path, help="read the hostname from its cloud block (else $TFC_HOSTNAME)")
        if name == "apply":
            p.add_argument("--run-json")
        p.add_argument("--summary", metavar="FILE", help="append a Markdown report here ($GITHUB_STEP_SUMMARY)")
        p.add_argument("--message", default=message)
    parser.add_argument("--api-url", default=os.environ.get("TFC_API_URL"), help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    try:
        token = api_token()
        if args.command in ("apply", "discard"):
            if not re.fullmatch(r"run-[A-Za-z0-9]+", args.run_id):
                raise BadInput(f"{args.run_id!r} is not a run id (run-…)")
            if args.stack_dir:
                hostname, *org_workspace = cloud_settings(args.stack_dir)
                args.org_workspace = tuple(org_workspace)
            else:
                hostname, args.org_workspace = os.environ.get("TFC_HOSTNAME") or DEFAULT_HOSTNAME, None
            act = apply_run if args.command == "apply" else discard_run
            return act(Client(hostname, token, args.api_url), args.run_id, args)
        hostname, org, workspace = cloud_settings(args.stack_dir)
        client = Client(hostname, token, args.api_url)
        if args.command == "wait":
            run = read_run_json(args.run_json)
            speculative = client.request("GET", f"/runs/{run['id']}")["data"]["attributes"].get("plan-only", False)
            return wait_plan(client, org, workspace, run["id"], args, bool(speculative))
        return plan_run(client, args.stack_dir, args, speculative=args.command == "speculative")
    except BadInput as exc:
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TfcError as exc:
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
