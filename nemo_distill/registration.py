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

"""Let NeMo 3.0 instantiate this package's config targets (and nothing else).

NeMo 3.0 refuses any ``target``/``_target_`` outside ``nemo.core.classes.common.ALLOWED_TARGET_PREFIXES``, so a
``.nemo`` written by a plugin model fails ``ModelPT.restore_from`` with ``UnsafeTargetError``. Importing
:mod:`nemo_distill` calls :func:`register_with_nemo`, which appends :data:`TARGET_PREFIX` to that list:

* at once if NeMo's ``common`` module is already imported;
* otherwise the moment it is imported, through a one-shot import hook, so that ``import nemo_distill.diffusion``
  stays free of NeMo's ~7 s import.
"""

import importlib.abc
import sys

__all__ = ["TARGET_PREFIX", "register_with_nemo"]

TARGET_PREFIX = "nemo_distill."
_NEMO_COMMON = "nemo.core.classes.common"


def _extend_allow_list(common_module) -> None:
    prefixes = common_module.ALLOWED_TARGET_PREFIXES
    if TARGET_PREFIX not in prefixes:
        prefixes.append(TARGET_PREFIX)


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Finds NeMo's ``common`` module through the other finders and extends its allow-list once it has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _NEMO_COMMON:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_register(module):
            exec_module(module)
            _extend_allow_list(module)
            _remove_hook()

        spec.loader.exec_module = exec_and_register
        return spec


def _remove_hook() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _RegisterOnImport)]


def register_with_nemo() -> None:
    """Make NeMo accept ``nemo_distill.`` config targets; idempotent, cheap if NeMo is not imported yet."""
    common = sys.modules.get(_NEMO_COMMON)
    if common is not None and hasattr(common, "ALLOWED_TARGET_PREFIXES"):
        _extend_allow_list(common)
        _remove_hook()
    elif not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
