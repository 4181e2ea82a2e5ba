# The README's two commands: `make synth` and `make test`. Each installs what it needs first
# (scripts/bootstrap.sh, docs/setup.md); `make synth PYTHON=/path/to/python3.12` picks the interpreter.
# pipenv runs from its own venv in .tools/ (never the system Python: PEP 668 systems refuse installs there).
PIPENV := PIPENV_VENV_IN_PROJECT=1 PIPENV_IGNORE_VIRTUALENVS=1 PIPENV_VERBOSITY=-1 .tools/pipenv-venv/bin/python -m pipenv
.PHONY: synth test regen break-glass-deploy

synth:
	bash scripts/bootstrap.sh runtime
	$(PIPENV) run python main.py $(ARGS)

test:
	bash scripts/bootstrap.sh test
	$(PIPENV) run python -m pytest $(ARGS)

# Every generated artefact (golden files, generated docs, the digests of the synthesized JSON): after a change
# on purpose; the test that compares each one names this target. scripts/regen.py lists them.
regen:
	bash scripts/bootstrap.sh test
	$(PIPENV) run python scripts/regen.py $(ARGS)

# Break glass (docs/delivery.md): deploy from this machine with the deploy workflow's gates (preflight, images,
# a saved plan applied after you confirm it, the rollout wait). ENV names envs/<ENV>.yaml.
break-glass-deploy:
	bash scripts/bootstrap.sh test
	bash scripts/break_glass_deploy.sh $(ENV)
