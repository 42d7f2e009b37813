# postfix-diag: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
LOG    ?= sample_logs
ARGS   ?=

.PHONY: run test bench lint fixtures docs clean install fuzz

$(VENV)/.installed: pyproject.toml setup.py csrc/pd_core.c csrc/pd_core.h csrc/pd_module.c
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
	$(PY) -m pytest -q -n auto

## make bench: start-up; analyze and summary at --jobs 1 and 2 beside pflogsumm (1M, 5M lines); peak memory of every command at 1M, 5M, 10M lines;
## then watch's latency (append a line that opens an incident -> the printed line) and its memory over
## 10M lines streamed through it (BENCH_WATCH_MEMORY_LINES=N to change the count, 0 to skip it)
bench: install
	$(PY) tools/bench/run.py
	$(PY) tools/bench/watch_latency.py
	$(PY) tools/bench/watch_memory.py

## make fuzz [FUZZ_SECONDS=3600]: the compiled core under libFuzzer with ASan/UBSan, then the
## differential test on an ASan build of the extension (make test runs the fuzzer for 60 s)
FUZZ_SECONDS ?= 1800
fuzz: install
	$(PY) tools/fuzz/run.py --seconds $(FUZZ_SECONDS)
	$(PY) tools/fuzz/run.py --python-asan --examples 20000

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
	rm -rf $(VENV) build *.egg-info .pytest_cache bench-out postfix_diag/_core*.so
