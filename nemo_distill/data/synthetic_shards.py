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

"""Synthetic distillation data on disk: the teacher's conditioning, noise seeds and samples, as checksummed shards.

Progressive distillation needs no recordings: for every text, the teacher's FastPitch front-end computes the
conditioning once (length-regulated encoding ``cond [D, T]`` and coarse mel ``[n_mels, T]``), and the teacher
samples a mel from a seeded noise at its full step count. These tensors are cached as shards so that a training
step never runs the TTS pipeline. Layout of a store folder::

    shard_00000.pt     torch.save of a dict of padded tensors (see ``SHARD_TENSORS``)
    shard_00000.json   sidecar: the shard's key (what it was made from), sha256 and item count
    manifest.json      written once every shard is complete: generation settings, texts, shard list + checksums

Each file is written to a temporary name and renamed, shard before sidecar, so a crash leaves either a complete
shard with a matching sidecar or one that :meth:`SyntheticShardStore.is_complete` rejects and a rerun regenerates.
A shard is reused only if its key (teacher hash, texts, seeds, sampler settings, format) is unchanged.
"""

import io
import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch

from nemo_distill.utils.files import atomic_path, sha256_file, sha256_text, write_json_atomic

__all__ = ["SHARD_FORMAT", "SHARD_TENSORS", "ShardSpec", "SyntheticShardStore", "SyntheticUtterances", "collate",
           "pad_frames", "seeded_noise", "shard_id_groups", "unpadded_items"]

SHARD_FORMAT = 2  # 2: each utterance's noise is drawn at its own length (independent of padding)
# name -> shape per shard: n = utterances in the shard, T = longest of them (padding past ``lengths`` is zero)
SHARD_TENSORS = {
    "text_ids": "[n] index of the text in the store's text list",
    "seeds": "[n] seed of the utterance's noise",
    "lengths": "[n] frames",
    "cond": "[n, D, T] length-regulated FastPitch encoding",
    "coarse_mel": "[n, n_mels, T] FastPitch's regression mel",
    "teacher_mel": "[n, n_mels, T] the teacher's sample from the seeded noise at its full step count",
}


@dataclass(frozen=True)
class ShardSpec:
    """What one shard is made of: its texts (by global index) and their noise seeds, plus the generation key."""

    index: int
    text_ids: tuple
    texts: tuple
    seeds: tuple
    key: str

    @property
    def name(self) -> str:
        return f"shard_{self.index:05d}"


class SyntheticShardStore:
    """A folder of synthetic-data shards; see the module docstring for the layout and the crash guarantees.
    ``TENSORS`` and ``FORMAT`` are what its shards hold (a subclass stores other tensors the same way)."""

    TENSORS = SHARD_TENSORS
    FORMAT = SHARD_FORMAT

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    # ------------------------------------------------------------------------------------------------- planning
    @staticmethod
    def plan(texts: Sequence[str], shard_size: int, seed: int, generation: Dict) -> List[ShardSpec]:
        """Split ``texts`` into shards of ``shard_size``; utterance ``i`` gets noise seed ``seed + i``.

        ``generation`` (teacher hash, steps, sampler, guidance scale...) goes into every shard's key, so a shard
        made with other settings is not reused.
        """
        settings = json.dumps({"format": SHARD_FORMAT, **generation}, sort_keys=True)
        specs = []
        for index, ids in enumerate(shard_id_groups(len(texts), shard_size, "texts to generate synthetic data from")):
            chunk = tuple(texts[i] for i in ids)
            seeds = tuple(int(seed) + i for i in ids)
            key = sha256_text(json.dumps([settings, ids, chunk, seeds]))
            specs.append(ShardSpec(index, ids, chunk, seeds, key))
        return specs

    # ------------------------------------------------------------------------------------------------- files
    def shard_path(self, spec_or_index) -> str:
        index = spec_or_index.index if isinstance(spec_or_index, ShardSpec) else int(spec_or_index)
        return os.path.join(self.root, f"shard_{index:05d}.pt")

    def sidecar_path(self, spec_or_index) -> str:
        return self.shard_path(spec_or_index)[: -len(".pt")] + ".json"

    @property
    def manifest_path(self) -> str:
        return os.path.join(self.root, "manifest.json")

    def _sidecar(self, spec: ShardSpec) -> Optional[Dict]:
        try:
            with open(self.sidecar_path(spec)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def is_complete(self, spec: ShardSpec) -> bool:
        """The shard exists, was made from exactly ``spec`` and its bytes match the recorded sha256."""
        sidecar = self._sidecar(spec)
        path = self.shard_path(spec)
        return (sidecar is not None and sidecar.get("key") == spec.key and os.path.isfile(path)
                and sha256_file(path) == sidecar.get("sha256"))

    def pending(self, specs: Sequence[ShardSpec]) -> List[ShardSpec]:
        return [spec for spec in specs if not self.is_complete(spec)]

    def write(self, spec: ShardSpec, tensors: Dict[str, torch.Tensor], rank: int = 0) -> None:
        """Write one shard atomically (shard, then its sidecar); ``tensors`` holds every ``SHARD_TENSORS`` key.
        ``rank`` (the process that made it) is recorded in the sidecar."""
        missing = set(self.TENSORS) - set(tensors)
        if missing:
            raise ValueError(f"shard {spec.name} lacks {sorted(missing)}")
        if len(tensors["lengths"]) != len(spec.text_ids):
            raise ValueError(f"shard {spec.name} holds {len(tensors['lengths'])} items, spec has {len(spec.text_ids)}")
        # serialised in memory first: torch.save to a file names the archive after that (random temporary) file, so
        # identical tensors would give other bytes, and every sha256 recorded downstream would go stale
        buffer = io.BytesIO()
        torch.save({k: tensors[k].detach().cpu().contiguous() for k in self.TENSORS}, buffer)
        with atomic_path(self.shard_path(spec)) as tmp:
            with open(tmp, "wb") as f:
                f.write(buffer.getvalue())
        sidecar = {"key": spec.key, "sha256": sha256_file(self.shard_path(spec)), "num_items": len(spec.text_ids),
                   "rank": int(rank)}
        write_json_atomic(self.sidecar_path(spec), sidecar)

    def write_manifest(self, specs: Sequence[ShardSpec], texts: Sequence[str], generation: Dict) -> str:
        """After every shard is complete: the store's manifest (generation settings, texts, shard checksums); removes
        the temporary files of writers that were killed mid-write."""
        incomplete = [spec.name for spec in self.pending(specs)]
        if incomplete:
            raise RuntimeError(f"cannot write the manifest: shards {incomplete} are missing or corrupt")
        manifest = {
            "format": self.FORMAT,
            "generation": generation,
            "num_items": len(texts),
            "texts": list(texts),
            "shards": [{"file": os.path.basename(self.shard_path(spec)), "key": spec.key,
                        "sha256": self._sidecar(spec)["sha256"], "num_items": len(spec.text_ids)} for spec in specs],
        }
        write_json_atomic(self.manifest_path, manifest, indent=1)
        for name in os.listdir(self.root):  # leftovers of writers killed mid-write (every writer is done now)
            if name.startswith(".tmp."):
                os.remove(os.path.join(self.root, name))
        return self.manifest_path

    def read_manifest(self) -> Dict:
        if not os.path.isfile(self.manifest_path):
            raise FileNotFoundError(f"{self.root} holds no complete synthetic data (no manifest.json)")
        with open(self.manifest_path) as f:
            return json.load(f)

    def manifest_sha256(self) -> str:
        return sha256_file(self.manifest_path)

    def load_shard(self, entry: Dict) -> Dict[str, torch.Tensor]:
        """One shard of the manifest, checked against its sha256 (ValueError naming the file when corrupt or
        missing)."""
        path = os.path.join(self.root, entry["file"])
        if not os.path.isfile(path) or sha256_file(path) != entry["sha256"]:
            raise ValueError(f"{path} does not match its checksum in {self.manifest_path}: corrupt or missing; rerun "
                             "the generation (it regenerates corrupt shards)")
        return torch.load(path, map_location="cpu", weights_only=True)


class SyntheticUtterances(torch.utils.data.Dataset):
    """The utterances of a complete store, unpadded: ``(cond [D, T], coarse_mel [n_mels, T], teacher_mel, text_id,
    seed)``. ``limit`` keeps the first utterances only (validation subsets)."""

    def __init__(self, root: str, limit: Optional[int] = None, skip: int = 0):
        store = SyntheticShardStore(root)
        manifest = store.read_manifest()
        self.generation = manifest["generation"]
        self.texts = manifest["texts"]
        self.items = unpadded_items(store, manifest, ("cond", "coarse_mel", "teacher_mel", "text_ids", "seeds"))
        self.items = self.items[skip:]
        if limit is not None:
            self.items = self.items[:limit]
        if not self.items:
            raise ValueError(f"{root} holds no synthetic utterances (skip={skip}, limit={limit})")

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def shard_id_groups(count: int, shard_size: int, what: str) -> List[tuple]:
    """Item indices ``0 .. count - 1`` in consecutive shards of ``shard_size``; ValueError for no items (``what`` says
    which) or a shard size below 1."""
    if not count:
        raise ValueError(f"no {what}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return [tuple(range(start, min(start + shard_size, count))) for start in range(0, count, shard_size)]


def unpadded_items(store: SyntheticShardStore, manifest: Dict, keys: Sequence[str]) -> List[tuple]:
    """Every utterance of ``manifest``'s shards (each checked against its sha256) as a tuple of its ``keys``: a
    ``[n, C, T]`` tensor cut to the utterance's ``lengths``, a ``[n]`` one as an int."""
    items = []
    for entry in manifest["shards"]:
        shard = store.load_shard(entry)
        for j, length in enumerate(shard["lengths"].tolist()):
            items.append(tuple(shard[k][j, :, :length] if shard[k].ndim == 3 else int(shard[k][j]) for k in keys))
    return items


def pad_frames(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[C, T_i]`` tensors zero-padded to the longest and stacked: ``[B, C, max T_i]``."""
    frames = max(t.shape[-1] for t in tensors)
    return torch.stack([torch.nn.functional.pad(t, (0, frames - t.shape[-1])) for t in tensors])


def collate(items) -> Dict[str, torch.Tensor]:
    """Pad a list of :class:`SyntheticUtterances` items: ``cond [B, D, T]``, ``coarse_mel``/``teacher_mel``
    ``[B, n_mels, T]``, ``lengths``/``text_ids``/``seeds`` ``[B]``."""
    return {
        "cond": pad_frames([item[0] for item in items]),
        "coarse_mel": pad_frames([item[1] for item in items]),
        "teacher_mel": pad_frames([item[2] for item in items]),
        "lengths": torch.tensor([item[0].shape[-1] for item in items]),
        "text_ids": torch.tensor([item[3] for item in items]),
        "seeds": torch.tensor([item[4] for item in items]),
    }


def seeded_noise(seeds: Sequence[int], lengths: torch.Tensor, n_mels: int, like: torch.Tensor) -> torch.Tensor:
    """The noise of a batch, ``[B, n_mels, like.shape[-1]]``: utterance ``i`` gets ``[n_mels, lengths[i]]`` drawn from
    its own seed, zero-padded, so its noise does not depend on the batch it is in or on the padding."""
    frames = like.shape[-1]
    noise = []
    for seed, length in zip(seeds, lengths.tolist()):
        own = torch.randn(n_mels, int(length), generator=torch.Generator().manual_seed(int(seed)))
        noise.append(torch.nn.functional.pad(own, (0, frames - int(length))))
    return torch.stack(noise).to(device=like.device, dtype=like.dtype)
