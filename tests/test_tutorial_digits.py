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

"""Tutorial 04 (classifier-guided digits) executed top to bottom in QUICK mode. It shares no folder with the other
notebooks, so it has a file of its own: make test's two workers each take whole files, and this one runs beside
tests/test_tutorials.py's chain 01 -> 02 -> 05."""

from pathlib import Path

import pytest

from notebooks import run_notebook

NOTEBOOK = Path(__file__).resolve().parents[1] / "tutorials" / "04_classifier_guided_digits.ipynb"


@pytest.mark.notebook
@pytest.mark.slow
def test_notebook_04_runs_top_to_bottom_in_quick_mode(tmp_path, monkeypatch):
    run_notebook(NOTEBOOK, tmp_path, monkeypatch)
    assert (tmp_path / "quick" / "digits" / "benchmark" / "table.md").is_file()
