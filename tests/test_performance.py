"""modules/sdk.py: the lazy provider import changes speed, never output."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, run_main


def test_lazy_import_output_is_byte_identical_to_the_plain_path(stage, tmp_path):
    proc = run_main("synth", "--outdir", str(tmp_path / "eager"), env={"ARAQUEM_EAGER_PROVIDER_IMPORT": "1"})
    assert proc.returncode == 0, proc.stderr
    eager = (tmp_path / "eager/stacks/araquem-stage/cdk.tf.json").read_bytes()
    assert eager == stage.path.read_bytes()


def test_lazy_path_loads_only_the_submodules_it_uses():
    probe = (
        "import sys, modules.stack\n"
        "loaded = [m for m in sys.modules if m.startswith('cdktf_cdktf_provider_aws.')]\n"
        "print(len(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = int(out.stdout.strip())
    # the package has ~2,100 submodules; the stack uses a few dozen
    assert 0 < loaded < 200, loaded
