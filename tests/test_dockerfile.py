"""modules/dockerfile.py: the one Dockerfile reader (image tags, the Dockerfile policy tests, the contracts)."""

from __future__ import annotations

import pytest

from modules import build_context, dockerfile
from modules.dockerfile import DockerfileError, copies, exec_form, final_stage, image_env, instructions

MULTI_STAGE = """\
# syntax comment, not an instruction
FROM ghcr.io/jqlang/jq:1.7.1 AS jq

FROM curlimages/curl:8.11.1
COPY --from=jq /jq /usr/local/bin/jq
COPY --chmod=0555 \\
    img/run.sh /usr/local/bin/run
# a comment between instructions
ADD ["lib/a b.sh", "lib/c.sh", "/opt/lib/"]
COPY --chmod=0444 ["img/conf.yaml", "/etc/conf.yaml"]
ENV A=1 \\
    B="two words"
ENV LEGACY value with spaces
USER 100:101
ENTRYPOINT ["/usr/local/bin/run"]
CMD []
"""


@pytest.fixture()
def sample(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text(MULTI_STAGE)
    return path


def test_instructions_join_continuations_and_drop_comments(sample):
    steps = instructions(sample)
    assert [s.keyword for s in steps] == ["FROM", "FROM", "COPY", "COPY", "ADD", "COPY", "ENV", "ENV", "USER",
                                          "ENTRYPOINT", "CMD"]
    assert steps[3].args.split() == ["--chmod=0555", "img/run.sh", "/usr/local/bin/run"]
    assert final_stage(sample)[0] == ("FROM", "curlimages/curl:8.11.1")


def test_copy_and_add_in_shell_and_json_form_with_options(sample):
    found = copies(sample, final_only=True)
    assert [(c.keyword, c.flags, c.sources, c.destination, c.from_context) for c in found] == [
        ("COPY", ("--from=jq",), ("/jq",), "/usr/local/bin/jq", False),
        ("COPY", ("--chmod=0555",), ("img/run.sh",), "/usr/local/bin/run", True),
        ("ADD", (), ("lib/a b.sh", "lib/c.sh"), "/opt/lib/", True),
        ("COPY", ("--chmod=0444",), ("img/conf.yaml",), "/etc/conf.yaml", True),
    ]
    # the image tag reads the same instructions: every context source, JSON form included
    assert build_context.copy_sources(sample) == ["img/run.sh", "lib/a b.sh", "lib/c.sh", "img/conf.yaml"]


def test_env_and_exec_form(sample):
    assert image_env(sample) == {"A": "1", "B": "two words", "LEGACY": "value with spaces"}
    entrypoint = next(s.args for s in final_stage(sample) if s.keyword == "ENTRYPOINT")
    assert exec_form(entrypoint) == ["/usr/local/bin/run"]
    with pytest.raises(DockerfileError, match="shell form"):
        exec_form("/usr/local/bin/run --flag")


@pytest.mark.parametrize("text, words", [
    ("FROM alpine:3.20\nCOPY onlyone\n", "needs a source and a destination"),
    ('FROM alpine:3.20\nCOPY ["a", /b]\n', "is not a JSON array"),
    ("# nothing\n", "no FROM"),
])
def test_what_it_cannot_read_is_an_error(tmp_path, text, words):
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    with pytest.raises(DockerfileError, match=words.replace("[", r"\[")):
        copies(path, final_only=True)


def test_the_tests_read_dockerfiles_with_this_reader():
    """issue 28: one parser. tests/test_docker.py imports its helpers from here and defines no reader of its own."""
    import test_docker  # noqa: PLC0415

    assert test_docker.instructions is dockerfile.instructions and test_docker.final_stage is dockerfile.final_stage
    assert not hasattr(test_docker, "env_of")
