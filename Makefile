# Two commands: `make test` and `make bench`. Each creates .venv if missing and installs mixkit into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.13.0 has a CPU wheel on this project's machines; override e.g. TORCH_SPEC="torch==2.14.1" for CUDA.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.mixkit-installed

.PHONY: test bench bench-speed lint data clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[bench,dev,search,plot]"
	# optional extras whose code paths the suite tests (Hugging Face sources and Trainer callback, Lightning
	# callback, beat tracking, Ray proxy runs); each on its own line so one that fails leaves the others
	-$(PY) -m pip install -q -e ".[hf]"
	-$(PY) -m pip install -q -e ".[lightning]"
	-$(PY) -m pip install -q -e ".[audio]"
	-$(PY) -m pip install -q -e ".[ray]"
	# numba compiles the sampler's inner loops (same output as the NumPy/Python path without it)
	-$(PY) -m pip install -q -e ".[fast]"
	# LightGBM, the regressor of the RegMix release (the search falls back to scikit-learn without it)
	-$(PY) -m pip install -q -e ".[lightgbm]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

# Fetch the optional real datasets from Debian packages where apt is available (no-op elsewhere).
data:
	-bash scripts/get-data.sh

bench: $(STAMP) data
	$(PY) -m mixkit bench --suite quick
	# the smallest domain-mixing scenario (the other scenarios: mixkit bench --suite domain-scenarios -- --help)
	$(PY) -m mixkit bench --suite domain-scenarios -- --scenario smallest

bench-speed: $(STAMP)
	$(PY) speed/mixer_speed.py
	$(PY) speed/sampler_speed.py

lint: $(STAMP)
	$(PY) -m ruff check src tests speed examples

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info

# Domain mixing on real text (fortunes en/de/es/it/ru + Python stdlib): RegMix search, then every online
# method against uniform/proportional/the recommended mixture at equal compute (results/text-domains/).
.PHONY: mixture-demo
mixture-demo: $(STAMP) data
	$(PY) -m mixkit bench --suite text-domains
