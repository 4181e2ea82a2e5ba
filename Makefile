# The README's two commands: `make synth` and `make test`. Each installs what it needs first.
# pipenv is called as `python3 -m pipenv`: a fresh `pip install --user` may not be on PATH yet.
PIPENV := PIPENV_VENV_IN_PROJECT=1 PIPENV_VERBOSITY=-1 python3 -m pipenv
.PHONY: synth test

synth:
	bash scripts/bootstrap.sh runtime
	$(PIPENV) run python main.py $(ARGS)

test:
	bash scripts/bootstrap.sh test
	$(PIPENV) run python -m pytest $(ARGS)
