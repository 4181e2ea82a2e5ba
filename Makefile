# The README's two commands: `make synth` and `make test`. Each installs what it needs first.
.PHONY: synth test bootstrap

synth:
	bash scripts/bootstrap.sh runtime
	PIPENV_VENV_IN_PROJECT=1 pipenv run python main.py $(ARGS)

test:
	bash scripts/bootstrap.sh test
	PIPENV_VENV_IN_PROJECT=1 pipenv run python -m pytest $(ARGS)
