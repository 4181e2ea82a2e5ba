"""The synthesized JSON only changes on purpose.

tests/golden/synth-digests.json holds the sha256 of stage's and dev-eu's cdk.tf.json (synthesized
with the fixed test image tag). A refactor must leave them unchanged; a change that is meant to alter
the output updates the file on purpose, with the reason in the commit message:

    ARAQUEM_UPDATE_DIGESTS=1 .venv/bin/python -m pytest tests/test_output_digest.py
"""

from __future__ import annotations

import hashlib
import json
import os

from conftest import ROOT, STAGE_FILE

DIGESTS = ROOT / "tests" / "golden" / "synth-digests.json"
ENV_FILES = {"stage": STAGE_FILE, "dev-eu": ROOT / "envs" / "dev-eu.yaml"}


def test_synthesized_json_matches_the_committed_digest(synths):
    actual = {name: hashlib.sha256(synths.of_file(path).path.read_bytes()).hexdigest()
              for name, path in sorted(ENV_FILES.items())}
    if os.environ.get("ARAQUEM_UPDATE_DIGESTS") == "1":
        DIGESTS.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    expected = json.loads(DIGESTS.read_text())
    changed = sorted(name for name in actual if actual[name] != expected.get(name))
    assert not changed, (f"synthesized JSON of {', '.join(changed)} changed; if on purpose, regenerate "
                         f"{DIGESTS.relative_to(ROOT)} (see this file's docstring) and say why in the commit")
