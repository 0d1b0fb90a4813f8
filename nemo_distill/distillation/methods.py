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

"""The distillation methods: one record per method, the only place their names are spelled.

A method is a :class:`~nemo_distill.models.shard_distillation.ShardDistillationModel` subclass (its loss, its config
section's check and round settings) plus one :class:`DistillationMethod` line here, which the plan
(:mod:`nemo_distill.distillation.plan`), the round runner (:mod:`nemo_distill.distillation.rounds`, ``distill.py``)
and the benchmark (``scripts/benchmark.py``) read. Where a method sits in a plan (``place``):

- ``before``: once on the teacher, before the ladder, at the teacher's steps (guidance folding);
- ``ladder``: each halving of the step count (progressive rounds);
- ``after``: on the ladder's last model, at its steps (layer distillation);
- ``branch``: from the plan's teacher, to ``<section>.steps`` steps, not built on (DMD, consistency).

A method is on when its config section says so (:attr:`DistillationMethod.enabled_key`). The name is the student's
``distillation.stage`` (its lineage), the round folder's word and the config section.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Type

from omegaconf import DictConfig

from nemo_distill.models import (
    ConsistencyDistillationModel,
    DistributionMatchingDistillation,
    GuidanceFoldingModel,
    LayerDistillationModel,
    ProgressiveDistillationModel,
)

__all__ = ["METHODS", "PLACES", "DistillationMethod", "enabled_methods", "ladder_method", "method_named",
           "method_of_student", "register_method", "teacher_guidance"]

PLACES = ("before", "ladder", "after", "branch")


@dataclass(frozen=True)
class DistillationMethod:
    """One distillation method: what the plan, the round runner and the benchmark need to know of it."""

    name: str                           # lineage ``stage``, round folder word, config section
    model_class: Type                   # a ShardDistillationModel subclass
    place: str                          # one of PLACES
    student_suffix: str                 # students/<name>_<k><student_suffix>.nemo
    benchmark_row: str                  # the benchmark's row: <benchmark_row>_<k>
    enabled_key: Optional[str] = None   # the section's key that turns the method on (truthy; None: the ladder)
    find_unused_parameters: bool = False  # DDP: a step leaves some parameters without gradients
    manual_optimization: bool = False   # clips its own gradients (the trainer's gradient_clip_val is dropped)
    also_at_twice_steps: bool = False   # the benchmark samples its k-step student at 2k steps too

    def __post_init__(self):
        if self.place not in PLACES:
            raise ValueError(f"method {self.name!r}: unknown place {self.place!r}; valid options: {list(PLACES)}")

    @property
    def branch(self) -> bool:
        """Starts from the plan's teacher (not the previous round's student) and is not built on."""
        return self.place == "branch"

    def section(self, cfg: DictConfig):
        """The method's section of a distillation config (None when absent)."""
        return cfg.get(self.name)

    def enabled(self, cfg: DictConfig) -> bool:
        section = self.section(cfg) or {}
        value = section.get(self.enabled_key) if self.enabled_key else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value > 0  # a weight or a scale
        return bool(value)

    def branch_steps(self, cfg: DictConfig) -> int:
        """A branch's student steps (``<section>.steps``, default 1)."""
        return int(self.section(cfg).get("steps", 1))

    def row_of(self, student_cfg: DictConfig) -> str:
        """The benchmark row of one of this method's students: :attr:`benchmark_row`, or the variant its model class
        names from the student's lineage (e.g. a DMD generator whose GAN learnt from recordings)."""
        return self.model_class.benchmark_row_of(self.benchmark_row, student_cfg.get("distillation") or {})

    def round_name(self, number: int, teacher_steps: int, student_steps: int) -> str:
        if self.place == "before":
            return f"round_{number:02d}_{self.name}_{teacher_steps}"
        if self.place == "ladder":
            return f"round_{number:02d}_{teacher_steps}to{student_steps}"
        return f"round_{number:02d}_{self.name}_{student_steps}steps"


METHODS: Dict[str, DistillationMethod] = {}


def register_method(method: DistillationMethod) -> DistillationMethod:
    """Add ``method`` (its name unique; one ``ladder`` method)."""
    if method.name in METHODS:
        raise ValueError(f"a distillation method named {method.name!r} is registered already")
    if method.place == "ladder" and any(m.place == "ladder" for m in METHODS.values()):
        raise ValueError(f"method {method.name!r}: the ladder has its method already ({ladder_method().name})")
    METHODS[method.name] = method
    return method


register_method(DistillationMethod("guidance", GuidanceFoldingModel, "before", "guided", "student", "scale"))
register_method(DistillationMethod("progressive", ProgressiveDistillationModel, "ladder", "steps", "student"))
register_method(DistillationMethod("layers", LayerDistillationModel, "after", "steps_layers", "layers", "budgets",
                                   find_unused_parameters=True))
register_method(DistillationMethod("dmd", DistributionMatchingDistillation, "branch", "steps_dmd", "dmd", "enabled",
                                   find_unused_parameters=True, manual_optimization=True))
register_method(DistillationMethod("consistency", ConsistencyDistillationModel, "branch", "steps_consistency",
                                   "consistency", "enabled", also_at_twice_steps=True))


def method_named(name: str) -> DistillationMethod:
    if name not in METHODS:
        raise ValueError(f"unknown distillation method {name!r}; registered: {sorted(METHODS)}")
    return METHODS[name]


def ladder_method() -> DistillationMethod:
    return next(m for m in METHODS.values() if m.place == "ladder")


def enabled_methods(cfg: DictConfig, place: str) -> List[DistillationMethod]:
    """The methods of ``place`` a distillation config turns on, in registration order."""
    return [m for m in METHODS.values() if m.place == place and m.enabled(cfg)]


def method_of_student(student_cfg: DictConfig) -> DistillationMethod:
    """The method that wrote a student (its ``distillation.stage``; students that record none are the ladder's)."""
    stage = (student_cfg.get("distillation") or {}).get("stage")
    return method_named(str(stage)) if stage is not None else ladder_method()


def teacher_guidance(cfg: DictConfig):
    """``(scale, weighting)`` of the plan's classifier-free guidance (its ``guidance`` section): the scale guides the
    teacher's samples (the synthetic data) and is what guidance folding folds into a student; ``weighting`` (None:
    the rounds') is the folding round's loss weighting."""
    section = cfg.get("guidance") or {}
    return float(section.get("scale", 0.0) or 0.0), section.get("weighting")
