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

"""What a distillation folder holds, recorded in two places so that a folder evolves instead of wedging.

- ``distillation.json`` (:func:`check_folder`): what the shards depend on (the teacher, its steps and guidance
  scale, the texts, the noise seed, the shard size). A rerun that differs in any of it is refused: the shards are
  the folder's most expensive part and every round learns from them. A folder whose first run died before any shard
  was complete holds nothing of that identity's: a corrected rerun takes it over (with a warning).
- ``rounds/<round>.settings.json`` (:func:`check_round`; beside the round's folder, which NeMo's exp_manager
  rearranges on every resume): what one round's student depends on (loss weighting,
  optimiser, batch, round length, seed, the method's section), checked against that round only. A finished student
  made with other settings is kept and reused, with a warning naming them (it is never overwritten; move it away to
  redo it); an unfinished round whose settings changed
  (e.g. a lower lr after a non-finite stop) has its checkpoints moved aside and starts again; a new method on a
  finished ladder (a DMD or consistency branch) is a new round on the same shards.

Folders written before this split recorded everything in ``distillation.json``: its round keys stand in for a
round's ``settings.json`` until the round writes one.
"""

import json
import os
import shutil
from typing import Dict, Optional

from omegaconf import DictConfig, OmegaConf

from nemo.utils import logging
from nemo_distill.distillation.methods import DistillationMethod, teacher_guidance
from nemo_distill.utils.files import write_json_atomic

__all__ = ["FOLDER_KEYS", "check_folder", "check_round", "legacy_round_settings", "round_settings"]

FOLDER_KEYS = ("teacher_sha256", "teacher_steps", "guidance_scale", "texts_sha256", "synthetic_seed", "shard_size")
SETTINGS_SUFFIX = ".settings.json"


def _container(node):
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _differences(recorded: Dict, now: Dict, label: str) -> str:
    """``key: <label> a, now b`` for every key of ``now`` that ``recorded`` holds with another value ("": none)."""
    return "; ".join(f"{k}: {label} {recorded[k]!r}, now {v!r}" for k, v in now.items()
                     if k in recorded and recorded[k] != v)


def check_folder(out_dir: str, identity: Dict, synthetic_dir: str) -> Dict:
    """Refuse a folder whose shards were made for another ``identity`` (the :data:`FOLDER_KEYS`); take over one
    that holds no complete shard; write the identity the first time. Returns the folder's record as written by an
    earlier version (its round keys), or ``{}``."""
    path = os.path.join(out_dir, "distillation.json")
    if not os.path.isfile(path):
        write_json_atomic(path, identity, indent=1)
        return {}
    with open(path) as f:
        recorded = json.load(f)
    details = _differences(recorded, identity, "folder")
    if details:
        if _holds_a_shard(synthetic_dir):
            raise ValueError(f"{out_dir} holds a distillation with other settings ({details}): its shards were made "
                             "for those; use another out_dir, or delete that folder to start over")
        logging.warning(f"{out_dir}: its first run ({details}) ended before any shard was complete: taken over")
        shutil.rmtree(synthetic_dir, ignore_errors=True)  # the unfinished shards of the other texts or teacher
        recorded = {}
    if recorded.keys() >= identity.keys() and not details:
        return recorded
    write_json_atomic(path, {**recorded, **identity}, indent=1)
    return recorded


def _holds_a_shard(synthetic_dir: str) -> bool:
    """A complete shard (its sidecar record) or the store's manifest."""
    return os.path.isdir(synthetic_dir) and any(name.endswith(".json") for name in os.listdir(synthetic_dir))


def round_settings(model_cfg: DictConfig, optimizer_steps: int, section_name: str) -> Dict:
    """What one round's student depends on, from the config its model is built with."""
    return {"weighting": model_cfg.get("weighting"), "weighting_gamma": float(model_cfg.get("weighting_gamma", 5.0)),
            "max_frames": model_cfg.get("max_frames"), "val_utterances": int(model_cfg.get("val_utterances", 0)),
            "batch_size": int(model_cfg.train_ds.batch_size), "optim": _container(model_cfg.get("optim")),
            "seed": model_cfg.get("seed"), "optimizer_steps": int(optimizer_steps),
            "guidance_scale": float(model_cfg.get("guidance_scale", 0.0) or 0.0),
            "section": _container(model_cfg.get(section_name))}


def legacy_round_settings(cfg: DictConfig, method: DistillationMethod) -> Dict:
    """A round's settings under the keys an earlier version recorded folder-wide in ``distillation.json``."""
    model = cfg.model
    settings = {"weighting": str(model.weighting), "round_steps": int(model.round_steps),
                "weighting_gamma": float(model.get("weighting_gamma", 5.0)), "max_frames": model.get("max_frames"),
                "val_utterances": int(model.get("val_utterances", 0)), "batch_size": int(model.train_ds.batch_size),
                "optim": _container(model.get("optim"))}
    if method.place == "before":
        settings["guidance_weighting"] = str(teacher_guidance(cfg)[1] or model.weighting)
    if method.place in ("after", "branch"):
        settings[method.name] = _container(method.section(cfg))
    return settings


def check_round(round_dir: str, name: str, settings: Dict, student: Optional[str], legacy: Dict,
                legacy_settings: Dict) -> None:
    """``settings`` against what the round recorded (``settings.json``; for a folder of an earlier version, its
    ``legacy`` record's keys, compared as ``legacy_settings``). ``student``: the finished student's path (None: not
    finished). See the module docstring for what happens; records the settings of a round about to train."""
    path = round_dir + SETTINGS_SUFFIX
    if os.path.isfile(path):
        with open(path) as f:
            recorded, now = json.load(f), settings
    else:
        recorded = {k: legacy[k] for k in legacy_settings if k in legacy}
        now = {k: legacy_settings[k] for k in recorded}
    details = _differences(recorded, now, "recorded")
    if student is not None:
        if details:  # kept: it is valid for its own settings (recorded), and later rounds learn from it
            logging.warning(f"{name}: {student} was distilled with other settings ({details}): it is kept and "
                            "reused; move it away to redo this round with today's")
        return
    if details and os.path.isdir(round_dir):
        number = 1
        while os.path.exists(f"{round_dir}.replaced-{number}"):
            number += 1
        os.rename(round_dir, f"{round_dir}.replaced-{number}")
        if os.path.isfile(path):
            os.rename(path, f"{round_dir}.replaced-{number}{SETTINGS_SUFFIX}")
        logging.warning(f"{name}: its settings changed ({details}): its earlier checkpoints moved to "
                        f"{round_dir}.replaced-{number}; the round starts again")
    os.makedirs(os.path.dirname(round_dir), exist_ok=True)
    write_json_atomic(path, settings, indent=1)
