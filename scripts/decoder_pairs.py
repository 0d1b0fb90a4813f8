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

"""A voice's decoder training data as one small file, and a decoder trained on it put back into the voice.

A decoder on a frozen front-end learns from ``(cond, coarse, mel)``: the front-end's teacher-forced encoding of
each recording, its coarse mel and the recording's mel. Those never change while the front-end is frozen, so they
can be made once (here, with NeMo) and the decoder trained anywhere torch runs (``scripts/train_decoder_on_pairs.py``,
e.g. on an accelerator machine without NeMo):

    python scripts/decoder_pairs.py pack --voice outputs/teacher_split/transplant/35min.nemo \
        --manifest outputs/demo/corpus/train_manifest.json --out outputs/pair_decoders/pairs.pt
    python scripts/decoder_pairs.py install --voice outputs/teacher_split/transplant/35min.nemo \
        --decoder outputs/pair_decoders/runs/p128x8_15min.pt --out outputs/pair_decoders/p128x8/15min.nemo

``pack`` makes the real-data shards of the recordings (:func:`~nemo_distill.distillation.recording_data.
generate_recording_data`, checksummed, reused on a rerun) in ``<out>.shards/`` and writes ``<out>``: the
conditioning run-length coded (it is the token encoding repeated by the durations, so this is exact), the mels
as float16 (``--float32`` keeps them whole), the voice's ``diffusion`` config and sha256. ``install`` writes a new
voice: ``--voice`` with its decoder replaced by the trained one (its ``diffusion`` config, so another denoiser size
restores), never over a file.
"""

import argparse
import os
import sys

PAIRS_FORMAT = 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    pack = commands.add_parser("pack", help="the voice's teacher-forced decoder data as one file")
    pack.add_argument("--voice", required=True, help="a DiffusionSpectrogramGenerator .nemo: its frozen front-end")
    pack.add_argument("--manifest", required=True, help="the recordings (a NeMo manifest, e.g. the train split)")
    pack.add_argument("--sup-data-path", default=None, help="pitch cache; default: sup_data beside the manifest")
    pack.add_argument("--out", required=True, help="the packed file (.pt, must not exist)")
    pack.add_argument("--float32", action="store_true", help="keep the mels in float32 (twice the size)")
    install = commands.add_parser("install", help="a decoder trained on packed data back into the voice")
    install.add_argument("--voice", required=True, help="the voice the data was packed from")
    install.add_argument("--decoder", required=True, help="a snapshot of scripts/train_decoder_on_pairs.py")
    install.add_argument("--out", required=True, help="the new voice's .nemo (must not exist)")
    args = parser.parse_args(argv)
    inputs = [args.voice, args.manifest] if args.command == "pack" else [args.voice, args.decoder]
    for path in inputs:
        if not os.path.isfile(path):
            parser.error(f"{path} does not exist")
    if os.path.exists(args.out):
        parser.error(f"{args.out} exists: it is left as it is (give another --out)")
    suffix = ".pt" if args.command == "pack" else ".nemo"
    if not args.out.endswith(suffix):
        parser.error(f"--out must end in {suffix}, got {args.out}")
    if args.command == "pack" and args.sup_data_path is None:
        args.sup_data_path = os.path.join(os.path.dirname(os.path.abspath(args.manifest)), "sup_data")
    return args


def run_length(cond):
    """``cond`` ``[D, T]`` as ``(columns [D, K], counts [K])``: each run of equal consecutive frames once."""
    import torch

    change = torch.ones(cond.shape[-1], dtype=torch.bool)
    change[1:] = (cond[:, 1:] != cond[:, :-1]).any(dim=0)
    starts = torch.nonzero(change).flatten()
    ends = torch.cat([starts[1:], torch.tensor([cond.shape[-1]])])
    return cond[:, starts], (ends - starts).to(torch.int32)


def pack(voice_path: str, manifest: str, sup_data_path: str, out: str, float32: bool = False) -> dict:
    """Writes ``out`` (see the module docstring); returns what it wrote."""
    import lightning.pytorch as pl
    import torch
    from omegaconf import OmegaConf

    from nemo_distill.data.recording_shards import RecordingUtterances
    from nemo_distill.distillation.recording_data import generate_recording_data
    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.parts.restore import restore_model
    from nemo_distill.utils.files import atomic_path, sha256_file

    voice_sha256 = sha256_file(voice_path)
    voice = restore_model(voice_path, DiffusionSpectrogramGenerator).eval()
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False)
    root = out + ".shards"
    generate_recording_data(voice, voice_sha256, manifest, sup_data_path, root, trainer)
    columns, counts, coarse, mel, lengths = [], [], [], [], []
    for cond, coarse_mel, real_mel, _ in RecordingUtterances(root):
        c, n = run_length(cond)
        assert torch.equal(torch.repeat_interleave(c, n.long(), dim=1), cond)  # exact, or refuse to pack
        columns.append(c), counts.append(n)
        coarse.append(coarse_mel), mel.append(real_mel), lengths.append(real_mel.shape[-1])
    dtype = torch.float32 if float32 else torch.float16
    data = {"format": PAIRS_FORMAT, "voice_sha256": voice_sha256, "manifest": os.path.abspath(manifest),
            "diffusion": OmegaConf.to_container(voice.cfg.diffusion, resolve=True),
            "mel_floor": float(voice.decoder.mel_floor), "lengths": torch.tensor(lengths),
            "cond_columns": torch.cat(columns, dim=1).to(dtype), "cond_counts": torch.cat(counts),
            "coarse": torch.cat(coarse, dim=1).to(dtype), "mel": torch.cat(mel, dim=1).to(dtype)}
    with atomic_path(out, overwrite=False) as tmp:
        torch.save(data, tmp)
    return data


def install(voice_path: str, decoder_path: str, out: str):
    """Writes ``out``: ``voice_path`` with the decoder of ``decoder_path`` (a snapshot of the pair trainer, made from
    data packed from this voice: refused otherwise); returns the model."""
    from omegaconf import OmegaConf, open_dict
    from train_decoder_on_pairs import read_snapshot, snapshot_weights  # scripts/train_decoder_on_pairs.py, beside

    from nemo_distill.models import DiffusionSpectrogramGenerator
    from nemo_distill.modules.mel_decoder import DiffusionMelDecoder
    from nemo_distill.parts.restore import restore_model
    from nemo_distill.utils.files import atomic_path, sha256_file

    snapshot = read_snapshot(decoder_path)
    if snapshot.get("voice_sha256") != sha256_file(voice_path):
        raise ValueError(f"{decoder_path} was trained on data packed from another voice than {voice_path}")
    voice = restore_model(voice_path, DiffusionSpectrogramGenerator)
    with open_dict(voice.cfg):
        voice.cfg.diffusion = OmegaConf.create(snapshot["diffusion"])
    decoder = DiffusionMelDecoder.from_config(voice.cfg.diffusion, mel_floor=voice.decoder.mel_floor)
    decoder.load_state_dict(snapshot_weights(snapshot), strict=True)
    voice.decoder = decoder
    with atomic_path(out, overwrite=False) as tmp:
        voice.save_to(tmp)
    return voice


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        if args.command == "pack":
            data = pack(args.voice, args.manifest, args.sup_data_path, args.out, args.float32)
            print(f"wrote {args.out}: {len(data['lengths'])} recordings, {int(data['lengths'].sum())} frames, "
                  f"{data['cond_columns'].shape[1]} conditioning runs, {os.path.getsize(args.out) / 2**20:.1f} MiB")
        else:
            install(args.voice, args.decoder, args.out)
            print(f"wrote {args.out}: {args.voice} with the decoder of {args.decoder}")
    except ValueError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
