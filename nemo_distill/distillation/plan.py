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

"""The rounds of a distillation plan: N -> N/2 -> ... -> k, with an optional guidance-folding stage first and an
optional layer-distillation stage last (at k steps)."""

from dataclasses import dataclass
from typing import List

from nemo_distill.diffusion import distillation_plan

__all__ = ["Round", "plan_rounds"]


@dataclass(frozen=True)
class Round:
    number: int  # 0 for the guidance stage, then 1, 2, ... (the layer stage last)
    stage: str
    teacher_steps: int
    student_steps: int

    @property
    def name(self) -> str:
        if self.stage == "guidance":
            return f"round_00_guidance_{self.teacher_steps}"
        if self.stage == "layers":
            return f"round_{self.number:02d}_layers_{self.student_steps}steps"
        return f"round_{self.number:02d}_{self.teacher_steps}to{self.student_steps}"


def plan_rounds(teacher_steps: int, student_steps: int, fold_guidance: bool = False,
                distill_layers: bool = False) -> List[Round]:
    """The rounds of a plan (ValueError listing the nearest valid plans when it cannot be halved exactly);
    ``distill_layers`` appends the layer stage on the last model (``teacher_steps == student_steps``: the teacher)."""
    if distill_layers and int(teacher_steps) == int(student_steps) >= 1:
        ladder = [int(teacher_steps)]  # the layer stage alone, at the teacher's steps
    else:
        ladder = distillation_plan(teacher_steps, student_steps)
    rounds = [Round(0, "guidance", ladder[0], ladder[0])] if fold_guidance else []
    rounds += [Round(i + 1, "progressive", k, k // 2) for i, k in enumerate(ladder[:-1])]
    if distill_layers:
        rounds.append(Round(len(ladder), "layers", ladder[-1], ladder[-1]))
    return rounds
