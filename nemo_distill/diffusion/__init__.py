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
from nemo_distill.diffusion.guidance import (
    cfg_model_fn,
    classifier_free_guidance,
    classifier_guidance,
    classifier_guided_model_fn,
)
from nemo_distill.diffusion.losses import dsm_loss, noise_data, weighted_denoising_loss
from nemo_distill.diffusion.parameterization import (
    PARAMETERIZATIONS,
    check_parameterization,
    prediction_to_x0_eps,
    target_from_x0_eps,
)
from nemo_distill.diffusion.samplers import SAMPLERS, ddim_step, make_denoiser, sample
from nemo_distill.diffusion.schedules import (
    SCHEDULES,
    CosineSchedule,
    LinearBetaSchedule,
    alpha_sigma,
    get_schedule,
    sampling_log_snrs,
)
from nemo_distill.diffusion.weighting import WEIGHTINGS, loss_weight

__all__ = [
    "PARAMETERIZATIONS",
    "SAMPLERS",
    "SCHEDULES",
    "WEIGHTINGS",
    "CosineSchedule",
    "LinearBetaSchedule",
    "alpha_sigma",
    "cfg_model_fn",
    "check_parameterization",
    "check_halvable",
    "classifier_free_guidance",
    "classifier_guidance",
    "classifier_guided_model_fn",
    "ddim_step",
    "distillation_plan",
    "dsm_loss",
    "get_schedule",
    "loss_weight",
    "make_denoiser",
    "noise_data",
    "prediction_to_x0_eps",
    "sample",
    "sampling_log_snrs",
    "student_step_log_snrs",
    "target_from_x0_eps",
    "teacher_two_step",
    "two_step_target",
    "weighted_denoising_loss",
]
