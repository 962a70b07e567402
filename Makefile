# charlm: `make train` and `make test` do all of their own set-up on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data
CORPUS := data/civil_mots.txt
TEXT := data/tinyshakespeare.txt
ARGS ?=
# pytest-xdist workers for `make test`: one per core this process may use.
WORKERS ?= $(shell nproc 2>/dev/null || echo 1)

.DEFAULT_GOAL := help
.PHONY: help install web data train test test-fast test-compat notebooks lint format tensorboard bench bench-profile bench-threads bench-ddp bench-scale bench-text bench-shakespeare bench-big-text bench-tokens-eval bench-export device-check redteam exercises screenshot screenshot-web clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing pulls the CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv and install charlm with its dev tools

web/node_modules/.installed: web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	touch $@

web: web/node_modules/.installed ## ONNX Runtime Web from npm into web/node_modules, for charlm-export format=web and its browser test

data: install ## data/civil_mots.txt and data/tinyshakespeare.txt: kept if there, else copied from ../shared/data (SHARED_DATA), else downloaded; SHA-256 checked
	@$(BIN)/charlm-data --dest $(CORPUS) --dest $(TEXT) --shared $(SHARED_DATA)

train: install data ## Train the notebook's MLP (experiment=bengio2003); or ARGS='experiment=bigram ...'
	$(BIN)/charlm-train $(or $(ARGS),experiment=bengio2003)

test-fast: install ## The edit-test loop: lint, then every test not marked slow (about a minute on 2 cores)
	$(BIN)/ruff check src tests bench notebooks
	$(BIN)/pytest -q -m "not slow" -n $(WORKERS) --dist loadgroup $(ARGS)

# The other end of the supported releases: the newest torch these machines provide, with the
# torchvision built for it, and the oldest Lightning charlm supports (pyproject.toml).
COMPAT_VENV ?= .venv-compat
COMPAT_PINS ?= torch==2.14.1 torchvision==0.29.1 lightning==2.6.0

$(COMPAT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/pip install --quiet $(COMPAT_PINS)
	$(COMPAT_VENV)/bin/python -c "import torch, torchvision, lightning as L; print(torch.__version__, torchvision.__version__, L.__version__)" > $(COMPAT_VENV)/before
	$(COMPAT_VENV)/bin/pip install --quiet -e '.[dev]'
	$(COMPAT_VENV)/bin/python -c "import torch, torchvision, lightning as L; print(torch.__version__, torchvision.__version__, L.__version__)" | diff $(COMPAT_VENV)/before - \
		|| { echo "installing charlm changed torch, torchvision or lightning (above)"; exit 1; }
	touch $@

test-compat: $(COMPAT_VENV)/.installed data web ## The fast suite on torch 2.14.1 and Lightning 2.6.0 (a second environment, 5.5 GB), then the wheel installed beside another torch (-m install; both need the package index, as make install does)
	@$(COMPAT_VENV)/bin/python -c "import torch, lightning as L; print('torch', torch.__version__, '| lightning', L.__version__)"
	$(COMPAT_VENV)/bin/pytest -q -m "not slow" -n $(WORKERS) --dist loadgroup $(ARGS)
	$(COMPAT_VENV)/bin/pytest -q -m install $(ARGS)

notebooks: install data ## Execute the course's lessons (notebooks/*.py) into build/notebooks/ (.ipynb and .html, with figures; about 20 minutes, CHARLM_QUICK=1: 2)
	@mkdir -p build/notebooks
	@for nb in notebooks/[0-9][0-9]_*.py; do \
		name=$$(basename $$nb .py); echo "== $$name"; \
		CHARLM_ROOT=$(CURDIR) $(BIN)/jupytext --quiet --to ipynb --set-kernel python3 --execute \
			--output build/notebooks/$$name.ipynb $$nb || exit 1; \
		$(BIN)/jupyter nbconvert --log-level WARN --to html build/notebooks/$$name.ipynb || exit 1; \
	done
	@echo "executed: build/notebooks/*.ipynb (open in Jupyter) and *.html (open in a browser)"

exercises: install ## The students' notebooks: build/exercises/NN_*.ipynb, each lesson with its solutions replaced by stubs (nbgrader's ClearSolutions); INSTALL=SOURCE adds a first cell installing charlm from SOURCE in Colab or JupyterHub
	$(BIN)/python -m charlm.course.exercises --lessons notebooks --out build/exercises $(if $(INSTALL),--install '$(INSTALL)')

screenshot: install data ## Lesson 6 in JupyterLab in headless Chromium: moves the sampler's slider and photographs the three views into docs/screenshots/ (apt-get install chromium; pip install playwright)
	$(BIN)/python docs/screenshots/jupyterlab_views.py $(ARGS)

screenshot-web: install web ## The page of charlm-export format=web, opened from its file in headless Chromium: docs/screenshots/web_page.png (ARGS='RUN/checkpoints/last.ckpt')
	$(BIN)/python docs/screenshots/web_page.py $(ARGS)

lint: install ## ruff check and format check
	$(BIN)/ruff check src tests bench notebooks
	$(BIN)/ruff format --check src tests bench notebooks

format: install ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix src tests bench notebooks
	$(BIN)/ruff format src tests bench notebooks

test: install data web lint ## Lint, then the whole test suite, one worker per core (about 7 minutes on 2 cores)
	$(BIN)/pytest -q -n $(WORKERS) --dist loadgroup $(ARGS)

tensorboard: install ## Serve every run under logs/ on http://127.0.0.1:6006
	$(BIN)/tensorboard --logdir logs --host 127.0.0.1 --port 6006

bench: install data ## Speed benchmark: the notebook's loop vs charlm, diagnostics on and off, mlp_fast (about 10 minutes)
	$(BIN)/python bench/speed.py $(ARGS)

bench-profile: install data ## Where the loop's time goes: charlm's cost per update and per run against the plain loop, and a cProfile of a run by phase (about 2 minutes)
	$(BIN)/python bench/profile_loop.py $(ARGS)

bench-threads: install data ## Runs sharing the machine: one alone, two at once, a joblib sweep of two, auto against null (about 3 minutes; ARGS="--model gru": a Shakespeare GRU beside another and beside busy processes, 8 minutes)
	$(BIN)/python bench/threads.py $(ARGS)

bench-ddp: install data ## Multi-process training here: 2 processes x 1 thread (torchrun, DDP) against 1 x 2 threads, bengio2003 and the Shakespeare GRU (about 5 minutes)
	$(BIN)/python bench/ddp_speed.py $(ARGS)

bench-scale: install data ## Scale benchmark: civil_mots.txt against a 346k-word list (apt-get install wfrench)
	$(BIN)/python bench/scale.py $(ARGS)

bench-shakespeare: install data ## experiment=shakespeare_nanogpt against a hand-written PyTorch loop of the same model, data and time: each one's NLL on the last 10% (about 25 minutes; ARGS="--seed 1")
	$(BIN)/python bench/shakespeare_plain.py $(ARGS)

bench-text: install data ## Text throughput: charlm's Transformer and GRU against a plain PyTorch loop on the same blocks (about 8 minutes)
	$(BIN)/python bench/text_speed.py $(ARGS)

bench-big-text: install data ## A 1 GB text (written under /tmp): encoding time, 1,000 updates, peak memory (about 10 minutes)
	$(BIN)/python bench/big_text.py $(ARGS)

bench-tokens-eval: install data ## A 15,000-token model evaluated over every split of tinyshakespeare.txt's lines: time and peak memory (ARGS='--ckpt RUN/checkpoints/last.ckpt')
	$(BIN)/python bench/tokens_eval.py $(ARGS)

bench-export: install data ## Inference in float32, int8 and ONNX Runtime: the GRU and the Transformer of experiment=gru and =transformer (trained first unless ARGS='--gru CKPT --transformer CKPT'), test NLL and characters per second
	$(BIN)/python bench/export_speed.py $(ARGS)

device-check: install data ## A short training, sampling and scoring on this machine's device (CUDA, else MPS, else the CPU) with trainer=auto, its logits and NLL compared with the CPU's (a minute)
	$(BIN)/python bench/device_check.py $(ARGS)

redteam: install ## Bad input to every command, the Python API, the course and runs at once: exit 0 or one-line errors, no traceback, nothing overwritten (about 15 minutes)
	$(BIN)/python bench/redteam.py $(ARGS)

clean: ## Remove caches and build files (never logs/, checkpoints or data/)
	rm -rf .pytest_cache .ruff_cache build dist src/*.egg-info
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
