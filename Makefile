# Two commands on a fresh machine: `make run` (install, demo data, start the app) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run dev test lint seed install clean

run: $(VENV)/.installed
	$(PY) -m core db upgrade
	$(PY) -m core demo seed
	$(PY) -m streamlit run app.py --server.port $(PORT)

dev: $(VENV)/.installed-dev  # as `make run`, reloading the screens when their code is saved
	$(PY) -m core db upgrade
	$(PY) -m core demo seed
	STREAMLIT_SERVER_FILE_WATCHER_TYPE=auto STREAMLIT_SERVER_RUN_ON_SAVE=true $(PY) -m streamlit run app.py --server.port $(PORT)

test: $(VENV)/.installed-dev
	bash tests/support/system-packages.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV)
