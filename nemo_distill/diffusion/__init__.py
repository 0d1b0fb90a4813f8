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

"""The diffusion core: schedules, parameterizations, samplers, loss weightings, guidance and distillation.

Pure torch, no NeMo import, so every formula here can be tested in milliseconds.
"""

from nemo_distill.diffusion.distillation import (
    check_halvable,
    distillation_plan,
    student_step_log_snrs,
    teacher_two_step,
    two_step_target,
)
from nemo_distill.diffusion.distillation_losses import (
    consistency_loss,
    dmd_fake_losses,
    dmd_generator_losses,
    dmd_generator_turn,
    ema_update,
    guidance_folding_loss,
    layer_distillation_loss,
    progressive_loss,
)
from nemo_distill.diffusion.guidance import (
    cfg_model_fn,
    classifier_free_guidance,
    classifier_guidance,
    classifier_guided_x0,
)
from nemo_distill.diffusion.losses import noise_data, weighted_denoising_loss
from nemo_distill.diffusion.masks import frame_mask
from nemo_distill.diffusion.one_step import (
    consistency_target,
    distribution_matching_gradient,
    distribution_matching_loss,
    masked_mean,
    simulate_steps,
)
from nemo_distill.diffusion.parameterization import (
    PARAMETERIZATIONS,
    check_parameterization,
    prediction_to_x0_eps,
    target_from_x0_eps,
)
from nemo_distill.diffusion.samplers import SAMPLERS, ddim_step, make_x0_eps_fn, sample
from nemo_distill.diffusion.schedules import (
    SCHEDULES,
    CosineSchedule,
    LinearBetaSchedule,
    alpha_sigma,
    get_schedule,
    sampling_log_snrs,
)
from nemo_distill.diffusion.options import SamplingOptions
from nemo_distill.diffusion.settings import DiffusionSettings, schedule_from_config
from nemo_distill.diffusion.weighting import WEIGHTINGS, loss_weight

__all__ = [
    "PARAMETERIZATIONS",
    "SAMPLERS",
    "SCHEDULES",
    "WEIGHTINGS",
    "CosineSchedule",
    "DiffusionSettings",
    "LinearBetaSchedule",
    "SamplingOptions",
    "alpha_sigma",
    "cfg_model_fn",
    "check_parameterization",
    "check_halvable",
    "classifier_free_guidance",
    "classifier_guidance",
    "classifier_guided_x0",
    "consistency_loss",
    "consistency_target",
    "ddim_step",
    "distillation_plan",
    "distribution_matching_gradient",
    "distribution_matching_loss",
    "dmd_fake_losses",
    "dmd_generator_losses",
    "dmd_generator_turn",
    "ema_update",
    "frame_mask",
    "get_schedule",
    "guidance_folding_loss",
    "layer_distillation_loss",
    "loss_weight",
    "make_x0_eps_fn",
    "masked_mean",
    "noise_data",
    "prediction_to_x0_eps",
    "progressive_loss",
    "sample",
    "schedule_from_config",
    "sampling_log_snrs",
    "simulate_steps",
    "student_step_log_snrs",
    "target_from_x0_eps",
    "teacher_two_step",
    "two_step_target",
    "weighted_denoising_loss",
]
