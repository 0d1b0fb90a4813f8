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

"""The notebooks of ``tutorials/``: each executed top to bottom in QUICK mode in a kernel of this environment (a
failing cell fails the suite), and the rules every notebook keeps: committed without outputs, ``QUICK = True`` as
its first code cell, public names of the package only, linked from the README.

The notebooks run in order and share one output folder, as they do for a user: 02 distils 01's voice, 03 adds the
one-step branches and the layer stage to 02's folder, 05 serves 02's student (each builds what it needs when run alone). Notebook 01 runs ``scripts/train_diffusion_tts.py`` for
both model kinds (plain FastPitch, then the diffusion decoder on it), so its test also checks what that script
leaves: a ``.nemo`` of the right class, checkpoints and TensorBoard events."""

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

from notebooks import kernel_on_unix_sockets, run_notebook

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / "tutorials"
NOTEBOOKS = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
# 01 -> 02 -> 03 -> 05 share their work folder and run in this order in this file; 04 stands alone, in a file of its own
# (tests/test_tutorial_digits.py), so that make test's other worker can run it beside them
CHAINED = [name for name in NOTEBOOKS if not name.startswith("04_")]


def _code_cells(name):
    with open(TUTORIALS / name) as f:
        notebook = json.load(f)
    return notebook, [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _python_source(cell) -> str:
    """A code cell as Python: ``%%bash`` cells are not Python; ``!`` and ``%`` lines are dropped."""
    source = "".join(cell["source"])
    if source.startswith("%%"):
        return ""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("!", "%")))


def test_the_tutorials_exist_in_order():
    assert NOTEBOOKS == ["01_diffusion_voice.ipynb", "02_progressive_distillation.ipynb",
                         "03_one_step_students.ipynb", "04_classifier_guided_digits.ipynb", "05_deploy.ipynb"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs_and_starts_with_quick(name):
    notebook, cells = _code_cells(name)
    for i, cell in enumerate(cells):
        assert cell["outputs"] == [] and cell["execution_count"] is None, f"{name}: code cell {i} has outputs"
    assert "".join(cells[0]["source"]).strip() == "QUICK = True", f"{name}: the first code cell must be QUICK = True"
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_uses_public_names_only(name):
    """Every name a notebook imports from the package is public: no leading underscore, and in its module's
    ``__all__`` where the module has one; no ``obj._private`` attribute either."""
    _, cells = _code_cells(name)
    tree = ast.parse("\n".join(_python_source(c) for c in cells))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nemo_distill":
            assert not any(part.startswith("_") for part in node.module.split(".")), f"{name}: {node.module}"
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert not alias.name.startswith("_"), f"{name}: imports {node.module}.{alias.name}"
                public = getattr(module, "__all__", None)
                assert public is None or alias.name in public, \
                    f"{name}: {node.module}.{alias.name} is not in that module's __all__"
        if isinstance(node, ast.Attribute):
            assert not (node.attr.startswith("_") and not node.attr.startswith("__")), \
                f"{name}: uses the private attribute .{node.attr} (line {node.lineno} of its code cells)"


def test_readme_links_every_notebook_with_what_it_teaches():
    readme = (REPO / "README.md").read_text()
    for name in NOTEBOOKS:
        line = next((l for l in readme.splitlines() if f"(tutorials/{name})" in l), None)
        assert line is not None, f"README.md does not link tutorials/{name}"
        assert len(re.sub(r"\[.*?\]\(.*?\)", "", line).strip(" -*|:")) > 20, f"README: say what {name} teaches"


def test_a_failing_script_cell_stops_the_notebook(tmp_path):
    """The notebooks run the project's scripts in ``%%bash`` cells with ``set -e``: a script that fails must fail the
    cell (IPython raises on a non-zero exit) and so the notebook's test, not pass silently to the next cell."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%%bash\nset -e\npython -c 'import sys; sys.exit(3)'\necho unreachable"),
        nbformat.v4.new_code_cell("print('the next cell ran')")])
    with kernel_on_unix_sockets() as config, pytest.raises(CellExecutionError,
                                                           match="returned non-zero exit status 3"):
        NotebookClient(notebook, timeout=60, kernel_name="python3", config=config,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])]
    assert not any("unreachable" in t or "the next cell ran" in t for t in outputs)


@pytest.fixture(scope="module")
def tutorials_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tutorials")


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", CHAINED)
def test_notebook_runs_top_to_bottom_in_quick_mode(name, tutorials_dir, monkeypatch):
    """01, 02, 03 and 05 in order in one folder (tests/test_tutorial_digits.py runs 04, which stands alone)."""
    run_notebook(TUTORIALS / name, tutorials_dir, monkeypatch)
    if name.startswith("01_"):  # scripts/train_diffusion_tts.py end to end, both model kinds (exp_manager, .nemo)
        _check_training_runs(tutorials_dir / "quick")


def _check_training_runs(work):
    import nemo_distill  # noqa: F401  (registers the package's config targets)
    from nemo.core.classes import ModelPT

    for folder, name, expected in (("fastpitch", "FastPitch", "FastPitchModel"),
                                   ("teacher", "DiffusionTTS", "DiffusionSpectrogramGenerator")):
        run = work / folder / name / "run"
        assert type(ModelPT.restore_from(str(run / f"{name}.nemo"), map_location="cpu")).__name__ == expected
        assert any((run / "checkpoints").glob("*.ckpt")) and any(run.glob("events.out.tfevents.*"))
