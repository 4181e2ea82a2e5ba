"""README.md and docs/: the README stays a landing page, every relative link resolves, docs/index.md lists every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200

FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$", re.S | re.M)  # fenced blocks, indented in a list too
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
# [text](target) and ![alt](target); an optional "title" after the target.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"", re.I)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced blocks and code spans: links inside code are examples, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def github_slug(heading: str) -> str:
    """GitHub's heading anchor: inline markup dropped, lowercased, punctuation except - and _ removed,
    spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a link may name in this file; repeated headings get -1, -2, ... as on GitHub."""
    text = FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    found = set(HTML_ANCHOR.findall(text))
    for _, title in HEADING.findall(text):
        slug = github_slug(title)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(path: Path) -> list[str]:
    targets = LINK.findall(prose(path.read_text()))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, mailto:, ...


def test_slug_follows_github_rules():
    assert github_slug("Why `terraform destroy` does not hang") == "why-terraform-destroy-does-not-hang"
    assert github_slug("Registry (ECR)") == "registry-ecr"
    assert github_slug("2. Setting secret values (the api's `.env`)") == "2-setting-secret-values-the-apis-env"
    assert github_slug("Env file → AWS") == "env-file--aws"


def test_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nope) ![pic](missing.png) `[code](x.md)`\n"
                    "```\n[fenced](y.md)\n```\n[web](https://example.com)\n")
    assert relative_links(page) == ["#title", "#nope", "missing.png"]
    assert anchors(page) == {"title"}


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links:\n" + "\n".join(broken)


def test_readme_is_a_landing_page():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move topics to docs/ (limit {README_MAX_LINES})"


def test_readme_names_the_two_commands_and_links_the_index():
    text = README.read_text()
    assert "make synth" in text and "make test" in text
    assert "docs/index.md" in relative_links(README)


def test_index_lists_every_docs_page():
    linked = {(DOCS / t.partition("#")[0]).resolve() for t in relative_links(DOCS / "index.md") if t.partition("#")[0]}
    missing = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p.resolve() not in linked]
    assert not missing, f"docs/index.md does not link: {missing}"


# Repository paths the docs name in code spans (`modules/stack.py`) must exist, so a moved file cannot leave
# the docs pointing at its old place. A prefix counts (`docs/stage` names docs/stage.png); placeholders
# (`envs/NAME.yaml`, `<name>`) are skipped.
REPO_PATH = re.compile(r"(?<![\w/.-])((?:modules|tests|scripts|docker|envs|docs|\.github)/[\w./-]*[\w/])")
ELSEWHERE = {  # paths in the application repository, not this one
    "docker/Dockerfile.api",
    "docker/Dockerfile.rag-indexer",
}


def named_paths(path: Path) -> list[str]:
    spans = [m.group(0)[1:-1] for m in CODE_SPAN.finditer(FENCE.sub("", path.read_text()))]
    return [p for span in spans if "<" not in span for p in REPO_PATH.findall(span)
            if not re.search(r"[A-Z]{3,}", p) and p not in ELSEWHERE]


def exists_or_prefix(rel: str) -> bool:
    target = ROOT / rel
    return target.exists() or any(target.parent.glob(target.name + "*")) if target.parent.is_dir() else False


def test_path_checker_sees_a_moved_file(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("`modules/stack.py` `modules/gone.py` `envs/NAME.yaml` `docs/<env>.png` `docs/stage -o x`\n"
                    "```\nmodules/in_a_block.py\n```\n")
    assert named_paths(page) == ["modules/stack.py", "modules/gone.py", "docs/stage"]
    assert [exists_or_prefix(p) for p in named_paths(page)] == [True, False, True]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_named_repository_path_exists(page):
    missing = sorted({p for p in named_paths(page) if not exists_or_prefix(p)})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist (moved? update the page): {missing}"


# ------------------------------------------------- docs/architecture.md's lists cannot drift from the tree
ARCHITECTURE = DOCS / "architecture.md"


def _constructs() -> set[str]:
    """Construct classes defined in modules/*.py (a class whose bases name Construct or a construct base)."""
    import ast  # noqa: PLC0415

    found = set()
    for path in sorted((ROOT / "modules").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and base.id in ("Construct", "TerraformStack") for base in node.bases):
                found.add(node.name)
    return found


def _architecture_code_spans() -> str:
    return " ".join(m.group(0).strip("`") for m in CODE_SPAN.finditer(ARCHITECTURE.read_text()))


@pytest.mark.parametrize("kind", ["modules", "constructs", "commands", "scripts", "workflows"])
def test_architecture_names_every_part_of_the_tree(kind):
    """Every module, construct, command, script and workflow is named in docs/architecture.md (in code
    spans): adding one without documenting it fails here, naming what is missing."""
    from modules.commands import SUBCOMMANDS  # noqa: PLC0415

    named = _architecture_code_spans()
    expected = {
        "modules": {p.name for p in (ROOT / "modules").glob("*.py") if p.name != "__init__.py"}
        | {p.name for p in (ROOT / "modules").glob("*/") if (p / "__init__.py").is_file() and p.name != "__pycache__"},
        "constructs": _constructs(),
        "commands": set(SUBCOMMANDS),
        "scripts": {p.name for p in (ROOT / "scripts").iterdir() if p.is_file()},
        "workflows": {p.name for p in (ROOT / ".github/workflows").glob("*.yml")},
    }[kind]
    missing = sorted(name for name in expected if not re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", named))
    assert not missing, f"docs/architecture.md does not name these {kind}: {missing}"
