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

"""The synthetic-shard store: atomic writes, checksums, keys, resume. Pure torch, milliseconds."""

import json
import os

import pytest
import torch

from nemo_distill.data.synthetic_shards import SyntheticShardStore, SyntheticUtterances, collate
from nemo_distill.utils.files import atomic_path

TEXTS = ["one.", "two words.", "three more words.", "four", "five!"]
GENERATION = {"teacher_sha256": "abc", "steps": 8}


def _tensors(spec, frames=7, dim=3, n_mels=4):
    n = len(spec.text_ids)
    lengths = torch.tensor([frames - i for i in range(n)])
    return {"text_ids": torch.tensor(spec.text_ids), "seeds": torch.tensor(spec.seeds), "lengths": lengths,
            "cond": torch.randn(n, dim, frames), "coarse_mel": torch.randn(n, n_mels, frames),
            "teacher_mel": torch.randn(n, n_mels, frames)}


def _fill(store, specs):
    for spec in specs:
        store.write(spec, _tensors(spec))


def test_plan_splits_texts_and_seeds():
    specs = SyntheticShardStore.plan(TEXTS, 2, seed=10, generation=GENERATION)
    assert [s.text_ids for s in specs] == [(0, 1), (2, 3), (4,)]
    assert specs[1].seeds == (12, 13) and specs[2].texts == ("five!",)
    other = SyntheticShardStore.plan(TEXTS, 2, seed=10, generation={**GENERATION, "steps": 16})
    assert all(a.key != b.key for a, b in zip(specs, other))  # other settings -> other keys
    with pytest.raises(ValueError, match="no texts"):
        SyntheticShardStore.plan([], 2, 0, GENERATION)


def test_write_manifest_and_read_back(tmp_path):
    store = SyntheticShardStore(str(tmp_path))
    specs = store.plan(TEXTS, 2, 0, GENERATION)
    with pytest.raises(RuntimeError, match="shard_00000.*missing"):
        store.write_manifest(specs, TEXTS, GENERATION)
    _fill(store, specs)
    assert store.pending(specs) == []
    store.write_manifest(specs, TEXTS, GENERATION)
    manifest = store.read_manifest()
    assert manifest["num_items"] == 5 and len(manifest["shards"]) == 3 and manifest["texts"] == TEXTS
    data = SyntheticUtterances(str(tmp_path))
    assert len(data) == 5 and data[1][0].shape == (3, 6)  # second item of a shard is one frame shorter
    assert len(SyntheticUtterances(str(tmp_path), limit=2)) == 2 and len(SyntheticUtterances(str(tmp_path), skip=4)) == 1
    batch = collate([data[0], data[1]])
    assert batch["cond"].shape == (2, 3, 7) and batch["lengths"].tolist() == [7, 6]
    assert torch.all(batch["teacher_mel"][1, :, 6] == 0)  # padding


def test_corrupt_or_stale_shards_are_pending_and_rewritten(tmp_path):
    store = SyntheticShardStore(str(tmp_path))
    specs = store.plan(TEXTS, 2, 0, GENERATION)
    _fill(store, specs)
    with open(store.shard_path(specs[0]), "r+b") as f:  # flip bytes in the middle: corrupt
        f.seek(200)
        f.write(b"\x00\x01\x02")
    os.remove(store.sidecar_path(specs[1]))  # a crash between shard and sidecar
    assert [s.index for s in store.pending(specs)] == [0, 1]
    changed = store.plan(TEXTS, 2, 1, GENERATION)  # other seeds: nothing reusable
    assert len(store.pending(changed)) == 3
    _fill(store, store.pending(specs))
    assert store.pending(specs) == []
    (tmp_path / ".tmp.abc.shard_00003.pt").write_bytes(b"half a shard")  # a writer killed mid-write
    store.write_manifest(specs, TEXTS, GENERATION)
    assert not any(name.startswith(".tmp.") for name in os.listdir(tmp_path))


def test_corrupt_shard_refused_when_loading(tmp_path):
    store = SyntheticShardStore(str(tmp_path))
    specs = store.plan(TEXTS, 5, 0, GENERATION)
    _fill(store, specs)
    store.write_manifest(specs, TEXTS, GENERATION)
    with open(store.shard_path(specs[0]), "ab") as f:
        f.write(b"junk")
    with pytest.raises(ValueError, match="does not match its checksum.*corrupt"):
        SyntheticUtterances(str(tmp_path))


def test_atomic_write_leaves_previous_file_on_crash(tmp_path):
    path = tmp_path / "file.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(str(path)) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["file.json"]


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    from nemo_distill.utils.files import write_text_atomic

    umask = os.umask(0o022)
    try:
        write_text_atomic(str(tmp_path / "a.txt"), "x")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_shard_sidecar_records_key_checksum_and_rank(tmp_path):
    store = SyntheticShardStore(str(tmp_path))
    spec = store.plan(TEXTS, 5, 0, GENERATION)[0]
    store.write(spec, _tensors(spec), rank=1)
    with open(store.sidecar_path(spec)) as f:
        sidecar = json.load(f)
    assert sidecar["key"] == spec.key and sidecar["rank"] == 1 and sidecar["num_items"] == 5
    with pytest.raises(ValueError, match="lacks"):
        store.write(spec, {"lengths": torch.zeros(5)})
