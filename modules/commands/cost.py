"""`python main.py cost`: the environment's monthly on-demand estimate, per group, and a PR's delta.

    cost                          table: each group at the capacity providers' desired and max sizes,
                                  with and without their off-hours windows; assumptions; what is not counted
    cost --json                   the same, machine-readable
    cost --compare BASE_ENV_FILE  the monthly delta from BASE_ENV_FILE to this env file (text, --json,
                                  or --format markdown for a pull-request comment)
    cost --compare-ref REF        the same, from this env file as it is at git REF (e.g. main, HEAD~1)
    cost --synth DIR              price a synthesized stack (cdktf output dir, stack dir or cdk.tf.json)
                                  instead of the env file: what Terraform would create (modules/cost/from_synth.py)
    cost --compare-synth BASE_DIR the delta from another synth: a PR's base synthesized by the base's own
                                  code (.github/workflows/plan.yml), against --synth DIR (or the env file)

Pure Python (no cdktf/jsii). A region or type the price table lacks is bad input (exit 2).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from modules.commands import UsageError, emit
from modules.config import ConfigError, EnvConfig, load
from modules.cost import prices as price_table
from modules.cost.estimate import NOT_COUNTED, Estimate, estimate, price
from modules.cost.prices import PriceError, PriceFileError
from modules.cost.from_synth import SynthError, load_inventory, stack_file

HELP = "monthly on-demand cost estimate of the env file or a synth (or its delta from another env file or synth)"
NEEDS_ENV = True
MARKER = "<!-- araquem-cost:{stack} -->"  # first line of the PR comment: the sticky comment's key
COLUMNS = {"desired": "DESIRED", "max": "MAX", "desired_off_hours": "DESIRED off-hours",
           "max_off_hours": "MAX off-hours"}


def money(value: float) -> str:
    return f"{value:,.2f}"


def signed(value: float) -> str:
    return f"{'+' if value > 0 else '-' if value < 0 else ''}{abs(value):,.2f}"


def _table(header: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]

    def line(row):
        return "  ".join(cell.rjust(widths[c]) if c >= right_from else cell.ljust(widths[c])
                         for c, cell in enumerate(row)).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render_text(est: Estimate) -> str:
    columns = [c for c in COLUMNS if est.windows or not c.endswith("off_hours")]
    rows = []
    for ln in est.lines:
        rows.append([ln.group, ln.item, *(money(getattr(ln, c)) for c in columns)])
    rows.append(["TOTAL", "", *(money(est.total(c)) for c in columns)])
    out = [f"{est.environment} ({est.region}): monthly on-demand estimate, USD",
           f"prices: {est.prices_file}, retrieved {est.prices_retrieved} (list prices; source in the file)", ""]
    out += _table(["GROUP", "ITEM", *(COLUMNS[c] for c in columns)], rows, right_from=2)
    out.append("")
    for key, window in est.windows.items():
        saved = est.total("desired") - est.total("desired_off_hours")
        out.append(f"off-hours: capacity provider {key} runs {window}; saves {money(saved)}/month at desired sizes")
    if not est.windows:
        out.append("off-hours: none (cluster.capacity_providers.<name>.off_hours)")
    out.append("assumptions: " + "; ".join(est.assumptions))
    out.append("not counted: " + "; ".join(NOT_COUNTED))
    return "\n".join(out) + "\n"


def summary_line(est: Estimate) -> str:
    """One line for `describe`."""
    text = f"cost: ~${money(est.total('desired'))}/month on demand at desired sizes (${money(est.total('max'))} at max)"
    if est.windows:
        text += f"; ~${money(est.total('desired_off_hours'))} with off-hours"
    return text + " -- python main.py cost"


def delta(base: Estimate, head: Estimate) -> dict:
    """Per group and in total: base and head at their effective figure (off-hours applied where set)."""
    base_groups, head_groups = base.groups(base.effective), head.groups(head.effective)
    groups = {}
    for group in sorted(set(base_groups) | set(head_groups)):
        b, h = base_groups.get(group, 0.0), head_groups.get(group, 0.0)
        groups[group] = {"base": b, "head": h, "delta": round(h - b, 2)}
    b_total, h_total = base.total(base.effective), head.total(head.effective)
    b_max, h_max = base.total(base.effective_max), head.total(head.effective_max)
    return {
        "environment": head.environment, "region": head.region, "currency": "USD", "period": "month",
        "prices": {"file": head.prices_file, "retrieved": head.prices_retrieved},
        "groups": groups,
        "total": {"base": b_total, "head": h_total, "delta": round(h_total - b_total, 2)},
        "total_max": {"base": b_max, "head": h_max, "delta": round(h_max - b_max, 2)},
        "assumptions": head.assumptions,
    }


def render_delta_text(d: dict) -> str:
    rows = [[g, money(v["base"]), money(v["head"]), signed(v["delta"])] for g, v in d["groups"].items()
            if v["delta"]]
    t, m = d["total"], d["total_max"]
    rows.append(["TOTAL", money(t["base"]), money(t["head"]), signed(t["delta"])])
    out = [f"{d['environment']} ({d['region']}): monthly on-demand cost, base -> head, USD", ""]
    out += _table(["GROUP", "BASE", "HEAD", "DELTA"], rows, right_from=1)
    out += ["", f"at max sizes: {money(m['base'])} -> {money(m['head'])} ({signed(m['delta'])})"]
    return "\n".join(out) + "\n"


def render_delta_markdown(d: dict, stack: str) -> str:
    t, m = d["total"], d["total_max"]
    changed = {g: v for g, v in d["groups"].items() if v["delta"]}
    out = [MARKER.format(stack=stack), f"### Monthly cost: `{stack}` ({d['region']})", ""]
    if not changed:
        out.append(f"No change: **${money(t['head'])}/month** on demand (${money(m['head'])} at max sizes).")
    else:
        out.append(f"**{signed(t['delta'])} USD/month** on demand: ${money(t['base'])} -> ${money(t['head'])} "
                   f"(at max sizes {signed(m['delta'])}: ${money(m['base'])} -> ${money(m['head'])}).")
        out += ["", "| group | base | head | delta |", "|---|---:|---:|---:|"]
        out += [f"| {g} | {money(v['base'])} | {money(v['head'])} | {signed(v['delta'])} |" for g, v in changed.items()]
    out += ["", f"<sub>List prices from `{d['prices']['file']}` (retrieved {d['prices']['retrieved']}); "
            f"off-hours windows applied; assumptions: {'; '.join(d['assumptions'])}. "
            "Details: `python main.py cost`.</sub>"]
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                        help="text (default), json, or markdown (with --compare: a pull-request comment)")
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    base = parser.add_mutually_exclusive_group()
    base.add_argument("--compare", metavar="BASE_ENV_FILE",
                      help="show the monthly delta from BASE_ENV_FILE (e.g. the env file of the PR's base)")
    base.add_argument("--compare-ref", metavar="REF",
                      help="show the monthly delta from this env file as it is at git REF (e.g. main)")
    base.add_argument("--compare-synth", metavar="BASE_DIR",
                      help="show the monthly delta from the stack synthesized in BASE_DIR (e.g. the PR's base, "
                      "synthesized by the base's own code)")
    parser.add_argument("--synth", metavar="DIR", help="price the stack synthesized in DIR (cdktf output "
                        "directory, stack directory or cdk.tf.json) instead of the env file")
    parser.add_argument("--stack", metavar="NAME", help="the stack to read when a synth directory holds several "
                        "(default: the only one; for BASE_DIR, the head's stack)")
    parser.add_argument("--prices", metavar="FILE", help=f"price table (default {price_table.PRICES_FILE.name} "
                        "in modules/cost/)")
    parser.add_argument("--output", metavar="FILE", help="write there instead of stdout")
    parser.epilog = ("Groups: EC2 per capacity provider (instances + root volumes) at desired and max sizes, NAT "
                     "gateways, VPC interface endpoints, public IPv4, ALB, WAF, ElastiCache, EFS, CloudWatch Logs. "
                     "Traffic-driven items are assumptions, printed with the figure. docs/cost.md")


def needs_env(args: argparse.Namespace) -> bool:
    """--synth prices what was synthesized: no env file is read."""
    return not args.synth


def _estimate_synth(path: str, stack: str | None, table) -> Estimate:
    try:
        file = stack_file(Path(path), stack)
        return price(load_inventory(file)[0], table)
    except SynthError as exc:
        raise UsageError(str(exc)) from None
    except PriceError as exc:
        raise ConfigError(file, exc.problems) from None


def _estimate(cfg: EnvConfig, env_path: Path | None, table) -> Estimate:
    try:
        return estimate(cfg, table)
    except PriceError as exc:
        raise ConfigError(env_path or cfg.name, exc.problems) from None


def load_at_ref(env_path: Path, ref: str) -> tuple[EnvConfig, str]:
    """The env file as committed at git `ref` (read with `git show`, nothing checked out), and its label."""
    env_path = Path(env_path).resolve()
    label = f"{ref}:{env_path.name}"
    proc = subprocess.run(["git", "-C", str(env_path.parent), "show", f"{ref}:./{env_path.name}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(f"--compare-ref {ref}: cannot read {env_path.name} at that ref: "
                         f"{proc.stderr.strip() or 'git failed'}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / env_path.name
        copy.write_text(proc.stdout, encoding="utf-8")
        try:
            return load(copy), label
        except ConfigError as exc:
            raise ConfigError(label, exc.problems) from None


def run(args: argparse.Namespace, cfg: EnvConfig) -> int:
    try:
        table = price_table.load(Path(args.prices)) if args.prices else price_table.load()
    except PriceFileError as exc:
        raise UsageError(f"--prices {exc}" if args.prices else str(exc)) from None
    env_path = getattr(args, "env_path", None)
    if args.synth:
        head = _estimate_synth(args.synth, args.stack, table)
    else:
        if args.stack and not args.compare_synth:
            raise UsageError("--stack goes with --synth or --compare-synth")
        head = _estimate(cfg, env_path, table)
    if args.compare or args.compare_ref or args.compare_synth:
        if args.compare_synth:
            base = _estimate_synth(args.compare_synth, args.stack or head.environment, table)
        else:
            if cfg is None:
                raise UsageError("--compare and --compare-ref price env files: with --synth, use --compare-synth")
            if args.compare:
                base_cfg, base_label = load(args.compare), args.compare  # ConfigError names the base file
            else:
                base_cfg, base_label = load_at_ref(env_path, args.compare_ref)
            base = _estimate(base_cfg, base_label, table)
        d = delta(base, head)
        text = {"json": lambda: json.dumps(d, indent=2) + "\n", "text": lambda: render_delta_text(d),
                "markdown": lambda: render_delta_markdown(d, head.environment)}[args.format]()
    elif args.format == "json":
        text = json.dumps(head.as_dict(), indent=2) + "\n"
    elif args.format == "markdown":
        print("error: --format markdown goes with --compare (a pull-request comment)", file=sys.stderr)
        return 2
    else:
        text = render_text(head)
    emit(text, args.output, "the estimate")
    return 0
