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

"""Faults injected into what the package writes: each one detected and named, nothing already written lost.

Distillation folders (two runs at once, a rerun with other settings) are tested beside their fixtures in
``test_progressive_distillation.py``; ONNX repositories in ``test_deploy.py``."""

import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def voice_nemo(tmp_path_factory):
    """A tiny voice saved by this version (with its integrity record): the legacy fixture, re-saved."""
    from nemo_distill.models import DiffusionSpectrogramGenerator

    path = str(tmp_path_factory.mktemp("voice") / "voice.nemo")
    DiffusionSpectrogramGenerator.from_nemo(os.path.join(FIXTURES, "legacy_tts.nemo")).save_to(path)
    return path


def _weights_offset(path):
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("model_weights.ckpt"))
        return member.offset_data, member.size


def _flip(path, offset, count=256):
    with open(path, "r+b") as f:
        f.seek(offset)
        data = bytearray(f.read(count))
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in data))


def test_a_saved_nemo_carries_the_sha256_of_its_members(voice_nemo):
    import json

    from nemo_distill.parts.nemo_integrity import INTEGRITY_MEMBER, check_nemo_file

    with tarfile.open(voice_nemo) as tar:
        record = json.load(tar.extractfile(INTEGRITY_MEMBER))
    assert {name.lstrip("./") for name in record["sha256"]} >= {"model_config.yaml", "model_weights.ckpt"}
    assert check_nemo_file(voice_nemo) is True


def test_a_nemo_without_a_record_is_accepted_with_a_warning_that_names_it():
    from nemo_distill.parts.nemo_integrity import UnrecordedModelFileWarning, check_nemo_file

    legacy = os.path.join(FIXTURES, "legacy_tts.nemo")
    with pytest.warns(UnrecordedModelFileWarning, match=f"{legacy} has no integrity record"):
        assert check_nemo_file(legacy) is False  # read whole (truncation still found), accepted


def test_a_nemo_whose_weights_hold_python_objects_is_one_line_exit_2(voice_nemo, tmp_path, capsys):
    """A pickle of Python objects in place of the weights (no integrity record to catch it) ended in an
    UnpicklingError traceback through synthesize.py; it is a one-line error naming the file."""
    import argparse
    import io

    import torch

    from nemo_distill.cli.synthesize import main

    bad = tmp_path / "pickled.nemo"
    with tarfile.open(voice_nemo) as source, tarfile.open(bad, "w:") as target:
        for member in source.getmembers():
            if member.name.endswith("nemo_distill_integrity.json"):
                continue
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("model_weights.ckpt"):
                buffer = io.BytesIO()
                torch.save({"decoder.residual_scale": argparse.Namespace(payload="not a tensor")}, buffer)
                data, member.size = buffer.getvalue(), len(buffer.getvalue())
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    out = tmp_path / "synth"
    assert main([str(bad), "--text", "hello.", "--out-dir", str(out)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and f"{bad} holds data that are not plain weights" in error[0]
    assert not out.exists()


@pytest.mark.parametrize("into_record", [0, 100])
def test_a_nemo_cut_at_its_record_is_truncated_not_a_recordless_archive(voice_nemo, tmp_path, into_record):
    """Cut exactly where the integrity record starts (or 100 bytes into its header), with 256 flipped weight bytes:
    tar reads the rest as a complete archive without a record (accepted before); the missing end-of-archive
    marker names it truncated."""
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.nemo_integrity import INTEGRITY_MEMBER, CorruptModelFileError

    with tarfile.open(voice_nemo) as tar:
        record = next(m for m in tar.getmembers() if m.name == INTEGRITY_MEMBER)
    cut = tmp_path / "cut.nemo"
    cut.write_bytes(open(voice_nemo, "rb").read()[: record.offset + into_record])
    offset, size = _weights_offset(str(cut))
    _flip(str(cut), offset + size // 2)
    with pytest.raises(CorruptModelFileError, match=f"{cut} is truncated: .*end-of-archive marker"):
        DiffusionSpectrogramGenerator.from_nemo(str(cut))


def test_flipped_bytes_in_the_weights_are_detected_and_the_file_named(voice_nemo, tmp_path):
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.nemo_integrity import CorruptModelFileError

    corrupt = str(tmp_path / "student.nemo")
    shutil.copy(voice_nemo, corrupt)
    offset, size = _weights_offset(corrupt)
    _flip(corrupt, offset + size // 2)  # 256 bytes inside the weights: it restored and spoke before
    with pytest.raises(CorruptModelFileError, match=f"{corrupt} is corrupt: model_weights.ckpt differ"):
        DiffusionSpectrogramGenerator.from_nemo(corrupt)


@pytest.mark.parametrize("damage", ["truncated", "not_a_tar", "missing"])
def test_truncated_missing_or_foreign_files_are_one_line_errors_with_exit_code_2(voice_nemo, tmp_path, capsys, damage):
    from nemo_distill.cli.synthesize import main  # scripts/synthesize.py exits with what it returns

    path = tmp_path / "voice.nemo"
    if damage == "truncated":
        data = open(voice_nemo, "rb").read()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not_a_tar":
        path.write_bytes(b"PK\x03\x04 this is a zip file, not a .nemo" * 100)
    out = tmp_path / "synth"
    assert main([str(path), "--text", "hello.", "--out-dir", str(out)]) == 2
    error = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and str(path) in error[0]
    assert {"truncated": "not a readable .nemo archive", "not_a_tar": "not a readable .nemo archive",
            "missing": "no such .nemo file"}[damage] in error[0]
    assert not out.exists()  # refused before any file was written


def test_mixed_valid_and_invalid_texts_are_refused_before_any_file(voice_nemo, tmp_path, capsys):
    from nemo_distill.cli.synthesize import main

    out = tmp_path / "synth"
    assert main([voice_nemo, "--text", "hello.", "--text", "", "--text", "world.", "--out-dir", str(out)]) == 2
    assert "empty text" in capsys.readouterr().err
    assert not out.exists()


def test_a_text_of_several_pieces_gives_one_wav_of_their_joined_audio(voice_nemo, tmp_path):
    import soundfile as sf

    from nemo_distill.cli.synthesize import main
    from nemo_distill.models import DiffusionSpectrogramGenerator

    text = " ".join(f"Sentence number {i} is here, and it has a few more words." for i in range(12))  # ~690 chars
    model = DiffusionSpectrogramGenerator.from_nemo(voice_nemo)
    pieces = model.text_pieces(text)
    assert len(pieces) == 3 and all(len(p) <= 300 for p in pieces) and " ".join(pieces) == text
    assert main([voice_nemo, "--text", text, "--out-dir", str(tmp_path), "--steps", "1"]) == 0
    frames = sum(int(model.generate_spectrogram(model.parse_batch([p])[0], steps=1, seed=0,
                                                return_lengths=True)[1][0]) for p in pieces)
    audio, _ = sf.read(str(tmp_path / "000_diffusion.wav"))
    assert abs(len(audio) - frames * 256) <= 256 * len(pieces)  # Griffin-Lim's own length per piece, joined


def test_regenerated_shards_with_identical_tensors_have_identical_bytes(tmp_path):
    from nemo_distill.data.synthetic_shards import SyntheticShardStore
    from nemo_distill.utils.files import sha256_file

    (spec,) = SyntheticShardStore.plan(["one.", "two words."], 2, seed=0, generation={"steps": 8})
    generator = torch.Generator().manual_seed(0)
    tensors = {"text_ids": torch.tensor(spec.text_ids), "seeds": torch.tensor(spec.seeds),
               "lengths": torch.tensor([5, 4]), "cond": torch.randn(2, 3, 5, generator=generator),
               "coarse_mel": torch.randn(2, 4, 5, generator=generator),
               "teacher_mel": torch.randn(2, 4, 5, generator=generator)}
    hashes = []
    for name in ("a", "b"):  # two stores, two random temporary names
        store = SyntheticShardStore(str(tmp_path / name))
        store.write(spec, tensors)
        hashes.append(sha256_file(store.shard_path(spec)))
    assert hashes[0] == hashes[1]  # torch.save to a temporary file embedded its random name: a new sha256 each time


def test_a_busy_folder_is_refused_with_the_holders_pid_and_released_when_it_dies(tmp_path):
    from nemo_distill.utils.locks import FolderLockedError, folder_lock

    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from nemo_distill.utils.locks import folder_lock\n"
        f"with folder_lock({str(folder)!r}, what='distillation'):\n"
        "    print('locked', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLockedError, match=f"in use by another distillation \\(pid {holder.pid}"):
            with folder_lock(str(folder)):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(str(folder)):  # a killed holder leaves no stale lock
        pass


def test_a_finished_file_is_never_replaced_by_a_no_clobber_write(tmp_path):
    from nemo_distill.utils.files import atomic_path

    path = tmp_path / "student.nemo"
    path.write_text("finished")
    with pytest.raises(FileExistsError, match="never replaced"):
        with atomic_path(str(path), overwrite=False) as tmp:
            open(tmp, "w").write("another run's")
    assert path.read_text() == "finished" and os.listdir(tmp_path) == ["student.nemo"]


def test_flipped_bytes_in_a_shard_are_detected_and_the_shard_named(tmp_path):
    from nemo_distill.data.synthetic_shards import SyntheticShardStore, SyntheticUtterances

    texts = ["one.", "two words.", "three more words."]
    specs = SyntheticShardStore.plan(texts, 2, seed=0, generation={"steps": 8})
    store = SyntheticShardStore(str(tmp_path))
    generator = torch.Generator().manual_seed(0)
    for spec in specs:
        n = len(spec.text_ids)
        store.write(spec, {"text_ids": torch.tensor(spec.text_ids), "seeds": torch.tensor(spec.seeds),
                           "lengths": torch.full((n,), 5), "cond": torch.randn(n, 3, 5, generator=generator),
                           "coarse_mel": torch.randn(n, 4, 5, generator=generator),
                           "teacher_mel": torch.randn(n, 4, 5, generator=generator)})
    store.write_manifest(specs, texts, {"steps": 8})
    shard = store.shard_path(specs[1])
    _flip(shard, os.path.getsize(shard) // 2)
    with pytest.raises(ValueError, match=f"{shard} does not match its checksum.*corrupt"):
        SyntheticUtterances(str(tmp_path))
    assert store.pending(specs) == [specs[1]]  # the generation rewrites that one shard, and only it


def test_unspeakable_characters_are_warned_listed_refused_when_strict_and_nothing_to_speak_refused():
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.tokenizer_spec import tokenizer_spec
    from nemo_distill.runtime.onnx_client import CharTokenizer, UnspeakableTextWarning

    model = DiffusionSpectrogramGenerator.from_nemo(os.path.join(FIXTURES, "legacy_tts.nemo"))
    client = CharTokenizer(tokenizer_spec(model.vocab))  # the ONNX client's tokenizer, same rules
    text = "hello \u4f60\u597d \U0001F600"
    for check in (model.parse_batch, client.encode_batch):
        with pytest.warns(UnspeakableTextWarning, match="cannot speak \\['\u4f60', '\u597d', '\U0001F600'\\]"):
            check([text])
        with pytest.raises(ValueError, match="cannot speak"):
            check([text], strict=True)
        with pytest.raises(ValueError, match="nothing to speak"):  # a 0.24 s wav before
            check(["... !!! ?"])
    assert len(model.parse_batch(["hello"])[0][0]) == len(client.encode_batch(["hello"])[0])
