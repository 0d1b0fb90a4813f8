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

"""Progressive distillation on 2-D toy data: train a teacher, distil it round by round, compare every step count.

Example:
    python scripts/toy_distillation.py --out-dir outputs/toy
    python scripts/toy_distillation.py --teacher-steps 1024 --student-steps 1 --dataset two_moons

Prints one table (MMD^2 and sliced Wasserstein distance to held-out data for the teacher sampled naively at each
step count and for the distilled student of that step count) and writes it with a plot and the raw figures.
"""

import argparse
import json
import os
import time

import torch

from nemo_distill.data.toy2d import TOY_DATASETS
from nemo_distill.eval.toy_distillation import ToyDistillationConfig, format_table, plot_table, run_toy_distillation


def main():
    defaults = ToyDistillationConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="outputs/toy_distillation")
    parser.add_argument("--dataset", default=defaults.dataset, choices=sorted(TOY_DATASETS))
    parser.add_argument("--teacher-steps", type=int, default=defaults.teacher_steps)
    parser.add_argument("--student-steps", type=int, default=defaults.student_steps)
    parser.add_argument("--teacher-iters", type=int, default=defaults.teacher_iters)
    parser.add_argument("--round-iters", type=int, default=defaults.round_iters)
    parser.add_argument("--student-weighting", default=defaults.student_weighting)
    parser.add_argument("--data-source", default=defaults.data_source, choices=["teacher", "data"])
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on 2 shared cores)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cfg = ToyDistillationConfig(
        dataset=args.dataset, teacher_steps=args.teacher_steps, student_steps=args.student_steps,
        teacher_iters=args.teacher_iters, round_iters=args.round_iters, student_weighting=args.student_weighting,
        data_source=args.data_source, seed=args.seed,
    )
    start = time.perf_counter()
    result = run_toy_distillation(cfg)
    result["seconds"] = time.perf_counter() - start
    result["torch_threads"] = args.threads

    os.makedirs(args.out_dir, exist_ok=True)
    table = format_table(result)
    print(table)
    print(f"{result['seconds']:.0f} s on {args.threads} thread(s)")
    with open(os.path.join(args.out_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    plot_table(result, os.path.join(args.out_dir, "toy_distillation.png"))
    print(f"wrote {args.out_dir}/table.md, results.json, toy_distillation.png")


if __name__ == "__main__":
    main()
