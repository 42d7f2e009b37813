# postfix-diag: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
LOG    ?= sample_logs
ARGS   ?=

.PHONY: run test bench lint fixtures docs clean install

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed; on Debian: apt-get install python3-venv" >&2; exit 2; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

## make run [LOG=/var/log/mail.log] [ARGS='--format markdown']: analyze the sample logs, or LOG
run: install
	$(VENV)/bin/postfix-diag analyze $(LOG) $(ARGS)

## make test: install and run the whole test suite
test: install
	$(PY) -m pytest -q

## make bench: throughput and peak memory at 1M and 5M generated lines, against pflogsumm if installed
bench: install
	$(PY) tools/bench/run.py

lint: install
	$(VENV)/bin/ruff check postfix_diag tests tools

## make fixtures: capture sample_logs/ from a real Postfix on loopback (root; installs postfix)
fixtures:
	bash tools/capture/run_all.sh

## make docs: regenerate docs/events.md, docs/rules.md and the man page from the grammars, the rule registry and the help texts
docs: install
	$(VENV)/bin/postfix-diag grammar > docs/events.md
	$(VENV)/bin/postfix-diag rules --format markdown > docs/rules.md
	$(PY) tools/manpage.py > postfix_diag/data/postfix-diag.1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache bench-out
