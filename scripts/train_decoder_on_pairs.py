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

"""Train a diffusion decoder on packed decoder data (``scripts/decoder_pairs.py pack``), on any torch device.

    python scripts/train_decoder_on_pairs.py --data outputs/pair_decoders/pairs.pt --name wide \
        --set denoiser.channels=192 --set denoiser.num_blocks=12 --minutes 25 --snapshot-minutes 10 15 \
        --out-dir outputs/pair_decoders/runs

What ``scripts/train_diffusion_tts.py model.frontend.freeze=true`` trains, without the front-end's forward and
without NeMo's training stack (only ``nemo_distill.modules``; made for an accelerator machine that has torch but
not NeMo): the voice's ``DiffusionMelDecoder`` (its ``diffusion`` config, changed by ``--set KEY=VALUE``) on
batches of ``--batch-size`` recordings drawn without replacement each epoch, its own ``loss`` (random
``max_frames`` window, ``cond_dropout``, the running ``residual_scale``), AdamW with NeMo's ``NoamAnnealing``
(``d_model`` 1: ``lr * min(step^-0.5, step * warmup^-1.5)``, the ``diffusion_tts_small`` preset's 0.015 / 100 by
default), gradients clipped at the presets' 1000. Two differences: the front-end ran in eval mode when the data
was packed (no dropout on the encoding, as at inference), and the mels are the packed float16 ones. Stops after
``--minutes`` of training or ``--max-steps``; writes a snapshot ``<out-dir>/<name>_<step>.pt`` at each of
``--snapshot-steps`` and at the end and ``<name>_<m>min.pt`` after each of ``--snapshot-minutes``
(``scripts/decoder_pairs.py install`` puts one into the voice), and ``<name>.jsonl``: the mean loss every
``--log-every`` steps with the seconds spent. On a CPU it is not much faster: 128 x 8 at one thread ran 80-94 steps
a minute here (2026-12-04), the NeMo training 54-82 on other days of the same machine.
"""

import argparse
import json
import math
import os
import time

import torch
import yaml


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a file of scripts/decoder_pairs.py pack")
    parser.add_argument("--name", required=True, help="the variant's name (snapshot and log file names)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a change to the voice's diffusion config, e.g. denoiser.channels=256 (YAML value)")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--minutes", type=float, default=None, help="training wall minutes")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--snapshot-steps", type=int, nargs="*", default=[])
    parser.add_argument("--snapshot-minutes", type=float, nargs="*", default=[],
                        help="also a snapshot <name>_<m>min.pt after each of these training minutes")
    parser.add_argument("--init", default=None, metavar="SNAPSHOT",
                        help="go on from a snapshot of this script: its weights, config and step count (the learning "
                             "rate schedule continues; AdamW's moments start again); --set is not allowed with it")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.015)
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--weight-decay", type=float, default=1e-6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--save-dtype", default="float32", choices=["float32", "float16"],
                        help="float16 halves a snapshot (for a size limit on moving files)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.data):
        parser.error(f"{args.data} does not exist")
    if args.minutes is None and args.max_steps is None:
        parser.error("give --minutes or --max-steps (or both)")
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
    if args.init is not None and not os.path.isfile(args.init):
        parser.error(f"--init {args.init}: does not exist")
    if args.init is not None and args.set:
        parser.error(f"--init {args.init}: the snapshot's config is used, --set is not allowed with it")
    if args.init is None and os.path.exists(os.path.join(args.out_dir, f"{args.name}.jsonl")):
        parser.error(f"a run named {args.name} is in {args.out_dir} already: give another --name, or --init with "
                     "one of its snapshots to go on from it")
    if "/" in args.name or not args.name:
        parser.error(f"--name must be a plain file name, got {args.name!r}")
    return args


def noam_lr(step: int, lr: float, warmup_steps: int) -> float:
    """NeMo's ``NoamAnnealing`` with ``d_model`` 1 at optimiser step ``step`` (>= 1)."""
    step = max(1, step)
    return lr * min(step ** -0.5, step * warmup_steps ** -1.5)


class PackedRecordings:
    """The packed data on ``device``, padded: ``cond [N, D, T]``, ``coarse``/``mel`` ``[N, n_mels, T]`` (float32),
    ``lengths [N]``; :meth:`batch` cuts a batch to its longest recording."""

    def __init__(self, data: dict, device: torch.device):
        lengths = data["lengths"].long()
        counts = data["cond_counts"].long()
        n, longest = len(lengths), int(lengths.max())
        self.lengths = lengths.to(device)
        columns = torch.repeat_interleave(data["cond_columns"].float(), counts, dim=1)  # [D, sum T]
        self.cond = self._pad(columns, lengths, n, longest, device)
        self.coarse = self._pad(data["coarse"].float(), lengths, n, longest, device)
        self.mel = self._pad(data["mel"].float(), lengths, n, longest, device)

    @staticmethod
    def _pad(flat: torch.Tensor, lengths: torch.Tensor, n: int, longest: int, device) -> torch.Tensor:
        out = torch.zeros(n, flat.shape[0], longest)
        start = 0
        for i, length in enumerate(lengths.tolist()):
            out[i, :, :length] = flat[:, start: start + length]
            start += length
        if start != flat.shape[1]:
            raise ValueError(f"the packed data holds {flat.shape[1]} frames, its lengths {start}")
        return out.to(device)

    def __len__(self):
        return len(self.lengths)

    def batch(self, index: torch.Tensor):
        lengths = self.lengths[index]
        frames = int(lengths.max())
        return self.cond[index, :, :frames], self.coarse[index, :, :frames], self.mel[index, :, :frames], lengths


def build_decoder(data: dict, changes):
    """The voice's ``DiffusionMelDecoder`` from its packed ``diffusion`` config with ``changes`` (KEY=VALUE)."""
    from omegaconf import OmegaConf

    from nemo_distill.modules.mel_decoder import DiffusionMelDecoder

    diffusion = OmegaConf.create(data["diffusion"])
    for item in changes:
        key, value = item.split("=", 1)
        if OmegaConf.select(diffusion, key, default="__missing__") == "__missing__":
            raise ValueError(f"--set {item}: the diffusion config has no key {key!r}")
        OmegaConf.update(diffusion, key, yaml.safe_load(value), merge=False)
    return DiffusionMelDecoder.from_config(diffusion, mel_floor=data["mel_floor"]), diffusion


def save_snapshot(path: str, decoder, diffusion, data: dict, step: int, seconds: float, args) -> None:
    from omegaconf import OmegaConf

    from nemo_distill.utils.files import atomic_path

    dtype = getattr(torch, args.save_dtype)
    state = {k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu())
             for k, v in decoder.state_dict().items()}
    snapshot = {"decoder": state, "diffusion": OmegaConf.to_container(diffusion, resolve=True),
                "voice_sha256": data["voice_sha256"], "step": step, "seconds": seconds, "name": args.name,
                "batch_size": args.batch_size, "lr": args.lr, "warmup_steps": args.warmup_steps,
                "changes": list(args.set), "device": torch.cuda.get_device_name() if "cuda" in args.device else "cpu"}
    with atomic_path(path, overwrite=False) as tmp:  # complete or absent, and never written over
        torch.save(snapshot, tmp)


def read_snapshot(path: str) -> dict:
    """A snapshot written by ``save_snapshot``; another file is refused, named."""
    snapshot = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(snapshot, dict) or "decoder" not in snapshot or "diffusion" not in snapshot:
        raise ValueError(f"{path} is not a snapshot of scripts/train_decoder_on_pairs.py")
    return snapshot


def snapshot_weights(snapshot: dict) -> dict:
    """The decoder's state dict of a snapshot, its floating tensors in float32 (--save-dtype may have halved them)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in snapshot["decoder"].items()}


def train(args) -> dict:
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    data = torch.load(args.data, map_location="cpu", weights_only=False)
    step = 0
    if args.init is not None:
        snapshot = read_snapshot(args.init)
        if snapshot.get("voice_sha256") != data["voice_sha256"]:
            raise ValueError(f"--init {args.init} was trained on data packed from another voice")
        data = {**data, "diffusion": snapshot["diffusion"]}
        decoder, diffusion = build_decoder(data, [])
        decoder.load_state_dict(snapshot_weights(snapshot))
        step = int(snapshot["step"])
    else:
        decoder, diffusion = build_decoder(data, args.set)
    decoder = decoder.to(device).train()
    recordings = PackedRecordings(data, device)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=args.lr, betas=(0.9, 0.999),
                                  weight_decay=args.weight_decay)
    os.makedirs(args.out_dir, exist_ok=True)
    log_path = os.path.join(args.out_dir, f"{args.name}.jsonl")
    snapshots, pending = [], sorted(set(args.snapshot_steps))
    pending_minutes = sorted(set(args.snapshot_minutes))
    limit_s = args.minutes * 60 if args.minutes is not None else math.inf
    max_steps = args.max_steps or 10 ** 12  # counted from the start of the first run (--init carries it on)
    order, cursor, losses = torch.randperm(len(recordings), device=device), 0, []
    first_step = step
    start = time.time()

    def take_snapshot(file_name: str) -> None:
        path = os.path.join(args.out_dir, file_name)
        save_snapshot(path, decoder, diffusion, data, step, time.time() - start, args)
        snapshots.append(path)

    with open(log_path, "a", encoding="utf-8") as log:
        while step < max_steps and time.time() - start < limit_s:
            if cursor + args.batch_size > len(recordings):
                order, cursor = torch.randperm(len(recordings), device=device), 0
            cond, coarse, mel, lengths = recordings.batch(order[cursor: cursor + args.batch_size])
            cursor += args.batch_size
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = noam_lr(step, args.lr, args.warmup_steps)
            loss = decoder.loss(cond, coarse, mel, lengths)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1000.0)  # the presets' gradient_clip_val
            optimizer.step()
            losses.append(loss.detach())
            if step % args.log_every == 0:
                mean = float(torch.stack(losses).mean())
                losses = []
                if not math.isfinite(mean):
                    raise RuntimeError(f"{args.name}: non-finite loss by step {step}")
                row = {"step": step, "seconds": round(time.time() - start, 1), "loss": mean,
                       "residual_scale": float(decoder.residual_scale),
                       "lr": noam_lr(step, args.lr, args.warmup_steps)}
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(f"{args.name} {json.dumps(row)}", flush=True)
            if pending and step == pending[0]:
                pending.pop(0)
                take_snapshot(f"{args.name}_{step}.pt")
            if pending_minutes and time.time() - start >= pending_minutes[0] * 60:
                take_snapshot(f"{args.name}_{pending_minutes.pop(0):g}min.pt")
    seconds = time.time() - start
    if os.path.join(args.out_dir, f"{args.name}_{step}.pt") not in snapshots:
        take_snapshot(f"{args.name}_{step}.pt")
    summary = {"name": args.name, "steps": step, "seconds": round(seconds, 1),
               "steps_per_s": round((step - first_step) / seconds, 2),
               "snapshots": snapshots}
    print(json.dumps(summary), flush=True)
    return summary


def main(argv=None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
