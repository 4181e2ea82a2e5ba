#!/usr/bin/env python3
"""The deploy workflow's gate (stdlib only): the GitHub environment it deploys through must hold the approval.

    gh api repos/OWNER/REPO/environments/stage >environment.json
    python3 scripts/deploy_gate.py environment environment.json --name stage

GitHub's "Get an environment" (REST: GET /repos/{owner}/{repo}/environments/{name}; the token needs the
"Actions" repository permission, read) lists the environment's protection rules. The deploy fails closed
unless the environment has a `required_reviewers` rule naming at least one reviewer, and a deployment branch
policy (`deployment_branch_policy` null means every branch may deploy, so any branch's workflow could read the
environment's apply token). Required reviewers exist on public repositories, and on private ones only on the
plans GitHub documents for them: where they are missing the deploy would apply unreviewed, so it stops.
A rule that lets the person who started the run approve it (`prevent_self_review` false) is a warning.
Exit codes: 0 the gate holds, 1 it does not (a `::error` line says why), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
SETUP = "docs/terraform-cloud.md, step 5"


def environment_problems(env: dict, name: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of an environment as GitHub's REST API describes it."""
    rules = env.get("protection_rules") or []
    reviewers = [rule for rule in rules if rule.get("type") == "required_reviewers"]
    named = [r for rule in reviewers for r in rule.get("reviewers") or []]
    errors, warnings = [], []
    if not named:
        errors.append(f"the environment '{name}' has no required reviewers: the deploy would apply without anyone "
                      f"approving the plan. Add reviewers (Settings > Environments > {name}; {SETUP}); on a "
                      "private repository GitHub offers them only on the plans it documents for them")
    elif not all(rule.get("prevent_self_review") for rule in reviewers):
        warnings.append(f"the environment '{name}' lets the person who started a deploy approve it: tick "
                        "'Prevent self-review'")
    if env.get("deployment_branch_policy") is None:
        errors.append(f"the environment '{name}' lets every branch deploy (no deployment branch policy): a workflow "
                      f"on any branch could read its apply token; allow main only ({SETUP})")
    return errors, warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("environment", help="the environment's protection rules hold the approval")
    check.add_argument("file", help="GitHub's answer to GET /repos/{owner}/{repo}/environments/{name}")
    check.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    try:
        with open(args.file, encoding="utf-8") as fh:
            env = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"::error title=deploy gate::{args.file}: not GitHub's environment JSON ({exc})")
        return EXIT_BAD_INPUT
    if not isinstance(env, dict) or env.get("name") != args.name:
        print(f"::error title=deploy gate::{args.file}: not the environment '{args.name}' (GitHub answered: "
              f"{json.dumps(env)[:300]})")
        return EXIT_BAD_INPUT
    errors, warnings = environment_problems(env, args.name)
    for warning in warnings:
        print(f"::warning title=deploy gate::{warning}")
    for error in errors:
        print(f"::error title=deploy gate::{error}")
    if errors:
        return EXIT_FAILED
    reviewers = sorted(r["reviewer"].get("login") or r["reviewer"].get("slug") or str(r["reviewer"].get("id"))
                       for rule in env["protection_rules"] if rule.get("type") == "required_reviewers"
                       for r in rule.get("reviewers") or [] if isinstance(r.get("reviewer"), dict))
    print(f"environment '{args.name}': required reviewers {', '.join(reviewers)}; deployment branch policy set")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
