"""`python main.py [synth]`: the env file -> Terraform JSON in cdktf.out/ (the default command).

Before jsii starts: the outdir is checked (modules/output_dir.py: only earlier cdktf output is replaced;
never the checkout, a directory containing it, $HOME or a regular file), TMPDIR and the image tags. Then,
holding the outdir's lock, the stack is synthesized into a staging directory and swapped in by
modules/output_dir.py, which keeps everything of the earlier output that synth did not write (local
state, .terraform/). docs/setup.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
from pathlib import Path

from modules.commands import EXIT_OK, UsageError
from modules.output_dir import checked_outdir, write_output
from modules.image_tags import image_tags

HELP = "synthesize Terraform JSON into cdktf.out/ (the default command)"
NEEDS_ENV = True
class SynthProcessDied(Exception):
    """jsii's Node process ended in the middle of the synth (killed, or out of memory)."""

    def __init__(self, status: int):
        if status > 128 and status - 128 in {int(s) for s in signal.Signals}:
            status = 128 - status  # Node's handler for SIGTERM/SIGINT exits with 128 + the signal, as a shell does
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = "an unknown signal"
            hint = ": out of memory?" if -status == signal.SIGKILL else ""
            cause = f"was killed (signal {-status}, {name}{hint})"
        else:
            cause = f"exited with status {status} (its error, if any, is printed above)"
        super().__init__(f"the synth's Node process (jsii) {cause}; the earlier output is left as it was")


def check_tmpdir() -> None:
    """jsii's Node process writes to $TMPDIR; a missing one fails deep inside it with a JavaScript trace."""
    tmp = os.environ.get("TMPDIR")
    if not tmp:
        return
    try:
        os.rmdir(tempfile.mkdtemp(dir=tmp))
    except OSError as exc:
        raise UsageError(f"TMPDIR={tmp}: {exc.strerror}; synth's Node process keeps temporary files there: "
                         "create it, or unset TMPDIR") from None


def _synthesize(cfg, target: Path, tags: dict[str, str], aws_endpoint: str | None) -> None:
    from modules.bindings.node import (  # noqa: PLC0415  (light: no jsii yet)
        forget_dead_jsii_kernel,
        jsii_kernel_exit,
        use_supported_node,
    )

    use_supported_node()
    try:
        _run_cdktf(cfg, target, tags, aws_endpoint)
    except Exception as error:
        status = jsii_kernel_exit(error)
        if status is None:
            raise
        forget_dead_jsii_kernel()
        raise SynthProcessDied(status) from None


def _run_cdktf(cfg, target: Path, tags: dict[str, str], aws_endpoint: str | None) -> None:
    from cdktf import App  # noqa: PLC0415  (jsii starts here, after the config and the outdir are known good)

    import modules  # noqa: F401,PLC0415  (installs the lazy provider import before the stack imports)
    from modules.stack import AraquemStack, StackOptions  # noqa: PLC0415

    app = App(outdir=str(target), stack_traces=False)
    AraquemStack(app, cfg, StackOptions(image_tags=tags, aws_endpoint=aws_endpoint))
    app.synth()


def synth(cfg, outdir: Path, aws_endpoint: str | None = None) -> Path:
    """Synthesize into a staging dir beside outdir, then swap: a failure leaves the old output intact.

    Everything a user can get wrong is checked before jsii starts: image tags, the outdir, TMPDIR,
    and that the outdir's parent is writable (the lock file and the staging directory are made there)."""
    outdir = checked_outdir(outdir)
    check_tmpdir()
    tags = image_tags(cfg)
    write_output(outdir, lambda target: _synthesize(cfg, target, tags, aws_endpoint), stack_names=(cfg.name,))
    return outdir / "stacks" / cfg.name / "cdk.tf.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None of its own: --outdir (and the test-only --aws-endpoint) are main.py's common options,
    so a bare `python main.py --outdir D` synthesizes too."""


def run(args: argparse.Namespace, cfg) -> int:
    out = synth(cfg, Path(args.outdir), aws_endpoint=args.aws_endpoint)
    print(f"synthesized {cfg.name} from {os.path.relpath(args.env_path)} -> {os.path.relpath(out)}")
    return EXIT_OK
