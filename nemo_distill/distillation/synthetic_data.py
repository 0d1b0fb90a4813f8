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

"""Generate a teacher's synthetic distillation data with Lightning's ``trainer.predict``, sharded across ranks.

Rank ``r`` of ``W`` takes the shards ``r, r + W, ...`` of the plan (fixed by index, so ranks agree without talking)
and skips those already complete on disk; after a barrier, rank 0 writes the store's manifest. With DDP on CPU
(``strategy: ddp``, ``accelerator: cpu``, ``devices: 2``) two processes share the work; on GPUs each rank uses its
own device. The Trainer must be built with ``use_distributed_sampler=False`` (this module already splits the work).
"""

import os
from typing import Dict, List, Sequence

import lightning.pytorch as pl
import torch

from nemo.utils import logging
from nemo_distill.data.synthetic_shards import ShardSpec, SyntheticShardStore, seeded_noise
from nemo_distill.data.texts import read_texts
from nemo_distill.diffusion import SamplingOptions
from nemo_distill.models import DiffusionSpectrogramGenerator
from nemo_distill.runtime.text import MAX_CHARS

__all__ = ["SyntheticDataGenerator", "check_texts", "generate_synthetic_data", "read_texts", "training_pieces"]


class SyntheticDataGenerator(pl.LightningModule):
    """Each predict step makes one shard: front-end conditioning, seeded noise, the teacher's full-step sample."""

    def __init__(self, teacher: DiffusionSpectrogramGenerator, store: SyntheticShardStore, specs: Sequence[ShardSpec],
                 steps: int, sampler: str = "ddim", guidance_scale: float = 0.0, batch_size: int = 16):
        super().__init__()
        self.teacher = teacher.eval().requires_grad_(False)
        self.store, self.specs = store, list(specs)
        self.steps, self.sampler, self.guidance_scale, self.batch_size = steps, sampler, guidance_scale, batch_size
        self.written: List[int] = []

    def predict_dataloader(self):
        rank, world = self.trainer.global_rank, self.trainer.world_size
        mine = [spec for spec in self.specs[rank::world] if not self.store.is_complete(spec)]
        logging.info(f"rank {rank}/{world}: {len(mine)} shards to generate, "
                     f"{len(self.specs[rank::world]) - len(mine)} already complete")
        # batches are shard indices (plain ints survive Lightning's batch-to-device transfer)
        return torch.utils.data.DataLoader([spec.index for spec in mine], batch_size=1, collate_fn=_only)

    @torch.no_grad()
    def predict_step(self, shard_index: int, batch_idx: int = 0):
        spec = self.specs[shard_index]
        parts = [self._generate(spec.texts[i: i + self.batch_size], spec.seeds[i: i + self.batch_size])
                 for i in range(0, len(spec.texts), self.batch_size)]
        frames = max(part["cond"].shape[-1] for part in parts)
        tensors = {key: torch.cat([_pad_to(part[key], frames) for part in parts]) for key in parts[0]}
        tensors["text_ids"] = torch.tensor(spec.text_ids)
        self.store.write(spec, tensors, rank=self.trainer.global_rank if self._trainer else 0)
        self.written.append(spec.index)
        return None

    def _generate(self, texts: Sequence[str], seeds: Sequence[int]) -> Dict[str, torch.Tensor]:
        teacher = self.teacher
        tokens, _ = teacher.parse_batch(list(texts), check=False)  # checked before generation began
        cond, coarse, lengths = teacher.encode(tokens.to(self.device))
        noise = seeded_noise(seeds, lengths, coarse.shape[1], coarse)
        mel = teacher.decoder.decode(cond, coarse, lengths, SamplingOptions(
            steps=self.steps, sampler=self.sampler, guidance_scale=self.guidance_scale, noise=noise))
        return {"cond": cond, "coarse_mel": coarse, "teacher_mel": mel, "lengths": lengths.cpu(),
                "seeds": torch.tensor(list(seeds))}


def check_texts(teacher: DiffusionSpectrogramGenerator, texts: Sequence[str], source: str = "texts") -> None:
    """Every text speakable by ``teacher`` (:meth:`~DiffusionSpectrogramGenerator.check_text`); ValueError naming
    ``source`` and the text's number otherwise."""
    for number, text in enumerate(texts, 1):
        try:
            teacher.check_text(text)
        except ValueError as error:
            raise ValueError(f"{source}: text {number}: {error}") from None


def training_pieces(teacher: DiffusionSpectrogramGenerator, texts: Sequence[str], source: str = "texts",
                    max_chars: int = MAX_CHARS) -> List[str]:
    """The texts a distillation trains on: every text checked (:func:`check_texts`), and one longer than
    ``max_chars`` characters cut into pieces at sentence ends exactly as synthesis cuts it
    (:meth:`~DiffusionSpectrogramGenerator.text_pieces`), so the front-end's memory stays bounded (it attends over a
    whole text: a 10,000-character line asked it for one 7.2 GB allocation); shorter texts are kept as they are."""
    check_texts(teacher, texts, source)
    pieces, cut = [], 0
    for text in texts:
        if len(text) <= max_chars:
            pieces.append(text)
        else:
            pieces.extend(teacher.text_pieces(text, max_chars))
            cut += 1
    if cut:
        logging.info(f"{source}: {cut} text(s) over {max_chars} characters cut into pieces: {len(texts)} texts -> "
                     f"{len(pieces)} training utterances")
    return pieces


def _only(items):
    return items[0]


def _pad_to(tensor: torch.Tensor, frames: int) -> torch.Tensor:
    if tensor.ndim < 3:
        return tensor.cpu()
    return torch.nn.functional.pad(tensor, (0, frames - tensor.shape[-1])).cpu()


def generate_synthetic_data(
    teacher: DiffusionSpectrogramGenerator,
    teacher_sha256: str,
    texts: Sequence[str],
    root: str,
    trainer: pl.Trainer,
    steps: int,
    shard_size: int = 32,
    seed: int = 0,
    sampler: str = "ddim",
    guidance_scale: float = 0.0,
    batch_size: int = 16,
    texts_checked: bool = False,
) -> Dict:
    """Fill ``root`` with the teacher's synthetic data for ``texts`` (reusing complete shards); returns the manifest.

    Every rank of ``trainer`` must call this with the same arguments. The texts are checked first
    (:func:`check_texts`), unless ``texts_checked`` says the caller did.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not texts_checked:  # bad text fails here, before any shard is written
        check_texts(teacher, texts)
    generation = {"teacher_sha256": teacher_sha256, "steps": int(steps), "sampler": sampler,
                  "guidance_scale": float(guidance_scale), "seed": int(seed), "shard_size": int(shard_size),
                  "n_mels": int(teacher.cfg.n_mel_channels), "cond_channels": teacher.decoder.cond_channels}
    store = SyntheticShardStore(root)
    specs = store.plan(texts, shard_size, seed, generation)
    if os.path.isfile(store.manifest_path) and not store.pending(specs):
        manifest = store.read_manifest()
        if manifest.get("generation") == generation and manifest.get("texts") == list(texts):
            logging.info(f"synthetic data in {root} is complete ({len(specs)} shards): reused")
            return manifest
    module = SyntheticDataGenerator(teacher, store, specs, steps, sampler, guidance_scale, batch_size)
    trainer.predict(module, return_predictions=False)
    trainer.strategy.barrier()
    if trainer.is_global_zero:
        store.write_manifest(specs, texts, generation)
    trainer.strategy.barrier()
    return store.read_manifest()
