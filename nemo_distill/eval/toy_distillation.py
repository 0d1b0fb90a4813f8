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

"""Progressive distillation on 2-D toy data: the diffusion core proven end to end in about a minute on a CPU.

A small MLP teacher is trained on a 2-D mixture, distilled round by round (``N -> N/2 -> ... -> 1``) with the
two-step target, and every step count of the ladder is judged by the sliced Wasserstein distance to held-out
data, for the teacher sampled naively at that step count and for the student of that step count.
Plain torch loops on purpose (the networks are tiny, so this is a check of the math, not of the training stack), but
the losses are the very functions the speech models train with (:mod:`nemo_distill.diffusion.distillation_losses`).
"""

import copy
from dataclasses import asdict, dataclass, replace
from typing import Dict, List

import torch
from tqdm.auto import trange

from nemo_distill.data.toy2d import sample_toy
from nemo_distill.diffusion import (
    CosineSchedule,
    distillation_plan,
    noise_data,
    progressive_loss,
    sample,
    weighted_denoising_loss,
)
from nemo_distill.eval.distances import mmd_squared, sliced_wasserstein
from nemo_distill.eval.toy_one_step import ToyOneStepConfig, distill_consistency_toy, distill_dmd_toy, x0_function
from nemo_distill.modules.toy_mlp import ToyMLPDenoiser

__all__ = ["ToyDistillationConfig", "run_toy_distillation", "format_table", "plot_table"]


@dataclass
class ToyDistillationConfig:
    dataset: str = "eight_gaussians"
    hidden_dim: int = 128
    num_blocks: int = 3
    parameterization: str = "v"
    teacher_weighting: str = "snr_plus_one"
    student_weighting: str = "snr_trunc"
    teacher_steps: int = 256
    student_steps: int = 1
    teacher_iters: int = 4000
    round_iters: int = 1000
    batch_size: int = 512
    teacher_lr: float = 1e-3
    student_lr: float = 3e-4
    data_source: str = "teacher"  # "teacher": distil on the teacher's own samples (no data needed); or "data"
    pool_size: int = 8192
    num_eval: int = 2048
    seed: int = 0
    progress: bool = True
    dmd_iters: int = 0            # > 0: also a 1-step DMD generator from the teacher (generator updates)
    consistency_iters: int = 0    # > 0: also a consistency student from the teacher (1 step)
    one_step_lr: float = 1e-4
    one_step_batch_size: int = 256


def _model_fn(model):
    return lambda z_t, log_snr: model(z_t, log_snr)


def _train_teacher(cfg: ToyDistillationConfig, schedule, train_data: torch.Tensor) -> ToyMLPDenoiser:
    torch.manual_seed(cfg.seed)
    teacher = ToyMLPDenoiser(2, cfg.hidden_dim, cfg.num_blocks)
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=cfg.teacher_lr)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.teacher_iters)
    for _ in trange(cfg.teacher_iters, desc="teacher", disable=not cfg.progress):
        x0 = train_data[torch.randint(0, len(train_data), (cfg.batch_size,))]
        log_snr = schedule(torch.rand(cfg.batch_size))
        z_t = noise_data(x0, log_snr, torch.randn_like(x0))
        loss = weighted_denoising_loss(
            teacher(z_t, log_snr), z_t, log_snr, x0, cfg.parameterization, cfg.teacher_weighting
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
    return teacher.eval()


def distill_round(teacher, teacher_steps: int, x0_pool: torch.Tensor, schedule, cfg: ToyDistillationConfig):
    """Train a copy of ``teacher`` whose one DDIM step matches two of the teacher's; returns the student."""
    student_steps = teacher_steps // 2
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    teacher = teacher.eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(student.parameters(), lr=cfg.student_lr)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.round_iters)

    teacher_x0, student_x0 = x0_function(teacher, cfg.parameterization), x0_function(student, cfg.parameterization)
    for _ in trange(cfg.round_iters, desc=f"round {teacher_steps}->{student_steps}", disable=not cfg.progress):
        x0 = x0_pool[torch.randint(0, len(x0_pool), (cfg.batch_size,))]
        loss = progressive_loss(student_x0, teacher_x0, x0, schedule, student_steps,
                                weighting=cfg.student_weighting)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
    return student.eval().requires_grad_(False)


@torch.no_grad()
def _sample(model, noise, steps, schedule, parameterization):
    return sample(_model_fn(model), noise, steps, schedule=schedule, parameterization=parameterization)


def run_toy_distillation(cfg: ToyDistillationConfig) -> Dict:
    """Train, distil and evaluate; returns ``{"config", "rows", "reference"}`` with one row per student step count.

    Each row: ``steps``, ``naive`` (teacher sampled with that many DDIM steps) and ``student`` (the distilled
    student), each ``{"mmd2": unbiased MMD^2, "swd": sliced Wasserstein-2}`` to held-out data; ``reference`` holds
    the teacher at full steps and a second held-out set of the same size (the metrics' sampling noise).
    """
    plan = distillation_plan(cfg.teacher_steps, cfg.student_steps)
    schedule = CosineSchedule()
    train_data = sample_toy(cfg.dataset, 65536, seed=cfg.seed)
    held_out = sample_toy(cfg.dataset, cfg.num_eval, seed=cfg.seed + 1)
    second_held_out = sample_toy(cfg.dataset, cfg.num_eval, seed=cfg.seed + 2)
    eval_noise = torch.randn(cfg.num_eval, 2, generator=torch.Generator().manual_seed(cfg.seed + 3))

    teacher = _train_teacher(cfg, schedule, train_data)
    if cfg.data_source == "teacher":
        pool_noise = torch.randn(cfg.pool_size, 2, generator=torch.Generator().manual_seed(cfg.seed + 4))
        x0_pool = _sample(teacher, pool_noise, cfg.teacher_steps, schedule, cfg.parameterization)
    elif cfg.data_source == "data":
        x0_pool = train_data
    else:
        raise ValueError(f"unknown data_source {cfg.data_source!r}; valid options: ['data', 'teacher']")

    def distances(samples):
        return {"mmd2": mmd_squared(samples, held_out), "swd": sliced_wasserstein(samples, held_out)}

    def sample_distances(model, steps):
        return distances(_sample(model, eval_noise, steps, schedule, cfg.parameterization))

    reference = {
        "teacher_full_steps": cfg.teacher_steps,
        "teacher_full": sample_distances(teacher, cfg.teacher_steps),
        "held_out": distances(second_held_out),
    }
    rows: List[Dict] = []
    current = teacher
    for teacher_steps in plan[:-1]:
        current = distill_round(current, teacher_steps, x0_pool, schedule, cfg)
        steps = teacher_steps // 2
        rows.append({"steps": steps, "naive": sample_distances(teacher, steps), "student": sample_distances(current, steps)})
    one_step_cfg = ToyOneStepConfig(steps=1, lr=cfg.one_step_lr, batch_size=cfg.one_step_batch_size,
                                    parameterization=cfg.parameterization, seed=cfg.seed, progress=cfg.progress)
    one_step = {}
    if cfg.dmd_iters > 0:
        generator = distill_dmd_toy(teacher, schedule, replace(one_step_cfg, iters=cfg.dmd_iters))
        one_step["dmd_generator"] = sample_distances(generator, 1)
    if cfg.consistency_iters > 0:
        student = distill_consistency_toy(teacher, schedule, x0_pool,
                                          replace(one_step_cfg, iters=cfg.consistency_iters))
        one_step["consistency_student"] = sample_distances(student, 1)
    if one_step:
        one_step["naive"] = sample_distances(teacher, 1)
    return {"config": asdict(cfg), "rows": rows, "reference": reference, "one_step": one_step}


def format_table(result: Dict) -> str:
    ref = result["reference"]
    teacher, floor = ref["teacher_full"], ref["held_out"]
    lines = [
        f"distance to held-out {result['config']['dataset']} ({result['config']['num_eval']} points; lower is better): "
        "MMD^2 x 1e3 (unbiased, 0 = same distribution) and sliced Wasserstein-2 (SWD)",
        f"teacher at {ref['teacher_full_steps']} steps: MMD^2 x 1e3 {1e3 * teacher['mmd2']:.3f}, SWD {teacher['swd']:.4f}; "
        f"a second held-out set: MMD^2 x 1e3 {1e3 * floor['mmd2']:.3f}, SWD {floor['swd']:.4f}",
        "| steps | naive MMD^2 x1e3 | student MMD^2 x1e3 | naive SWD | student SWD |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        naive, student = row["naive"], row["student"]
        lines.append(
            f"| {row['steps']} | {1e3 * naive['mmd2']:.3f} | {1e3 * student['mmd2']:.3f} "
            f"| {naive['swd']:.4f} | {student['swd']:.4f} |"
        )
    for method, distances in result.get("one_step", {}).items():
        lines.append(f"1-step {method}: MMD^2 x 1e3 {1e3 * distances['mmd2']:.3f}, SWD {distances['swd']:.4f}")
    return "\n".join(lines)


def plot_table(result: Dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["steps"] for row in result["rows"]]
    ref = result["reference"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in zip(axes, ("mmd2", "swd"), ("MMD^2 to held-out data", "sliced Wasserstein-2 to held-out data")):
        ax.plot(steps, [row["naive"][metric] for row in result["rows"]], "o-", label="teacher, naive DDIM")
        ax.plot(steps, [row["student"][metric] for row in result["rows"]], "s-", label="distilled student")
        ax.axhline(ref["teacher_full"][metric], color="gray", ls="--", label=f"teacher, {ref['teacher_full_steps']} steps")
        if ref["held_out"][metric] > 0:  # unbiased MMD^2 of two held-out sets is ~0 and may be negative
            ax.axhline(ref["held_out"][metric], color="gray", ls=":", label="second held-out set")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(f"Progressive distillation on {result['config']['dataset']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
