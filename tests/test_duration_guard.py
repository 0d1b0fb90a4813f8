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


def _run(folder, *arguments, limit="0.3"):
    # only the plugins the run needs (the environment's others, loaded by entry point, take seconds to start)
    env = dict(os.environ, PYTHONPATH=TESTS, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env.pop("NEMO_DISTILL_TEST_TIME_LIMIT", None)
    if limit is not None:
        env["NEMO_DISTILL_TEST_TIME_LIMIT"] = limit
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


class _PluginManager:
    def __init__(self):
        self.plugins = {}

    def has_plugin(self, name):
        return name in self.plugins

    def register(self, plugin, name):
        self.plugins[name] = plugin


class _Config:
    def __init__(self):
        self.pluginmanager = _PluginManager()


@pytest.mark.parametrize("slowdown, limit", [(2.0, 60.0), (1.0, 30.0), (0.5, 30.0)])
def test_the_limit_scales_with_how_slowly_this_machine_runs_the_calibration(monkeypatch, slowdown, limit):
    """A machine twice as slow as the reference gets twice the limit; a faster one keeps the reference's 30 s."""
    import duration_guard

    monkeypatch.delenv("NEMO_DISTILL_TEST_TIME_LIMIT", raising=False)
    monkeypatch.setattr(duration_guard, "calibration_seconds",
                        lambda: duration_guard.REFERENCE_CALIBRATION_S * slowdown)
    config = _Config()
    duration_guard.install(config)
    guard = config.pluginmanager.plugins["nemo_distill_duration_guard"]
    assert guard.limit_s == pytest.approx(limit)
    assert f"x {limit / 30:.2f}" in guard.rule()


def test_an_absolute_limit_skips_the_calibration(monkeypatch):
    import duration_guard

    monkeypatch.setenv("NEMO_DISTILL_TEST_TIME_LIMIT", "7")
    monkeypatch.setattr(duration_guard, "calibration_seconds", lambda: pytest.fail("calibrated"))
    config = _Config()
    duration_guard.install(config)
    assert config.pluginmanager.plugins["nemo_distill_duration_guard"].limit_s == 7.0


def test_a_run_without_an_absolute_limit_calibrates_and_says_its_limit(tmp_path):
    (tmp_path / "test_timed.py").write_text(SUITE)
    result = _run(tmp_path, "-k", "quick", limit=None)
    assert result.returncode == 0, result.stdout[-2000:]
    rule = re.search(r"duration guard: .* in ([\d.]+) s \(30 s x ([\d.]+): this machine ran", result.stdout)
    assert rule and float(rule.group(1)) >= 30.0 and float(rule.group(2)) >= 1.0, result.stdout[-2000:]
