#!/usr/bin/env python3
"""`make regen`: regenerate every generated artefact of the repository, in one step, after a change on purpose.

Each artefact is declared once in ARTEFACTS (its path and the function that produces its content); the test
that compares it says to run `make regen`. Review the diff before committing it: a golden file is the reviewed
picture of what the program produces.

    make regen                      everything
    python scripts/regen.py NAME…   only these (see --help for the names)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGEN_COMMAND = "make regen"
# Synth inputs of the generated artefacts: the tests' fixed image tag, none of a developer's variables.
# (the tests synthesize with the same: tests/conftest.py MAIN_ENV is this SYNTH_ENV)
TEST_IMAGE_TAG = "0123456789ab"
# A developer's shell may export these; generated output must not depend on it.
SYNTH_INPUT_VARS = ("ARAQUEM_ENV", "ARAQUEM_APP_IMAGE_TAG", "ARAQUEM_EAGER_PROVIDER_IMPORT")
SYNTH_ENV = {"ARAQUEM_IMAGE_TAG": TEST_IMAGE_TAG, **dict.fromkeys(SYNTH_INPUT_VARS)}
DIGEST_ENVS = ("stage", "dev-eu")  # the env files whose synthesized JSON is pinned, resource by resource
DIGESTS_FILE = ROOT / "tests/golden/synth-digests.json"
COST_DOC = ROOT / "docs/cost.md"
COST_MARKER = "<!-- generated: python main.py cost --env stage"


# ---------------------------------------------------------------- per-resource digests of a synthesized stack
def block_digests(doc: dict) -> dict[str, str]:
    """{address: sha256 (16 hex digits) of its canonical JSON} for every resource, data source, output,
    variable, local and provider/terraform block: a changed digest names what changed."""
    digests = {}
    for section, body in sorted(doc.items()):
        if section in ("resource", "data"):
            for rtype, blocks in sorted(body.items()):
                for name, block in sorted(blocks.items()):
                    digests[f"{section}.{rtype}.{name}"] = _digest(block)
        elif section in ("output", "variable", "locals", "provider") and isinstance(body, dict):
            for name, block in sorted(body.items()):
                digests[f"{section}.{name}"] = _digest(block)
        else:  # terraform (backend, required_providers), "//" metadata
            digests[section] = _digest(body)
    return digests


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def digest_changes(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """'added x', 'removed y', 'changed z' lines, sorted by address."""
    lines = [f"added {a}" for a in sorted(actual.keys() - expected.keys())]
    lines += [f"removed {a}" for a in sorted(expected.keys() - actual.keys())]
    lines += [f"changed {a}" for a in sorted(actual.keys() & expected.keys()) if actual[a] != expected[a]]
    return sorted(lines, key=lambda line: line.split(" ", 1)[1])


def synthesized(env: str, outdir: Path) -> dict:
    environ = {k: v for k, v in {**os.environ, **SYNTH_ENV}.items() if v is not None}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--env", env, "synth", "--outdir", str(outdir)],
                          cwd=ROOT, env=environ, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"regen: synth of {env} failed:\n{proc.stderr}")
    return json.loads((outdir / "stacks" / f"araquem-{env}" / "cdk.tf.json").read_text())


def digests_text() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        every = {env: block_digests(synthesized(env, Path(tmp) / "out")) for env in DIGEST_ENVS}
    return json.dumps(every, indent=1, sort_keys=True) + "\n"


# ---------------------------------------------------------------- the other artefacts
def _config(env: str):
    from modules.config import load  # noqa: PLC0415

    return load(ROOT / "envs" / f"{env}.yaml")


def reference_text() -> str:
    from modules.commands import reference  # noqa: PLC0415

    return reference.render()


def schema_text() -> str:
    from modules.commands import schema  # noqa: PLC0415

    return schema.render()


def describe_text() -> str:
    from modules.commands import describe  # noqa: PLC0415

    return describe.render(_config("stage"), box=False, colour=False)


def cost_doc_text() -> str:
    from modules.commands import cost  # noqa: PLC0415
    from modules.cost import prices  # noqa: PLC0415
    from modules.cost.estimate import estimate  # noqa: PLC0415

    block = cost.render_text(estimate(_config("stage"), prices.load()))
    doc = COST_DOC.read_text()
    head, rest = doc.split(COST_MARKER, 1)
    marker_line, after = rest.split("```text\n", 1)
    _, tail = after.split("```", 1)
    return f"{head}{COST_MARKER}{marker_line}```text\n{block}```{tail}"


GENERATED_START = "<!-- generated from modules/commands/preflight/checks.py"
GENERATED_END = "<!-- end generated -->"


def _replace_generated(path: Path, body: str) -> str:
    """The file with the text between its one checks.py marker line and the end marker replaced by `body`."""
    text = path.read_text()
    start = text.index(GENERATED_START)
    body_start = text.index("\n", start) + 1
    end = text.index(GENERATED_END, body_start)
    indent = text[text.rindex("\n", 0, end) + 1:end]  # the end marker's indentation (a list item's)
    return text[:body_start] + body + "\n" + indent + text[end:]


def runbook_text() -> str:
    from modules.commands.preflight import checks  # noqa: PLC0415

    return _replace_generated(ROOT / "docs/runbook.md", checks.runbook_list())


def deploy_role_text() -> str:
    from modules.commands.preflight import checks  # noqa: PLC0415

    fenced = "```json\n" + checks.deploy_role_policy_json() + "\n```"
    return _replace_generated(ROOT / "docs/terraform-cloud.md", "\n".join(
        ("   " + line) if line else line for line in fenced.splitlines()))


def readme_text() -> str:
    """The README's preflight row carries the command's help (from checks.py)."""
    from modules.commands.preflight import checks  # noqa: PLC0415

    lines = (ROOT / "README.md").read_text().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("| `python main.py preflight"):
            cells = line.split(" | ")
            cells[1] = checks.HELP + cells[1][cells[1].index(")") + 1:] if ")" in cells[1] else checks.HELP
            lines[i] = " | ".join(cells)
    return "\n".join(lines)


def write_diagram() -> list[Path]:
    from modules.commands import diagram  # noqa: PLC0415

    if not shutil.which("dot"):
        raise SystemExit("regen: Graphviz `dot` is not on PATH (make test installs it; Debian: apt-get install graphviz)")
    return diagram.render(_config("stage"), ROOT / "docs" / "stage")


# name -> (path, content function); the diagram writes its own two files
ARTEFACTS: dict[str, tuple[Path, Callable[[], str]]] = {
    "reference": (ROOT / "docs/env-reference.md", reference_text),
    "schema": (ROOT / "docs/env-file.schema.json", schema_text),
    "describe": (ROOT / "tests/golden/describe-stage.txt", describe_text),
    "cost-doc": (COST_DOC, cost_doc_text),
    "digests": (DIGESTS_FILE, digests_text),
    "runbook-iam": (ROOT / "docs/runbook.md", runbook_text),
    "deploy-role": (ROOT / "docs/terraform-cloud.md", deploy_role_text),
    "readme-preflight": (ROOT / "README.md", readme_text),
}
DIAGRAM = "diagram"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    known = [*ARTEFACTS, DIAGRAM]
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"artefacts to regenerate (default all): {', '.join(known)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        parser.error(f"unknown artefact(s) {', '.join(unknown)}; known: {', '.join(known)}")
    for name in args.names or [*ARTEFACTS, DIAGRAM]:
        if name == DIAGRAM:
            for path in write_diagram():
                print(f"regen: wrote {path.relative_to(ROOT)}")
            continue
        path, produce = ARTEFACTS[name]
        text = produce()
        if path.is_file() and path.read_text() == text:
            print(f"regen: {path.relative_to(ROOT)} unchanged")
            continue
        path.write_text(text)
        print(f"regen: wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
