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

"""The package's layers (docs/architecture.md), machine-checked: imports point one way, no subpackage cycle, the math
and the ONNX runtime free of the heavy imports, no library code loading scripts by path."""

import ast
import os
import shutil
from typing import Dict, List, Set

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "nemo_distill"

# rank: a module may import its own rank and lower ones only (docs/architecture.md has the picture)
LAYERS = {
    0: ("core", ["__init__", "registration", "utils", "diffusion", "runtime"]),
    1: ("networks", ["modules"]),
    2: ("helpers", ["parts", "data"]),
    3: ("models", ["models"]),
    4: ("applications", ["distillation", "eval", "export"]),
    5: ("entry points", ["cli"]),
}
RANK = {unit: rank for rank, (_, units) in LAYERS.items() for unit in units}
# what must never be imported (at any depth of a module: lazy imports count) by these units
FORBIDDEN = {"diffusion": ("nemo", "lightning", "omegaconf", "hydra"), "runtime": ("torch", "nemo", "lightning")}


def _unit(module: str) -> str:
    """``nemo_distill.parts.restore`` -> ``parts``; ``nemo_distill`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: str, package_root: str) -> str:
    relative = os.path.relpath(path, os.path.dirname(package_root))[: -len(".py")].replace(os.sep, ".")
    return relative[: -len(".__init__")] if relative.endswith(".__init__") else relative


def read_imports(package_root: str) -> Dict[str, List[tuple]]:
    """``{module: [(imported module, line), ...]}`` for every ``.py`` file under ``package_root``, lazy imports too."""
    imports = {}
    for folder, _, files in os.walk(package_root):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            module = _module_name(path, package_root)
            found = []
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
                if isinstance(node, ast.Import):
                    found += [(alias.name, node.lineno) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    if node.level:  # relative: resolve against this module's package
                        base = module.split(".")[: -node.level + (1 if name == "__init__.py" else 0) or None]
                        target = ".".join(base + ([node.module] if node.module else []))
                    else:
                        target = node.module or ""
                    found.append((target, node.lineno))
            imports[module] = found
    return imports


def import_violations(package_root: str) -> List[str]:
    """Every import from a lower layer to a higher one, every unit outside the layers, every forbidden import, and
    every cycle between subpackages, one line each (empty: the layers hold)."""
    problems, graph = [], {}
    for module, found in sorted(read_imports(package_root).items()):
        unit = _unit(module)
        if unit not in RANK:
            problems.append(f"{module}: subpackage {unit!r} is in no layer (add it to docs/architecture.md and here)")
            continue
        for target, line in found:
            top = target.split(".")[0]
            if unit in FORBIDDEN and top in FORBIDDEN[unit]:
                problems.append(f"{module}:{line} imports {target}: {unit}/ must not import {top}")
            if top != PACKAGE:
                continue
            other = _unit(target)
            if other not in RANK:
                problems.append(f"{module}:{line} imports {target}, in no layer")
                continue
            if RANK[other] > RANK[unit]:
                problems.append(f"{module}:{line} imports {target}: {unit} ({LAYERS[RANK[unit]][0]}) must not import "
                                f"{other} ({LAYERS[RANK[other]][0]}), a higher layer")
            if other != unit:
                graph.setdefault(unit, set()).add(other)
    problems += [f"cycle between subpackages: {' -> '.join(cycle + cycle[:1])}" for cycle in _cycles(graph)]
    return problems


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components of more than one node (Tarjan), each as a sorted list."""
    index, low, stack, on_stack, components, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_package_keeps_its_layers():
    assert import_violations(os.path.join(ROOT, PACKAGE)) == []


def test_every_subpackage_is_in_a_layer():
    units = {name for name in os.listdir(os.path.join(ROOT, PACKAGE))
             if os.path.isfile(os.path.join(ROOT, PACKAGE, name, "__init__.py"))}
    assert units <= set(RANK), sorted(units - set(RANK))
    assert {"diffusion", "modules", "parts", "models", "distillation", "eval", "export"} <= units


@pytest.fixture
def package_copy(tmp_path):
    target = tmp_path / PACKAGE
    shutil.copytree(os.path.join(ROOT, PACKAGE), target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _plant(path, line):
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")


def test_a_planted_upward_import_is_found(package_copy):
    _plant(package_copy / "diffusion" / "schedules.py", "from nemo_distill.models import DiffusionSpectrogramGenerator")
    problems = import_violations(str(package_copy))
    assert any(p.startswith("nemo_distill.diffusion.schedules:") and "must not import models" in p for p in problems)


def test_a_planted_lazy_upward_import_is_found(package_copy):
    _plant(package_copy / "models" / "noisy_classifier.py", "def _later():\n    from nemo_distill.eval import distances")
    problems = import_violations(str(package_copy))
    assert len(problems) == 2 and problems[0].startswith("nemo_distill.models.noisy_classifier:")
    assert "models (models) must not import eval (applications)" in problems[0]
    assert problems[1] == "cycle between subpackages: eval -> models -> eval"  # eval reads models: now a loop


def test_a_planted_cycle_between_subpackages_is_found(package_copy):
    # data already imports parts (same layer): parts importing data closes a loop
    _plant(package_copy / "parts" / "restore.py", "import nemo_distill.data.labelled_audio")
    assert import_violations(str(package_copy)) == ["cycle between subpackages: data -> parts -> data"]


def test_a_heavy_import_in_the_math_or_the_runtime_is_found(package_copy):
    _plant(package_copy / "diffusion" / "losses.py", "import nemo.core")
    _plant(package_copy / "runtime" / "onnx_client.py", "import torch")
    problems = import_violations(str(package_copy))
    assert any("diffusion/ must not import nemo" in p for p in problems)
    assert any("runtime/ must not import torch" in p for p in problems)


# ------------------------------------------------------------------------------- the distillation methods' names
REGISTRY = os.path.join("distillation", "methods.py")


def registered_method_names(package_root: str) -> Set[str]:
    """The names registered in ``distillation/methods.py``: the first argument of every ``DistillationMethod(...)``."""
    path = os.path.join(package_root, REGISTRY)
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DistillationMethod" and node.args \
                and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
    return names


def _registered_classes(package_root: str) -> Dict[str, str]:
    """``{model class name: method name}`` of the registry's ``DistillationMethod(name, ModelClass, ...)`` lines."""
    path = os.path.join(package_root, REGISTRY)
    return {node.args[1].id: node.args[0].value
            for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DistillationMethod"
            and len(node.args) > 1 and isinstance(node.args[1], ast.Name)}


def method_name_spellings(package_root: str, scripts_root: str) -> List[str]:
    """Every string literal equal to a registered method's name in the package or the scripts outside the registry
    (``path:line: 'name'``): the plan, the runner, the benchmark read names from the registry. The one exception: a
    method's own model file may spell its own name, which is its config section's."""
    names, classes, found = registered_method_names(package_root), _registered_classes(package_root), []
    for root in (package_root, scripts_root):
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(folder, name)
                if not name.endswith(".py") or os.path.relpath(path, package_root) == REGISTRY:
                    continue
                tree = ast.parse(open(path, encoding="utf-8").read(), path)
                own = {classes[node.name] for node in tree.body
                       if isinstance(node, ast.ClassDef) and node.name in classes}
                for node in ast.walk(tree):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names - own:
                        found.append(f"{os.path.relpath(path, os.path.dirname(root))}:{node.lineno}: {node.value!r}")
    return found


def test_the_registry_names_the_methods():
    assert registered_method_names(os.path.join(ROOT, PACKAGE)) == {
        "progressive", "guidance", "layers", "dmd", "consistency"}


def test_no_method_name_is_spelled_outside_the_registry():
    assert method_name_spellings(os.path.join(ROOT, PACKAGE), os.path.join(ROOT, "scripts")) == []


def test_a_planted_method_name_is_found(package_copy, tmp_path):
    _plant(package_copy / "eval" / "tts_benchmark.py", 'ROW_OF_CONSISTENCY = {"consistency": "consistency"}')
    _plant(package_copy / "models" / "consistency_distillation.py", 'OWN, OTHER = "consistency", "layers"')
    scripts = tmp_path / "scripts"
    shutil.copytree(os.path.join(ROOT, "scripts"), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    _plant(scripts / "benchmark.py", 'if True:\n    STAGE = "dmd"')
    found = method_name_spellings(str(package_copy), str(scripts))
    last = lambda path: len(open(path).read().splitlines())  # noqa: E731  (a plant is a file's last line)
    # a method's own model file may name its own section, not another method
    assert sorted(found) == [f"nemo_distill/eval/tts_benchmark.py:{last(package_copy / 'eval' / 'tts_benchmark.py')}: "
                     "'consistency'"] * 2 + [
        "nemo_distill/models/consistency_distillation.py:"
        f"{last(package_copy / 'models' / 'consistency_distillation.py')}: 'layers'",
        f"scripts/benchmark.py:{last(scripts / 'benchmark.py')}: 'dmd'"]


def test_no_library_code_loads_files_by_path():
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                if "spec_from_file_location" in text or "run_path(" in text or "sys.path.insert" in text:
                    offenders.append(os.path.relpath(os.path.join(folder, name), ROOT))
    assert offenders == []
