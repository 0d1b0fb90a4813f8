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

"""A guard against the suite's drift (a pytest plugin, loaded by ``conftest.py``): a test that is not marked ``slow``
and whose call takes longer than the limit fails the run, named with its time. pytest's own durations (the call
phase: a shared fixture's set-up is not the test's) decide; under pytest-xdist the controller sees every worker's
reports, so one summary covers the whole run.

The limit is 30 s on the reference machine (2 cores of the CI kind on an ordinary day) and scales with the machine
the suite runs on: machines of the same kind differ ~2x from day to day, and a fixed wall-clock limit failed CI on
the slow days for tests that had not changed. Before the run, the controller times a fixed single-thread workload
(the fastest of five) and multiplies the limit by its time over the reference machine's, never below 1: a slower
machine gets a longer limit, a faster one keeps 30 s. ``$NEMO_DISTILL_TEST_TIME_LIMIT`` sets an absolute limit
instead (no calibration)."""

import os
import subprocess
import sys

import pytest

DEFAULT_LIMIT_S = 30.0
# seconds of the calibration on the reference machine: this project's 2-core CI kind on 2026-12-04, idle (0.103-0.105 s
# in four runs), a day its fresh-clone suite took 537 s of pytest (424-778 s on other days)
REFERENCE_CALIBRATION_S = 0.104


# a fixed piece of interpreter work (most of the suite's seconds are Python, and torch ops run from it), timed in a
# fresh interpreter: in the pytest process itself (NeMo and torch imported by conftest) the same loop timed 10-70%
# slower and varied from run to run
CALIBRATION = """
import time

def work():
    total = 0
    for i in range(1_500_000):
        total += i * i % 7
    return total

best = float("inf")
for _ in range({repeats}):
    start = time.perf_counter()
    work()
    best = min(best, time.perf_counter() - start)
print(best)
"""


def calibration_seconds(repeats: int = 5) -> float:
    """The fastest of ``repeats`` timings of the calibration work in a fresh ``python -I``, in seconds."""
    result = subprocess.run([sys.executable, "-I", "-c", CALIBRATION.format(repeats=repeats)], capture_output=True,
                            text=True, check=True, timeout=300)
    return float(result.stdout)


def machine_factor(measured_s: float, reference_s: float = REFERENCE_CALIBRATION_S) -> float:
    """How much slower this machine ran the calibration than the reference machine; 1 for one as fast or faster."""
    return max(1.0, measured_s / reference_s)


class DurationGuard:
    """Collects the calls of unmarked tests over the limit and turns a passing run into a failing one."""

    def __init__(self, limit_s: float, why: str = ""):
        self.limit_s, self.why, self.over = limit_s, why, []

    def rule(self) -> str:
        return f"duration guard: tests not marked slow must finish their call in {self.limit_s:.1f} s{self.why}"

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and "slow" not in report.keywords and report.duration > self.limit_s:
            self.over.append((report.nodeid, report.duration))

    def pytest_sessionfinish(self, session):
        if self.over and not hasattr(session.config, "workerinput") and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the controller (or a run without xdist) judges

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(self.rule())
        if self.over:
            terminalreporter.section("tests over the time limit", red=True, bold=True)
            for nodeid, seconds in sorted(self.over, key=lambda item: -item[1]):
                terminalreporter.line(f"{nodeid} took {seconds:.1f} s, over {self.limit_s:.1f} s{self.why}: make it "
                                      "cheaper or mark it @pytest.mark.slow (make test runs it, make test-fast does "
                                      "not)")


def install(config) -> None:
    """Register the guard (``conftest.py``'s ``pytest_configure`` calls this; ``-p duration_guard`` loads it too)."""
    if config.pluginmanager.has_plugin("nemo_distill_duration_guard"):
        return
    if "NEMO_DISTILL_TEST_TIME_LIMIT" in os.environ:
        guard = DurationGuard(float(os.environ["NEMO_DISTILL_TEST_TIME_LIMIT"]), " (NEMO_DISTILL_TEST_TIME_LIMIT)")
    elif hasattr(config, "workerinput"):
        return  # an xdist worker: its reports go to the controller's guard, which judges (and calibrates) alone
    else:
        measured = calibration_seconds()
        factor = machine_factor(measured)
        guard = DurationGuard(DEFAULT_LIMIT_S * factor,
                              f" ({DEFAULT_LIMIT_S:g} s x {factor:.2f}: this machine ran the guard's calibration in "
                              f"{measured:.3f} s, the reference machine in {REFERENCE_CALIBRATION_S:.3f} s)")
    config.pluginmanager.register(guard, "nemo_distill_duration_guard")


def pytest_configure(config):
    install(config)
