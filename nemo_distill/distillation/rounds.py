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

"""The whole distillation plan in one call: synthetic data, then round after round, resumable.

Layout of ``out_dir``::

    .nemo_distill.lock                held by the run in progress: a second run on the folder is refused meanwhile
    distillation.json                 what the shards depend on (teacher hash and steps, texts hash, noise seed, shard
                                      size): a rerun that differs in it is refused (nemo_distill.distillation.records)
    synthetic/                        the teacher's shards (nemo_distill.data.synthetic_shards)
    recordings/                       real data, when a method learns from recordings (dmd.adversarial_real:
                                      recordings): recordings.manifest's mels with the teacher's conditioning aligned
                                      to them (nemo_distill.data.recording_shards); another manifest is refused
    rounds/round_01_256to128/         exp_manager folder of a round (checkpoints, TensorBoard)
    rounds/round_01_256to128.settings.json  what that round's student depends on, checked against that round only
    students/<name>_128steps.nemo     the student of each round, a DiffusionSpectrogramGenerator (file suffixes and
                                      round names come from the methods' records, nemo_distill.distillation.methods)
    students/<name>_4steps_layers.nemo  the layer stage's student (``layers.budgets`` set): the last model, trained
                                      to run fewer residual blocks per call
    students/<name>_1steps_dmd.nemo   the DMD generator (``dmd.enabled``), distilled from the teacher (initialised
                                      from it or, ``dmd.init: student``, from the ladder's last student)
    students/<name>_1steps_consistency.nemo  the consistency student (``consistency.enabled``), from the teacher

A rerun skips the finished rounds (their ``.nemo`` exists and names the expected teacher), resumes the interrupted
one from its last checkpoint (or, its settings changed, starts it again with the old checkpoints moved aside), adds
the rounds of newly enabled methods on the same shards, and never overwrites a finished student.
"""

import os
import zipfile
from typing import List, Optional

import lightning.pytorch as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.utils import logging
from nemo.utils.exp_manager import exp_manager
from nemo_distill.data.synthetic_shards import SyntheticShardStore
from nemo_distill.distillation.methods import METHODS, teacher_guidance
from nemo_distill.distillation.plan import Round, plan_from_config
from nemo_distill.distillation.recording_data import generate_recording_data, read_recordings
from nemo_distill.distillation.records import check_folder, check_round, legacy_round_settings, round_settings
from nemo_distill.distillation.synthetic_data import generate_synthetic_data, read_texts, training_pieces
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.utils.files import sha256_file, sha256_text
from nemo_distill.utils.locks import folder_lock

__all__ = ["NonFiniteLossError", "run_distillation"]


DEFAULT_SEED = 1234  # conf/distillation.yaml's


class NonFiniteLossError(RuntimeError):
    """A round stopped on a non-finite loss: its last good checkpoint is kept, no student written."""


def _student_path(out_dir: str, name: str, step: Round) -> str:
    return os.path.join(out_dir, "students", f"{name}_{step.student_steps}{step.method.student_suffix}.nemo")


def _identity(cfg: DictConfig, teacher_sha256: str, texts: List[str], guidance_scale: float) -> dict:
    """What the folder's shards depend on (:data:`~nemo_distill.distillation.records.FOLDER_KEYS`)."""
    return {"teacher_sha256": teacher_sha256, "teacher_steps": int(cfg.plan.teacher_steps),
            "guidance_scale": guidance_scale, "texts_sha256": sha256_text("\n".join(texts)),
            "synthetic_seed": int(cfg.synthetic.seed), "shard_size": int(cfg.synthetic.shard_size)}


def _finished_student(path: str, teacher_sha256: str) -> bool:
    """A finished round: its student exists and names ``teacher_sha256`` as its teacher (else refuse)."""
    if not os.path.isfile(path):
        return False
    student = DiffusionSpectrogramGenerator.from_nemo(path)
    recorded = student.cfg.get("distillation", {}).get("teacher_sha256")
    if recorded != teacher_sha256:
        raise ValueError(f"{path} was distilled from another teacher (sha256 {recorded}, expected {teacher_sha256}); "
                         "it is left untouched: move it away to redo this round")
    return True


def run_distillation(cfg: DictConfig) -> List[str]:
    """Run a whole plan from a ``conf/distillation.yaml``-style config; returns the students' paths."""
    out_dir = os.path.abspath(cfg.out_dir)
    plan, synthetic = cfg.plan, cfg.synthetic
    trainer_kwargs = _trainer_kwargs(cfg)
    guidance_scale = teacher_guidance(cfg)[0]
    rounds = plan_from_config(cfg)
    _check_sections(cfg, rounds)
    recordings = _recordings_section(cfg, rounds)  # None: no method learns from recordings
    # every check before any file is written: the teacher's class, the texts (each one speakable), then the folder
    teacher = DiffusionSpectrogramGenerator.from_nemo(cfg.teacher)
    for method in {r.method.name: r.method for r in rounds}.values():  # sections against the teacher's network
        method.model_class.check_against_teacher(method.section(cfg), teacher.decoder)
    teacher_sha256 = sha256_file(cfg.teacher)
    # every text checked, a long one cut as synthesis cuts it (bounded memory): before the lock and any file
    texts = training_pieces(teacher, read_texts(cfg.texts, limit=synthetic.get("max_texts")), source=str(cfg.texts))
    identity = _identity(cfg, teacher_sha256, texts, guidance_scale)
    # a teacher that is itself a student passes its own origin on: every student names the model it came from
    origin_sha256 = teacher.cfg.get("distillation", {}).get("origin_teacher_sha256") or teacher_sha256
    with folder_lock(out_dir, what="distillation"):  # a second run on this folder is refused while this one runs
        legacy = check_folder(out_dir, identity, os.path.join(out_dir, "synthetic"))
        generation_trainer = pl.Trainer(**{**trainer_kwargs, "use_distributed_sampler": False, "logger": False,
                                           "enable_checkpointing": False})
        synthetic_dir = os.path.join(out_dir, "synthetic")
        generate_synthetic_data(teacher, teacher_sha256, texts, synthetic_dir, generation_trainer,
                                steps=int(plan.teacher_steps), shard_size=int(synthetic.shard_size),
                                seed=int(synthetic.seed), sampler="ddim", guidance_scale=guidance_scale,
                                batch_size=int(synthetic.batch_size), texts_checked=True)
        data_sha256 = SyntheticShardStore(synthetic_dir).manifest_sha256()
        real_dir = os.path.join(out_dir, "recordings") if recordings is not None else None
        if recordings is not None:
            generate_recording_data(teacher, teacher_sha256, recordings["manifest"], recordings["sup_data_path"]
                                    or _teacher_sup_data(teacher), real_dir, generation_trainer,
                                    shard_size=int(recordings["shard_size"]), batch_size=int(recordings["batch_size"]),
                                    limit=recordings.get("max_recordings"))
        del teacher
        if cfg.get("generate_only", False):
            return []
        teacher_path = os.path.abspath(cfg.teacher)
        paths, current, current_sha256 = [], teacher_path, teacher_sha256
        for step in rounds:
            path = _student_path(out_dir, cfg.name, step)
            # a branch (DMD, consistency) learns from the plan's teacher; the ladder from the previous student
            source, source_sha256 = (teacher_path, teacher_sha256) if step.branch else (current, current_sha256)
            previous_student = current if current != teacher_path else None
            model_cfg, optimizer_steps = _round_config(cfg, step, source, synthetic_dir, previous_student, real_dir)
            finished = _finished_student(path, source_sha256)
            check_round(os.path.join(out_dir, "rounds", step.name), step.name,
                        round_settings(model_cfg, optimizer_steps, step.method.name), path if finished else None,
                        legacy, legacy_round_settings(cfg, step.method))
            if finished:
                logging.info(f"{step.name}: {path} is finished, not retrained")
            else:
                _train_round(cfg, step, model_cfg, optimizer_steps, source, source_sha256, origin_sha256,
                             data_sha256, path)
            paths.append(path)
            if not step.branch:
                current, current_sha256 = path, sha256_file(path)
        return paths


def _check_sections(cfg: DictConfig, rounds: List[Round]) -> None:
    """Every section of a method the plan runs, before any work (ValueError naming the bad key)."""
    has_ladder = any(r.method.place in ("ladder", "after") for r in rounds)
    for method in {r.method.name: r.method for r in rounds}.values():
        method.model_class.check_section(method.section(cfg), plan_has_ladder=has_ladder)
    unknown_enabled = [name for name, section in cfg.items()
                       if isinstance(section, DictConfig) and section.get("enabled") and name not in METHODS
                       and name not in ("trainer", "model", "exp_manager")]
    if unknown_enabled:
        raise ValueError(f"{unknown_enabled[0]}.enabled is set, but no distillation method is named "
                         f"{unknown_enabled[0]!r}; registered: {sorted(METHODS)}")


def _recordings_section(cfg: DictConfig, rounds: List[Round]) -> Optional[dict]:
    """The ``recordings`` section when a round learns from recordings (its manifest read and checked now, before
    any work), else None."""
    if not any(r.method.model_class.needs_recordings(r.method.section(cfg)) for r in rounds):
        return None
    section = OmegaConf.to_container(cfg.get("recordings") or {}, resolve=True)
    if not section.get("manifest"):
        raise ValueError("a method learns from recordings (dmd.adversarial_real=recordings): set recordings.manifest "
                         "to a NeMo manifest of the teacher's voice (e.g. its training split)")
    read_recordings(section["manifest"], section.get("max_recordings"))
    return {"sup_data_path": None, "shard_size": 32, "batch_size": 8, **section}


def _teacher_sup_data(teacher) -> str:
    """Where the teacher's training data keep FastPitch's supplementary data (pitch, priors)."""
    path = teacher.cfg.get("train_ds", {}).get("dataset", {}).get("sup_data_path")
    if not path:
        raise ValueError("the teacher's config names no train_ds.dataset.sup_data_path: set recordings.sup_data_path")
    return path


def _trainer_kwargs(cfg: DictConfig) -> dict:
    """The Trainer's arguments; a round's length is ``model.round_steps`` (``trainer.max_steps`` is refused)."""
    kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    max_steps = kwargs.pop("max_steps", -1)
    if max_steps not in (None, -1):
        raise ValueError(f"trainer.max_steps={max_steps}: a round's length is model.round_steps (each round trains "
                         "that many optimizer steps); remove trainer.max_steps")
    return kwargs


def _readable(path: str) -> bool:
    """A complete checkpoint: torch writes a zip archive, whose every member's CRC a cut or damaged file fails."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _readable_resume_point(round_dir: str) -> Optional[str]:
    """Where a round resumes when its last checkpoint cannot be read (a run killed while writing it, a disk that
    filled): the unreadable ``*last.ckpt`` is moved aside (``.unreadable``, kept for inspection) with a warning and
    the newest readable checkpoint of the round is returned; None when the last one is fine (exp_manager resumes
    from it) or there is nothing readable (the round starts again, with a warning)."""
    folder = os.path.join(round_dir, "checkpoints")
    if not os.path.isdir(folder):
        return None
    paths = [os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".ckpt")]
    broken = [path for path in paths if path.endswith("last.ckpt") and not _readable(path)]
    if not broken:
        return None
    for path in broken:
        os.replace(path, path + ".unreadable")
        logging.warning(f"{path} cannot be read (cut short or damaged): moved to {path}.unreadable")
    readable = sorted((path for path in paths if path not in broken and _readable(path)), key=os.path.getmtime)
    if not readable:
        logging.warning(f"{folder} holds no readable checkpoint: the round starts again")
        return None
    logging.warning(f"resuming from {readable[-1]}, the newest readable checkpoint")
    return readable[-1]


def _round_config(cfg: DictConfig, step: Round, teacher_path: str, synthetic_dir: str,
                  previous_student: Optional[str], real_dir: Optional[str] = None):
    """The round's model config (the rounds' ``model`` section, the method's own section under its name and what the
    method adds; ``real_data`` for a method that learns from recordings) and its optimizer steps."""
    method, section = step.method, step.method.section(cfg)
    model_cfg = cfg.model.copy()
    with open_dict(model_cfg):
        model_cfg.teacher_path = teacher_path
        model_cfg.teacher_steps = step.teacher_steps
        model_cfg.synthetic_data = synthetic_dir
        if real_dir is not None and method.model_class.needs_recordings(section):
            model_cfg.real_data = real_dir
        model_cfg.seed = int(cfg.get("seed", DEFAULT_SEED)) + step.number  # each round its own, in its lineage
        if section is not None:  # the method's own section, under its name
            model_cfg[method.name] = section
        for key, value in method.model_class.round_config(section, model_cfg, previous_student).items():
            model_cfg[key] = value
    return model_cfg, method.model_class.round_optimizer_steps(section, int(cfg.model.round_steps))


def _train_round(cfg, step: Round, model_cfg: DictConfig, round_steps: int, teacher_path: str, teacher_sha256: str,
                 origin_sha256: str, data_sha256: str, path: str) -> None:
    method = step.method
    synthetic_dir = model_cfg.synthetic_data
    trainer_kwargs = _trainer_kwargs(cfg)
    if method.manual_optimization:
        trainer_kwargs.pop("gradient_clip_val", None)  # the method clips its own gradients
    if method.find_unused_parameters and trainer_kwargs.get("strategy") == "ddp":
        # e.g. a reduced call leaves the dropped blocks without gradients; a DMD turn trains one of its networks
        trainer_kwargs["strategy"] = "ddp_find_unused_parameters_true"
    seed = int(model_cfg.seed)
    pl.seed_everything(seed, workers=True, verbose=False)  # the model's initialisation and calibration
    trainer = pl.Trainer(**trainer_kwargs, max_steps=round_steps)
    exp_cfg = OmegaConf.to_container(cfg.get("exp_manager", {}) or {}, resolve=True)
    round_dir = os.path.join(os.path.abspath(cfg.out_dir), "rounds", step.name)
    exp_cfg.update(explicit_log_dir=round_dir, resume_if_exists=True, resume_ignore_no_checkpoint=True,
                   name=step.name, resume_from_checkpoint=_readable_resume_point(round_dir))
    exp_manager(trainer, OmegaConf.create(exp_cfg))
    model = method.model_class(model_cfg, trainer=trainer)
    logging.info(f"{step.name}: {step.teacher_steps} -> {step.student_steps} steps ({method.name}), teacher "
                 f"{teacher_path}")
    logging.info(f"{step.name}: training on {trainer.world_size} process{'es' if trainer.world_size > 1 else ''}")
    trainer.fit(model)
    if model.nonfinite_loss_step is not None:
        raise NonFiniteLossError(f"{step.name} stopped at step {model.nonfinite_loss_step} on a non-finite loss; its "
                                 "last good checkpoint is kept, no student written")
    if trainer.is_global_zero:
        model.save_student(path, lineage={
            "stage": method.name, "round": step.number, "seed": seed, "teacher_path": teacher_path,
            "teacher_sha256": teacher_sha256, "origin_teacher_sha256": origin_sha256, "synthetic_data_sha256": data_sha256,
            "synthetic_data": synthetic_dir,
        })
        logging.info(f"{step.name}: saved {path}")
    trainer.strategy.barrier()

