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

"""The rounds of a distillation plan: N -> N/2 -> ... -> k, with the registry's methods around the ladder
(:mod:`nemo_distill.distillation.methods`): the ``before`` methods first (guidance folding), the ``after`` methods on
the ladder's last model (layer distillation), then the branches from the teacher (distribution matching,
consistency), which do not feed the ladder."""

from dataclasses import dataclass
from typing import List, Sequence

from omegaconf import DictConfig

from nemo_distill.diffusion import distillation_plan
from nemo_distill.distillation.methods import DistillationMethod, enabled_methods, ladder_method

__all__ = ["Round", "plan_from_config", "plan_rounds"]


@dataclass(frozen=True)
class Round:
    number: int  # 0 for a ``before`` method, then 1, 2, ... (the ``after`` methods, then the branches, last)
    method: DistillationMethod
    teacher_steps: int
    student_steps: int

    @property
    def stage(self) -> str:
        """The method's name (the student's lineage ``stage``)."""
        return self.method.name

    @property
    def branch(self) -> bool:
        """A round that starts from the plan's teacher (not the previous round's student) and is not built on."""
        return self.method.branch

    @property
    def name(self) -> str:
        return self.method.round_name(self.number, self.teacher_steps, self.student_steps)


def plan_rounds(teacher_steps: int, student_steps: int, before: Sequence[DistillationMethod] = (),
                after: Sequence[DistillationMethod] = (), branches: Sequence[tuple] = ()) -> List[Round]:
    """The rounds of a plan (ValueError listing the nearest valid plans when it cannot be halved exactly): the
    ``before`` methods on the teacher, the ladder, the ``after`` methods on the last model (``teacher_steps ==
    student_steps``: the teacher), then ``branches`` ``(method, steps)`` from the plan's teacher
    (``teacher_steps == student_steps``: those alone)."""
    extra = bool(after) or bool(branches)
    if extra and int(teacher_steps) == int(student_steps) >= 1:
        ladder = [int(teacher_steps)]  # no halving rounds: the extra methods alone, from the teacher
    else:
        ladder = distillation_plan(teacher_steps, student_steps)
    rounds = [Round(0, method, ladder[0], ladder[0]) for method in before]
    rounds += [Round(i + 1, ladder_method(), k, k // 2) for i, k in enumerate(ladder[:-1])]
    rounds += [Round(len(ladder), method, ladder[-1], ladder[-1]) for method in after]
    for method, steps in branches:
        rounds.append(Round(len(rounds) + (0 if before else 1), method, ladder[0], int(steps)))
    return rounds


def plan_from_config(cfg: DictConfig) -> List[Round]:
    """The rounds a distillation config asks for (``plan.teacher_steps`` -> ``plan.student_steps`` and the methods
    its sections turn on)."""
    return plan_rounds(int(cfg.plan.teacher_steps), int(cfg.plan.student_steps),
                       before=enabled_methods(cfg, "before"), after=enabled_methods(cfg, "after"),
                       branches=[(m, m.branch_steps(cfg)) for m in enabled_methods(cfg, "branch")])
