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
and whose call takes longer than ``$NEMO_DISTILL_TEST_TIME_LIMIT`` seconds (30 by default) fails the run, named
with its time. pytest's own durations (the call phase: a shared fixture's set-up is not the test's) decide; under
pytest-xdist the controller sees every worker's reports, so one summary covers the whole run."""

import os

import pytest

DEFAULT_LIMIT_S = 30.0


class DurationGuard:
    """Collects the calls of unmarked tests over the limit and turns a passing run into a failing one."""

    def __init__(self, limit_s: float):
        self.limit_s, self.over = limit_s, []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and "slow" not in report.keywords and report.duration > self.limit_s:
            self.over.append((report.nodeid, report.duration))

    def pytest_sessionfinish(self, session):
        if self.over and not hasattr(session.config, "workerinput") and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the controller (or a run without xdist) judges

    def pytest_terminal_summary(self, terminalreporter):
        if self.over:
            terminalreporter.section("tests over the time limit", red=True, bold=True)
            for nodeid, seconds in sorted(self.over, key=lambda item: -item[1]):
                terminalreporter.line(f"{nodeid} took {seconds:.1f} s, over {self.limit_s:g} s: make it cheaper or "
                                      "mark it @pytest.mark.slow (make test runs it, make test-fast does not)")


def install(config) -> None:
    """Register the guard (``conftest.py``'s ``pytest_configure`` calls this; ``-p duration_guard`` loads it too)."""
    if not config.pluginmanager.has_plugin("nemo_distill_duration_guard"):
        limit = float(os.environ.get("NEMO_DISTILL_TEST_TIME_LIMIT", DEFAULT_LIMIT_S))
        config.pluginmanager.register(DurationGuard(limit), "nemo_distill_duration_guard")


def pytest_configure(config):
    install(config)
