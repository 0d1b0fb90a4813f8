# The two set-up commands of the README: `make demo` and `make test`. Each creates .venv/ in the checkout and
# installs what it needs by itself (torch 2.13.0 CPU build first, so pip does not pull a multi-GB CUDA build).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
THREADS ?= 1
DEMO_THREADS ?= 2
TEST_WORKERS ?= 2
# pytest-xdist: TEST_WORKERS processes (one per core), each test file on one of them (its fixtures built once); the
# twenty slowest calls are listed at the end of every run (to see which tests near tests/duration_guard.py's limit)
PYTEST := NEMO_DISTILL_TEST_THREADS=$(THREADS) $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile \
	--no-loadscope-reorder --durations=20

# Python writes the byte-code of what it imports (into .venv/ and the checkout's git-ignored __pycache__/ folders)
# whatever the calling shell says: every script, test process and notebook kernel imports NeMo, 12-45 s a process
# when its modules are compiled again on each import
export PYTHONDONTWRITEBYTECODE :=

.PHONY: demo demo-full guided-demo toy-demo test test-fast tutorials install clean

install: $(INSTALLED)

$(INSTALLED): setup.py requirements.txt requirements-test.txt requirements-corpus.txt requirements-eval.txt requirements-serve.txt
	command -v espeak-ng >/dev/null || (apt-get update -qq && apt-get install -y -qq espeak-ng) \
	    || (echo "espeak-ng is missing and could not be installed: run 'sudo apt-get install espeak-ng'" && exit 1)
	# the Triton server's Python-backend stub embeds the system's libpython of this Python version
	ldconfig -p | grep -q "libpython$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])').so.1.0" \
	    || (apt-get update -qq && apt-get install -y -qq "libpython$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')") \
	    || echo "warning: libpython for the Triton server's Python backend could not be installed (scripts/serve.py needs it)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile torch==2.13.0
	$(PY) -m pip install --quiet --no-compile -e ".[test,corpus,eval,serve]"
	# the Triton server (tritonserver 2.51 with the Python backend) without pytriton's own dependencies (numpy<2),
	# and beside it the numpy<2 + onnxruntime its Python backend imports (requirements-serve.txt says why)
	$(PY) -m pip install --quiet --no-compile --no-deps nvidia-pytriton==0.7.0
	$(PY) -m pip install --quiet --no-compile --no-warn-conflicts --upgrade --target $(VENV)/triton-python \
	    "numpy<2" "onnxruntime>=1.17"
	# byte-code: the Triton models' folder is compiled whole (the server runs it with PYTHONDONTWRITEBYTECODE; the
	# few files that are not Python 3, some packages' test data, fail as they do under pip and are skipped); of the
	# ~25,000 modules pip installed into .venv/lib, what the project imports is compiled by importing it, and what a
	# script imports later on its first import; scripts/warm_up.py also compiles librosa's pitch tracker and converts
	# the pretrained HiFi-GAN, each half on its own core
	$(PY) -m compileall -q -j 0 $(VENV)/triton-python > /dev/null 2>&1 || true
	$(PY) scripts/warm_up.py --part runtime & runtime=$$!; $(PY) scripts/warm_up.py --part models && wait $$runtime
	touch $@

# The README's main command (times: the README's "make demo"): Piper corpus -> FastPitch -> diffusion teacher beside
# FastPitch trained on -> the one-step consistency student -> benchmark through HiFi-GAN -> ONNX export, onnxruntime
# and a running Triton server -> report.md. The stages and their settings: scripts/demo_tts.py --help.
demo: $(INSTALLED)
	$(PY) scripts/demo_tts.py --out-dir outputs/demo --threads $(DEMO_THREADS)

# The same with every distillation method (the ladder 256 -> 1, DMD, consistency), the samplers x steps benchmark and
# the deployment benchmark.
demo-full: $(INSTALLED)
	$(PY) scripts/demo_tts.py --full --out-dir outputs/demo_full --threads $(DEMO_THREADS)

# Spoken digits: a frozen noise-conditioned classifier as a generator's backbone vs a U-Net + classifier, on CPU in
# ~70 min: corpus -> classifier, judge -> both generators (same minutes) -> benchmark table + plot, report.md.
guided-demo: $(INSTALLED)
	$(PY) scripts/demo_guided.py --out-dir outputs/guided_demo --threads $(DEMO_THREADS)

# Toy progressive distillation: train a 2-D teacher, distil 256 -> 1 steps, table + plot in outputs/ (~4 min).
toy-demo: $(INSTALLED)
	$(PY) scripts/toy_distillation.py --out-dir outputs/toy_distillation --threads $(THREADS)

# The tutorials' notebooks in JupyterLab (installed into .venv on first use; the notebooks themselves need only what
# make install put there, and make test executes each of them in QUICK mode).
tutorials: $(INSTALLED)
	$(PY) -m pip install --quiet "jupyterlab>=4"
	$(VENV)/bin/jupyter lab tutorials/

# The whole test suite, every tier; pytest's exit code 5 (no tests collected) is non-zero and fails the target like any
# failure, and so does a test not marked slow that took more than 30 s (tests/duration_guard.py).
test: $(INSTALLED)
	$(PYTEST) tests

# The fast tier: everything but the tests marked slow (two DDP processes, the wheel in a fresh venv, the notebooks),
# serving (a real tritonserver) and notebook.
test-fast: $(INSTALLED)
	$(PYTEST) -m "not slow and not serving and not notebook" tests

clean:
	rm -rf $(VENV) outputs .pytest_cache .hypothesis
