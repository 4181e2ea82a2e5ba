#!/usr/bin/env python3
"""The Terraform Cloud workspace runs a Terraform the synthesized stack accepts (stdlib only).

    python scripts/tfc_workspace_version.py STACK_DIR

Reads `terraform.required_version` from STACK_DIR/cdk.tf.json (modules/secrets.py sets it: write-only
attributes and ephemeral resources need Terraform >= 1.11) and the workspace's `terraform-version` ("Show
workspace", GET /organizations/:org/workspaces/:name; any token that can read runs may call it). That setting is
an exact version or a constraint (`~> 1.11.0`, `>= 1.11`; `latest`); the lowest version it allows must satisfy
the stack, else every run would fail at `terraform init` with "Unsupported Terraform Core version" after the
configuration was uploaded. Organization, workspace and hostname: the stack's cloud block (scripts/tfc_run.py).
Exit codes: 0 ok, 1 the workspace's version is too old (or cannot be told), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tfc_run import BadInput, Client, TfcError, api_token, cloud_settings  # noqa: E402

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
VERSION = re.compile(r"\d+(\.\d+){0,2}")


def parse(version: str) -> tuple[int, int, int]:
    parts = [int(p) for p in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))  # type: ignore[return-value]


def minimum_required(constraint: str) -> tuple[int, int, int]:
    """The lowest version a stack's `required_version` accepts (its `>=` / `~>` / exact clauses)."""
    lows = []
    for clause in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|~>|=)?\s*(\S+)\s*", clause)
        if match and match[1] in (None, ">=", "~>", "=") and VERSION.fullmatch(match[2]):
            lows.append(parse(match[2]))
    if not lows:
        raise BadInput(f"required_version {constraint!r}: no lower bound to compare with")
    return max(lows)


def lowest_allowed(setting: str) -> tuple[int, int, int] | None:
    """The lowest version a workspace setting lets Terraform Cloud pick; None for `latest` (the newest release)."""
    if setting.strip() == "latest":
        return None
    lows = []
    for clause in setting.split(","):
        match = re.fullmatch(r"\s*(>=|~>|=|>)?\s*(\d+(?:\.\d+){0,2})\s*", clause)
        if match:
            lows.append(parse(match[2]))
        elif not re.fullmatch(r"\s*(<|<=|!=)\s*\S+\s*", clause):
            raise BadInput(f"workspace terraform-version {setting!r} is neither a version nor a constraint")
    if not lows:
        raise BadInput(f"workspace terraform-version {setting!r} has no lower bound: it may pick any old release")
    return max(lows)


def check(stack_dir: Path, client: Client) -> tuple[bool, str]:
    _, org, workspace = cloud_settings(stack_dir)
    try:
        required = json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["required_version"]
    except (OSError, ValueError, KeyError) as exc:
        raise BadInput(f"{stack_dir}/cdk.tf.json: no terraform.required_version ({exc})") from None
    org_q, ws_q = urllib.parse.quote(org, safe=""), urllib.parse.quote(workspace, safe="")
    setting = client.request("GET", f"/organizations/{org_q}/workspaces/{ws_q}")["data"]["attributes"][
        "terraform-version"]
    low, need = lowest_allowed(setting), minimum_required(required)
    where = f"workspace {org}/{workspace}"
    if low is None or low >= need:
        return True, f"{where} runs Terraform {setting}; the stack requires {required}"
    return False, (f"{where} runs Terraform {setting}, the stack requires {required} (write-only attributes and "
                   f"ephemeral resources): every run would fail at terraform init. Set the workspace's Terraform "
                   f"version to {'.'.join(map(str, need))} or later (Settings > General; docs/terraform-cloud.md, "
                   "step 2)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_dir", type=Path)
    parser.add_argument("--api-url", default=os.environ.get("TFC_API_URL"), help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    try:
        token = api_token()
        hostname, _, _ = cloud_settings(args.stack_dir)
        ok, message = check(args.stack_dir, Client(hostname, token, args.api_url))
    except BadInput as exc:
        print(f"tfc_workspace_version: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TfcError as exc:
        print(f"tfc_workspace_version: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(message if ok else f"tfc_workspace_version: {message}", file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
