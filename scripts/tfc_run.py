#!/usr/bin/env python3
"""Terraform Cloud runs through the API (stdlib only), as the delivery workflows use them.

    python scripts/tfc_run.py speculative STACK_DIR --plan-json plan.json --run-json run.json
        PR plans: upload STACK_DIR as a *speculative* configuration version, create a plan-only run, wait for
        it, save the *redacted* plan JSON. A speculative run can never be applied, from CI or from the UI.
    python scripts/tfc_run.py plan STACK_DIR --plan-json plan.json --run-json run.json
        deploy, step 1: upload STACK_DIR, create a run that stops for confirmation (auto-apply off), wait until
        it is planned, save the redacted plan JSON. run.json names the run to confirm.
        `--target ADDR` (repeatable) limits the run to those resources (the one-time ECR bootstrap).
    python scripts/tfc_run.py apply RUN_ID [--run-json run.json]
        deploy, step 2 (in the protected environment): confirm exactly that run and wait until it is applied.

The organization, workspace and hostname come from the `terraform.cloud` block of STACK_DIR/cdk.tf.json
(`workspace_tags` stacks take the name from $TF_WORKSPACE). The token is $TF_API_TOKEN.
Permissions (Terraform Cloud workspace permissions): `speculative` and `plan` need "queue plans" (the
*plan* permission level), which cannot apply; `apply` needs "apply runs" (the *write* level). Plan JSON is
read from /plans/:id/json-output-redacted, which anyone who can read runs may call; /plans/:id/json-output
(the unredacted one, what `terraform show -json` of a cloud plan fetches) requires workspace *admin*.

run.json: {"id", "url", "status", "plan_id", "has_changes", "error"}; "error" is the failure text (the plan
log's error diagnostics, else its tail), trimmed to MAX_ERROR_CHARS.
Exit codes: 0 ok (planned / applied), 1 the run failed or timed out (run.json says why), 2 bad input.
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
TIMEOUT_SECONDS = float(os.environ.get("TFC_TIMEOUT_SECONDS", "3600"))  # a plan waits for a free worker too
HTTP_RETRIES = 5  # 429 (the API allows 30 requests/s per token) and 5xx are retried with backoff
# Files never uploaded: Terraform's working files and anything that could hold state or secrets.
SKIPPED = re.compile(r"^(\.terraform(/|$)|.*\.tfstate(\.backup)?$|.*\.tfplan$|plan\.json$|run\.json$)")

# Run statuses (Terraform Cloud "Run States"). Final ones end the wait.
PLANNED_FINAL = {"planned_and_finished", "planned_and_saved"}
FAILED_FINAL = {"errored", "canceled", "force_canceled", "discarded", "policy_soft_failed"}
APPLIED_FINAL = {"applied"}


class TfcError(Exception):
    """An API call failed; the message says which and why."""


class BadInput(Exception):
    pass


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


def wait_for(client: Client, run_id: str, done) -> dict:  # noqa: ANN001
    """Poll the run until `done(run)` or a final status; returns the run document's data."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        run = client.request("GET", f"/runs/{run_id}")["data"]
        status = run["attributes"]["status"]
        if done(run) or status in FAILED_FINAL | PLANNED_FINAL | APPLIED_FINAL:
            return run
        if time.monotonic() > deadline:
            raise TfcError(f"run {run_id} still '{status}' after {TIMEOUT_SECONDS:.0f} s")
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


def error_text(client: Client, plan: dict | None, fallback: str) -> str:
    """What went wrong, from the plan log: error diagnostics of structured (JSON lines) logs, else the tail."""
    log_url = (plan or {}).get("attributes", {}).get("log-read-url")
    if not log_url:
        return fallback
    try:
        log = ANSI.sub("", client.download(log_url).decode("utf-8", errors="replace"))
    except TfcError as exc:
        return f"{fallback} (plan log unavailable: {exc})"
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


def summary(client: Client, org: str, workspace: str, run: dict, plan: dict | None, error: str = "") -> dict:
    attrs = (plan or {}).get("attributes", {})
    return {"id": run["id"], "url": run_url(client, org, workspace, run["id"]),
            "status": run["attributes"]["status"], "plan_id": (plan or {}).get("id"),
            "has_changes": attrs.get("has-changes"), "error": error}


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def plan_run(client: Client, stack_dir: Path, args: argparse.Namespace, speculative: bool) -> int:
    _, org, workspace = cloud_settings(stack_dir)
    run = None
    try:
        ws_id = workspace_id(client, org, workspace)
        cv_id = upload_configuration(client, ws_id, stack_dir, speculative)
        run = create_run(client, ws_id, cv_id, args.message, plan_only=speculative,
                         targets=getattr(args, "target", None))
        print(f"run {run['id']}: {run_url(client, org, workspace, run['id'])}", file=sys.stderr)
        # Deploy plans stop at "planned" (or later pre-apply stages) waiting for confirmation.
        run = wait_for(client, run["id"], lambda r: not speculative and confirmable(r))
        plan = plan_of(client, run)
        status = run["attributes"]["status"]
        if status in FAILED_FINAL:
            result = summary(client, org, workspace, run, plan,
                             error_text(client, plan, f"the run ended '{status}'"))
            write_json(args.run_json, result)
            print(f"run {run['id']} {status}:\n{result['error']}", file=sys.stderr)
            return EXIT_FAILED
        write_json(args.plan_json, redacted_plan_json(client, plan))
        write_json(args.run_json, summary(client, org, workspace, run, plan))
        return EXIT_OK
    except TfcError as exc:
        result = summary(client, org, workspace, run, None, trim(str(exc))) if run else {
            "id": None, "url": None, "status": "not_started", "plan_id": None, "has_changes": None,
            "error": trim(str(exc))}
        write_json(args.run_json, result)
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED


def apply_run(client: Client, run_id: str, args: argparse.Namespace) -> int:
    try:
        run = client.request("GET", f"/runs/{run_id}")["data"]
        status = run["attributes"]["status"]
        if status in PLANNED_FINAL:
            print(f"run {run_id} is {status}: nothing to apply", file=sys.stderr)
            write_json(args.run_json, {"id": run_id, "status": status, "error": ""})
            return EXIT_OK
        if not confirmable(run):
            raise TfcError(f"run {run_id} is '{status}', not waiting for confirmation: a newer run or a person "
                           "acted on it; nothing was applied")
        client.request("POST", f"/runs/{run_id}/actions/apply", {"comment": args.message[:255]})
        run = wait_for(client, run_id, lambda r: False)
        status = run["attributes"]["status"]
        write_json(args.run_json, {"id": run_id, "status": status, "error": ""})
        if status not in APPLIED_FINAL:
            print(f"run {run_id} ended '{status}', not applied", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    except TfcError as exc:
        write_json(args.run_json, {"id": run_id, "status": "unknown", "error": trim(str(exc))})
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_FAILED


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("speculative", "plan"):
        p = sub.add_parser(name)
        p.add_argument("stack_dir", type=Path)
        p.add_argument("--plan-json", required=True)
        p.add_argument("--run-json", required=True)
        p.add_argument("--message", default="araquem: queued from CI")
        if name == "plan":
            p.add_argument("--target", action="append", help="resource address to limit the run to (repeatable)")
    p = sub.add_parser("apply")
    p.add_argument("run_id")
    p.add_argument("--stack-dir", type=Path, help="read the hostname from its cloud block (else $TFC_HOSTNAME)")
    p.add_argument("--run-json")
    p.add_argument("--message", default="araquem: confirmed by the deploy job")
    parser.add_argument("--api-url", default=os.environ.get("TFC_API_URL"), help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    token = os.environ.get("TF_API_TOKEN", "")
    try:
        if not token:
            raise BadInput("TF_API_TOKEN is not set (a Terraform Cloud team token; docs/terraform-cloud.md)")
        if args.command == "apply":
            if not re.fullmatch(r"run-[A-Za-z0-9]+", args.run_id):
                raise BadInput(f"{args.run_id!r} is not a run id (run-…)")
            hostname = (cloud_settings(args.stack_dir)[0] if args.stack_dir
                        else os.environ.get("TFC_HOSTNAME") or DEFAULT_HOSTNAME)
            return apply_run(Client(hostname, token, args.api_url), args.run_id, args)
        hostname, _, _ = cloud_settings(args.stack_dir)
        return plan_run(Client(hostname, token, args.api_url), args.stack_dir, args,
                        speculative=args.command == "speculative")
    except BadInput as exc:
        print(f"tfc_run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
