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

"""Make real distillation data from a NeMo manifest with Lightning's ``trainer.predict``, sharded across ranks.

For every recording of the manifest, the teacher's frozen FastPitch front-end runs teacher-forced (the aligner's
durations, the recording's pitch from the dataset's supplementary data, exactly as in FastPitch training), giving the
conditioning and coarse mel aligned to the recording's mel (:mod:`nemo_distill.data.recording_shards`). Ranks split
the shards by index like the synthetic data (:mod:`nemo_distill.distillation.synthetic_data`); rank 0 writes the
store's manifest after a barrier. A store made from another teacher or another manifest is refused, never
overwritten.
"""

import json
import os
from typing import Dict, List, Optional, Sequence

import lightning.pytorch as pl
import torch
from omegaconf import open_dict

from nemo.utils import logging
from nemo_distill.data.recording_shards import RecordingShardStore, ShardSpec, check_aligned
from nemo_distill.data.synthetic_shards import pad_frames
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.parts.fastpitch_taps import teacher_forced
from nemo_distill.utils.files import sha256_file

__all__ = ["RecordingDataGenerator", "generate_recording_data", "read_recordings"]


def read_recordings(path: str, limit: Optional[int] = None) -> List[Dict]:
    """The rows of a NeMo JSON-lines manifest (``audio_filepath``, ``text``); ValueError naming the line of a row
    without them or whose audio file does not exist."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"recordings manifest {path} does not exist")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
            if not row.get("audio_filepath") or not str(row.get("text", "")).strip():
                raise ValueError(f"{path}:{number}: a recording needs 'audio_filepath' and 'text'")
            if not os.path.isfile(row["audio_filepath"]):
                raise ValueError(f"{path}:{number}: audio file {row['audio_filepath']} does not exist")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path} holds no recordings")
    return rows[:limit] if limit else rows


class RecordingDataGenerator(pl.LightningModule):
    """Each predict step makes one shard: the teacher's teacher-forced conditioning of its recordings."""

    def __init__(self, teacher: DiffusionSpectrogramGenerator, store: RecordingShardStore, specs: Sequence[ShardSpec],
                 dataset, rows: Sequence[Dict], batch_size: int = 8):
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)
        self.store, self.specs, self.dataset, self.rows = store, list(specs), dataset, list(rows)
        self.batch_size = batch_size

    def predict_dataloader(self):
        rank, world = self.trainer.global_rank, self.trainer.world_size
        mine = [spec for spec in self.specs[rank::world] if not self.store.is_complete(spec)]
        logging.info(f"rank {rank}/{world}: {len(mine)} real-data shards to make, "
                     f"{len(self.specs[rank::world]) - len(mine)} already complete")
        return torch.utils.data.DataLoader([spec.index for spec in mine], batch_size=1, collate_fn=lambda i: i[0])

    @torch.no_grad()
    def predict_step(self, shard_index: int, batch_idx: int = 0):
        spec = self.specs[shard_index]
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(self.dataset, list(spec.text_ids)),
                                             batch_size=self.batch_size, shuffle=False,
                                             collate_fn=self.dataset.collate_fn)
        items, start = [], 0
        for batch in loader:
            cond, coarse, mel, lengths, mel_lens, dec_lens = teacher_forced(self.teacher, batch,
                                                                            self.dataset.sup_data_types_set)
            ids = spec.text_ids[start: start + len(lengths)]
            start += len(lengths)
            check_aligned(mel_lens, dec_lens, [self.rows[i]["audio_filepath"] for i in ids])
            for j, length in enumerate(lengths.tolist()):
                items.append((cond[j, :, :length].cpu(), coarse[j, :, :length].cpu(), mel[j, :, :length].cpu()))
        tensors = {"text_ids": torch.tensor(spec.text_ids), "lengths": torch.tensor([i[0].shape[-1] for i in items]),
                   **{key: pad_frames([item[k] for item in items])
                      for k, key in enumerate(("cond", "coarse_mel", "real_mel"))}}
        self.store.write(spec, tensors, rank=self.trainer.global_rank if self._trainer else 0)
        return None


def _dataset(teacher: DiffusionSpectrogramGenerator, manifest: str, sup_data_path: str, rows: Sequence[Dict]):
    """The teacher's own ``TTSDataset`` (its validation set's settings: text normalisation, pitch, priors) over
    ``manifest``; ValueError when it drops or reorders a recording (e.g. its duration filters)."""
    cfg = teacher.cfg.validation_ds.copy()
    with open_dict(cfg):
        cfg.dataset.manifest_filepath = manifest
        cfg.dataset.sup_data_path = sup_data_path
        cfg.dataset.pop("max_duration", None)
        cfg.dataset.pop("min_duration", None)
        cfg.dataloader_params.shuffle = False
        cfg.dataloader_params.num_workers = 0
    teacher.setup_validation_data(cfg)
    dataset = teacher._validation_dl.dataset
    paths = [item["audio_filepath"] for item in dataset.data]
    if paths != [row["audio_filepath"] for row in rows]:
        raise ValueError(f"the teacher's dataset over {manifest} holds {len(paths)} of its {len(rows)} recordings "
                         "(or another order): every recording must be kept")
    return dataset


def generate_recording_data(teacher: DiffusionSpectrogramGenerator, teacher_sha256: str, manifest: str,
                            sup_data_path: str, root: str, trainer: pl.Trainer, shard_size: int = 32,
                            batch_size: int = 8, limit: Optional[int] = None) -> Dict:
    """Fill ``root`` with the real data of ``manifest``'s recordings (reusing complete shards); returns the store's
    manifest. Every rank of ``trainer`` must call this with the same arguments. ValueError, before any shard is
    written, when ``root`` holds the real data of another teacher or manifest."""
    manifest = os.path.abspath(manifest)
    rows = read_recordings(manifest, limit)
    generation = {"teacher_sha256": teacher_sha256, "recordings_manifest": manifest,
                  "recordings_manifest_sha256": sha256_file(manifest), "recordings": len(rows),
                  "sup_data_path": os.path.abspath(sup_data_path), "shard_size": int(shard_size),
                  "n_mels": int(teacher.cfg.n_mel_channels), "cond_channels": teacher.decoder.cond_channels}
    store = RecordingShardStore(root)
    if os.path.isfile(store.manifest_path):
        recorded = store.read_manifest().get("generation", {})
        differing = {k: (recorded.get(k), v) for k, v in generation.items() if recorded.get(k) != v}
        if differing:
            details = "; ".join(f"{k}: stored {a!r}, now {b!r}" for k, (a, b) in differing.items())
            raise ValueError(f"{root} holds the real data of other recordings or another teacher ({details}): use "
                             "another folder, or delete it to make them again")
    specs = store.plan_rows(rows, shard_size, generation)
    if os.path.isfile(store.manifest_path) and not store.pending(specs):
        logging.info(f"real data in {root} is complete ({len(specs)} shards): reused")
        return store.read_manifest()
    os.makedirs(root, exist_ok=True)
    module = RecordingDataGenerator(teacher, store, specs, _dataset(teacher, manifest, sup_data_path, rows), rows,
                                    batch_size)
    trainer.predict(module, return_predictions=False)
    trainer.strategy.barrier()
    if trainer.is_global_zero:
        store.write_manifest(specs, [row["text"] for row in rows], generation)
    trainer.strategy.barrier()
    return store.read_manifest()
