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

"""The rounds of a distillation plan: N -> N/2 -> ... -> k, with an optional guidance-folding stage first, an
optional layer-distillation stage at k steps, then the optional one-step branches from the teacher (distribution
matching and consistency distillation), which do not feed the ladder."""

from dataclasses import dataclass
from typing import List, Optional

from nemo_distill.diffusion import distillation_plan

__all__ = ["BRANCH_STAGES", "Round", "plan_rounds"]

BRANCH_STAGES = ("dmd", "consistency")


@dataclass(frozen=True)
class Round:
    number: int  # 0 for the guidance stage, then 1, 2, ... (the layer stage, then the branches, last)
    stage: str
    teacher_steps: int
    student_steps: int

    @property
    def branch(self) -> bool:
        """A round that starts from the plan's teacher (not the previous round's student) and is not built on."""
        return self.stage in BRANCH_STAGES

    @property
    def name(self) -> str:
        if self.stage == "guidance":
            return f"round_00_guidance_{self.teacher_steps}"
        if self.stage in ("layers", "dmd", "consistency"):
            return f"round_{self.number:02d}_{self.stage}_{self.student_steps}steps"
        return f"round_{self.number:02d}_{self.teacher_steps}to{self.student_steps}"


def plan_rounds(teacher_steps: int, student_steps: int, fold_guidance: bool = False,
                distill_layers: bool = False, dmd_steps: Optional[int] = None,
                consistency_steps: Optional[int] = None) -> List[Round]:
    """The rounds of a plan (ValueError listing the nearest valid plans when it cannot be halved exactly);
    ``distill_layers`` appends the layer stage on the last model (``teacher_steps == student_steps``: the teacher);
    ``dmd_steps`` / ``consistency_steps`` append a DMD generator / consistency student of that many steps, each
    distilled from the plan's teacher (``teacher_steps == student_steps``: those alone)."""
    extra = distill_layers or dmd_steps is not None or consistency_steps is not None
    if extra and int(teacher_steps) == int(student_steps) >= 1:
        ladder = [int(teacher_steps)]  # no progressive rounds: the extra stages alone, from the teacher
    else:
        ladder = distillation_plan(teacher_steps, student_steps)
    rounds = [Round(0, "guidance", ladder[0], ladder[0])] if fold_guidance else []
    rounds += [Round(i + 1, "progressive", k, k // 2) for i, k in enumerate(ladder[:-1])]
    if distill_layers:
        rounds.append(Round(len(ladder), "layers", ladder[-1], ladder[-1]))
    for stage, steps in (("dmd", dmd_steps), ("consistency", consistency_steps)):
        if steps is not None:
            rounds.append(Round(len(rounds) + (0 if fold_guidance else 1), stage, ladder[0], int(steps)))
    return rounds
