# Copyright (c) 2026, The nemo_distill authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The suite's guard against drift (tests/duration_guard.py), run on a small suite of its own in a fresh pytest:
a test that is not marked slow and takes longer than the limit fails the run, named; with or without workers."""

import os
import re
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
SUITE = '''
import time

import pytest


def test_quick():
    pass


def test_too_long():
    time.sleep(0.6)


@pytest.mark.slow
def test_marked_slow():
    time.sleep(0.6)
'''


def _run(folder, *arguments):
    # only the plugins the run needs (the environment's others, loaded by entry point, take seconds to start)
    env = dict(os.environ, NEMO_DISTILL_TEST_TIME_LIMIT="0.3", PYTHONPATH=TESTS, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "duration_guard", "-o", "markers=slow: heavy",
                           "-p", "no:cacheprovider", *arguments, str(folder)], capture_output=True, text=True,
                          env=env, cwd=folder, timeout=120)


@pytest.mark.parametrize("workers", [[], ["-p", "xdist.plugin", "-n", "2"]], ids=["one process", "two xdist workers"])
def test_a_long_unmarked_test_fails_the_run_by_name(tmp_path, workers):
    (tmp_path / "test_timed.py").write_text(SUITE)
    result = _run(tmp_path, *workers)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "3 passed" in result.stdout  # every test passed: the run fails for the time alone
    assert re.search(r"test_timed\.py::test_too_long took 0\.\d s, over 0\.3 s", result.stdout), result.stdout[-2000:]
    assert "test_marked_slow took" not in result.stdout and "test_quick took" not in result.stdout
    quick = _run(tmp_path, "-k", "quick or marked_slow", *workers)
    assert quick.returncode == 0 and "tests over the time limit" not in quick.stdout, quick.stdout[-2000:]
