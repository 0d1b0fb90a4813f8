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

"""Precompute the supplementary data NeMo's TTSDataset caches (pitch by pyin, alignment priors) and pitch statistics.

``TTSDataset`` computes pitch with librosa's pyin on first access (slow: seconds per clip on one core) and
caches it under ``sup_data_path``. Doing it once, up front, with DataLoader workers and a progress bar, keeps the
first training epoch from stalling, and yields the ``pitch_mean``/``pitch_std`` that ``pitch_norm`` needs.
NeMo writes those caches with a plain ``torch.save``: unreadable files (a crash mid-write) are deleted and recomputed.
"""

import os
from typing import Dict

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from nemo_distill.utils.files import write_json_atomic

__all__ = ["PITCH_INDEX", "precompute_supplementary_data"]

PITCH_INDEX = 8  # position of the pitch tensor in TTSDataset.__getitem__'s tuple (NeMo 3.0)


class _PitchOnly(Dataset):
    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index][PITCH_INDEX]


def _remove_unreadable(folder: str) -> int:
    removed = 0
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        try:
            torch.load(path)
        except Exception:  # noqa: BLE001 (any unreadable cache file is recomputed)
            os.remove(path)
            removed += 1
    return removed


UTTERANCES_PER_WORKER = 16  # below this many utterances per worker, the pitch is computed in this process


def precompute_supplementary_data(
    manifest: str, sup_data_path: str, dataset_kwargs: Dict, num_workers: int = 2, stats_file: str = None
) -> Dict[str, float]:
    """Fill ``sup_data_path`` for every utterance of ``manifest``; return (and write) pitch statistics.

    ``dataset_kwargs``: TTSDataset's audio/mel/pitch settings (``sample_rate``, ``n_fft``, ``win_length``,
    ``hop_length``, ``window``, ``n_mels``, ``lowfreq``, ``highfreq``, ``pitch_fmin``, ``pitch_fmax``), e.g. the
    model config's ``train_ds.dataset`` minus the manifest/normalisation keys. Statistics are over voiced frames
    (pitch > 0) and written atomically to ``stats_file`` (default ``sup_data_path/pitch_stats.json``).
    """
    from nemo.collections.tts.data.dataset import TTSDataset
    from nemo.collections.common.tokenizers.text_to_speech.tts_tokenizers import EnglishCharsTokenizer

    if not os.path.isfile(manifest):
        raise FileNotFoundError(f"manifest {manifest} does not exist")
    os.makedirs(sup_data_path, exist_ok=True)
    removed = sum(_remove_unreadable(os.path.join(sup_data_path, sub)) for sub in ("pitch", "align_prior_matrix"))
    if removed:
        tqdm.write(f"removed {removed} unreadable cache files under {sup_data_path}; recomputing them")
    dataset = TTSDataset(
        manifest_filepath=manifest, sup_data_path=sup_data_path, sup_data_types=["align_prior_matrix", "pitch"],
        text_tokenizer=EnglishCharsTokenizer(punct=True, apostrophe=True, pad_with_space=True),
        pitch_norm=False, **dataset_kwargs,
    )
    # each worker process pays librosa's start (its imports and its first pyin, ~2 s of CPU) before its first
    # utterance: a manifest of a few dozen utterances is done sooner, and with half the CPU, in this process
    num_workers = num_workers if len(dataset) >= UTTERANCES_PER_WORKER * num_workers else 0
    loader = DataLoader(_PitchOnly(dataset), batch_size=1, num_workers=num_workers, collate_fn=lambda items: items[0])
    voiced = []
    for pitch in tqdm(loader, total=len(dataset), desc="pitch (pyin)"):
        voiced.append(pitch[pitch > 0])
    voiced = torch.cat(voiced)
    if voiced.numel() == 0:
        raise ValueError(f"no voiced frame found in {manifest}: is it speech, and is pitch_fmin/fmax right?")
    stats = {"pitch_mean": float(voiced.mean()), "pitch_std": float(voiced.std()), "num_utterances": len(dataset),
             "num_voiced_frames": int(voiced.numel())}
    stats_file = stats_file or os.path.join(sup_data_path, "pitch_stats.json")
    write_json_atomic(stats_file, stats, indent=2)
    return stats
