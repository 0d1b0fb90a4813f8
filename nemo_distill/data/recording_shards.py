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

"""Real distillation data on disk: recordings' mels with the teacher's conditioning aligned to them, as shards.

A synthetic shard (:mod:`nemo_distill.data.synthetic_shards`) holds FastPitch's conditioning of a text with its
*predicted* durations and pitch; a recording needs the conditioning of its *own*: the teacher's frozen front-end
encodes the recording's text with the aligner's durations and the recording's pitch (what FastPitch training feeds
its decoder), so ``cond`` and ``coarse_mel`` line up frame for frame with the recorded mel. The layout, the
checksums and the crash guarantees are :class:`~nemo_distill.data.synthetic_shards.SyntheticShardStore`'s; a shard is
made of manifest rows, and its key holds each row's audio path, text and audio sha256, so a changed recording is
never read with a stale conditioning.
"""

import json
from typing import Dict, List, Optional, Sequence

import torch

from nemo_distill.data.synthetic_shards import (
    ShardSpec,
    SyntheticShardStore,
    pad_frames,
    shard_id_groups,
    unpadded_items,
)
from nemo_distill.utils.files import sha256_file, sha256_text

__all__ = ["RECORDING_FORMAT", "RECORDING_TENSORS", "RecordingShardStore", "RecordingUtterances", "check_aligned",
           "collate_recordings"]

RECORDING_FORMAT = 1
# name -> shape per shard: n = utterances in the shard, T = longest of them (padding past ``lengths`` is zero)
RECORDING_TENSORS = {
    "text_ids": "[n] index of the recording's row in the manifest",
    "lengths": "[n] frames: the recording's mel frames, equal to its aligned durations' sum",
    "cond": "[n, D, T] length-regulated FastPitch encoding with the recording's durations and pitch",
    "coarse_mel": "[n, n_mels, T] FastPitch's regression mel of that encoding",
    "real_mel": "[n, n_mels, T] the recording's log-mel (the teacher's preprocessor)",
}


def check_aligned(mel_lens: torch.Tensor, dec_lens: torch.Tensor, names: Sequence[str]) -> None:
    """Each recording's mel frames ``mel_lens`` ``[B]`` equal its conditioning's frames ``dec_lens`` ``[B]`` (the
    aligned durations' sum); ValueError naming the first recording that differs (a shifted or foreign alignment)."""
    for name, mel_len, dec_len in zip(names, mel_lens.tolist(), dec_lens.tolist()):
        if int(mel_len) != int(dec_len):
            raise ValueError(f"{name}: its mel has {int(mel_len)} frames, its aligned conditioning {int(dec_len)}: "
                             "the recording and its conditioning are not aligned")


class RecordingShardStore(SyntheticShardStore):
    """A folder of real-data shards (:data:`RECORDING_TENSORS`)."""

    TENSORS = RECORDING_TENSORS
    FORMAT = RECORDING_FORMAT

    @staticmethod
    def plan_rows(rows: Sequence[Dict], shard_size: int, generation: Dict) -> List[ShardSpec]:
        """Split manifest ``rows`` (``audio_filepath``, ``text``) into shards of ``shard_size``; each shard's key holds
        ``generation`` (the teacher's hash, the manifest's...) and its rows' audio paths, texts and audio sha256."""
        settings = json.dumps({"format": RECORDING_FORMAT, **generation}, sort_keys=True)
        specs = []
        for index, ids in enumerate(shard_id_groups(len(rows), shard_size, "recordings to make real data from")):
            audio = [(rows[i]["audio_filepath"], rows[i]["text"], sha256_file(rows[i]["audio_filepath"])) for i in ids]
            key = sha256_text(json.dumps([settings, ids, audio]))
            specs.append(ShardSpec(index, ids, tuple(rows[i]["text"] for i in ids), (), key))
        return specs


class RecordingUtterances(torch.utils.data.Dataset):
    """The utterances of a complete real-data store, unpadded: ``(cond [D, T], coarse_mel [n_mels, T],
    real_mel [n_mels, T], row)``."""

    def __init__(self, root: str, limit: Optional[int] = None):
        store = RecordingShardStore(root)
        manifest = store.read_manifest()
        if manifest.get("format") != RECORDING_FORMAT or "recordings_manifest" not in manifest.get("generation", {}):
            raise ValueError(f"{root} holds no real data (recordings with their aligned conditioning): its manifest "
                             f"is format {manifest.get('format')} without a recordings manifest")
        self.generation = manifest["generation"]
        self.items = unpadded_items(store, manifest, ("cond", "coarse_mel", "real_mel", "text_ids"))
        if limit is not None:
            self.items = self.items[:limit]
        if not self.items:
            raise ValueError(f"{root} holds no recordings")

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def collate_recordings(items) -> Dict[str, torch.Tensor]:
    """Pad a list of :class:`RecordingUtterances` items: ``cond [B, D, T]``, ``coarse_mel``/``real_mel``
    ``[B, n_mels, T]``, ``lengths``/``text_ids`` ``[B]``. ValueError when an item's three tensors differ in length."""
    for cond, coarse, real, row in items:
        if not cond.shape[-1] == coarse.shape[-1] == real.shape[-1]:
            raise ValueError(f"recording {row}: conditioning {cond.shape[-1]}, coarse {coarse.shape[-1]} and recorded "
                             f"mel {real.shape[-1]} frames differ: not aligned")
    return {"cond": pad_frames([item[0] for item in items]), "coarse_mel": pad_frames([item[1] for item in items]),
            "real_mel": pad_frames([item[2] for item in items]),
            "lengths": torch.tensor([item[0].shape[-1] for item in items]),
            "text_ids": torch.tensor([item[3] for item in items])}
