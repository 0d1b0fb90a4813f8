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

"""Text to wav with an exported model repository (``scripts/export.py``), onnxruntime and numpy only: no torch, no
NeMo. It runs the repository the way Triton's ensemble would: the character tokenizer from ``tokenizer.json``, the
starting noise from ``--seed``, then every model of ``deploy.json``'s pipeline in order, feeding each the tensors
its ``input_map`` names.

    python -m nemo_distill.runtime.onnx_client REPO "Hello world." out.wav [--seed 0] [--threads 1]
    nemo-distill-infer-onnx REPO "Hello world." out.wav          # the same, as installed by pip
    python scripts/infer_onnx.py REPO "Hello world." out.wav     # the same, from a checkout

The noise is ``max_frames_per_token * len(tokens)`` frames (the client does not know the utterance's length
before the front-end runs; the sampler graph crops it), drawn with ``numpy.random.default_rng(seed)``: the same
noise given to ``DiffusionSpectrogramGenerator.generate_spectrogram(noise=...)`` gives the same mel.
"""

import argparse
import json
import os
import sys
import unicodedata
import wave
from typing import Dict, List, Sequence

import numpy as np

__all__ = ["CharTokenizer", "OnnxTTSPipeline", "main", "starting_noise", "write_wav"]

_SYNOGLYPHS = {"\u2019": "'", "\u201d": '"', "\u201c": '"'}  # NeMo's SYNOGLYPH2ASCII


def _english(text: str) -> str:  # NeMo's english_text_preprocessing
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return "".join(_SYNOGLYPHS.get(c, c) for c in text).lower()


def _any_locale(text: str) -> str:  # NeMo's any_locale_text_preprocessing
    return "".join("'" if c == "\u2019" else c for c in unicodedata.normalize("NFC", text))


_PREPROCESSING = {"english": _english, "any_locale": _any_locale}


def starting_noise(tokens: np.ndarray, n_mels: int, max_frames_per_token: int, seed: int) -> np.ndarray:
    """Standard normal ``[B, n_mels, L * max_frames_per_token]`` float32 from ``seed``: enough frames for any
    utterance of ``L`` tokens (the sampler graph crops it to the utterance's length)."""
    rng = np.random.default_rng(seed)
    frames = tokens.shape[1] * int(max_frames_per_token)
    return rng.standard_normal((tokens.shape[0], int(n_mels), frames), dtype=np.float32)


class CharTokenizer:
    """NeMo's ``BaseCharsTokenizer.encode`` from its ``tokenizer.json`` description."""

    def __init__(self, spec: Dict):
        if spec.get("type") != "chars":
            raise ValueError(f"unsupported tokenizer type {spec.get('type')!r}: only character tokenizers")
        if spec["text_preprocessing"] not in _PREPROCESSING:
            raise ValueError(f"unknown text preprocessing {spec['text_preprocessing']!r}")
        self.tokens: List[str] = spec["tokens"]
        self.token_ids = {token: i for i, token in enumerate(self.tokens)}
        self.pad, self.space_id = spec["pad"], spec["space"]
        self.punct, self.punct_list = spec["punct"], set(spec["punct_list"])
        self.pad_with_space = spec["pad_with_space"]
        self.preprocess = _PREPROCESSING[spec["text_preprocessing"]]

    def encode(self, text: str) -> List[int]:
        space, chars = self.tokens[self.space_id], []
        for c in self.preprocess(text):
            if c == space and chars and chars[-1] != space:
                chars.append(c)
            elif (c.isalnum() or c == "'") and c in self.token_ids:
                chars.append(c)
            elif c in self.punct_list and self.punct:
                chars.append(c)
        while chars and chars[-1] == space:
            chars.pop()
        if self.pad_with_space:
            chars = [space] + chars + [space]
        return [self.token_ids[c] for c in chars]

    def encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> ``[B, L]`` int64 ids padded with the pad id; ValueError for empty or unsupported text."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("no text given")
        rows = []
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"empty text: {text!r}")
            ids = self.encode(text)
            if not [i for i in ids if i != self.space_id]:
                raise ValueError(f"text {text!r} has no character the tokenizer supports")
            rows.append(ids)
        batch = np.full((len(rows), max(len(r) for r in rows)), self.pad, dtype=np.int64)
        for i, row in enumerate(rows):
            batch[i, : len(row)] = row
        return batch


class OnnxTTSPipeline:
    """The repository's ensemble, run step by step with onnxruntime sessions (one per model)."""

    def __init__(self, repo: str, threads: int = 1, providers=None, spin: bool = False):
        import onnxruntime as ort

        manifest_path = os.path.join(repo, "deploy.json")
        if not os.path.isfile(manifest_path):
            raise FileNotFoundError(f"{manifest_path} not found: {repo} is not a repository written by "
                                    "scripts/export.py")
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        with open(os.path.join(repo, self.manifest["tokenizer"])) as f:
            self.tokenizer = CharTokenizer(json.load(f))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        if not spin:  # spinning workers wait busily for work: on a machine whose cores are shared they steal them
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sessions = {
            step["model"]: ort.InferenceSession(os.path.join(repo, self.manifest["models"][step["model"]]["file"]),
                                                options, providers=providers or ["CPUExecutionProvider"])
            for step in self.manifest["pipeline"]
        }

    def noise(self, tokens: np.ndarray, seed: int = 0) -> np.ndarray:
        """The starting noise for ``tokens`` (:func:`starting_noise` with this repository's settings)."""
        return starting_noise(tokens, self.manifest["n_mels"], self.manifest["max_frames_per_token"], seed)

    def run_steps(self, tensors: Dict[str, np.ndarray], steps: Sequence[Dict]) -> Dict[str, np.ndarray]:
        """Run ensemble ``steps`` (entries of ``deploy.json``'s pipeline) on ``tensors`` (by ensemble tensor name);
        returns ``tensors`` with every step's outputs added."""
        for step in steps:
            feeds = {name: tensors[source] for name, source in step["inputs"].items()}
            outputs = self.sessions[step["model"]].run(list(step["outputs"]), feeds)
            tensors.update({step["outputs"][name]: value for name, value in zip(step["outputs"], outputs)})
        return tensors

    def run(self, tokens: np.ndarray, noise: np.ndarray) -> Dict[str, np.ndarray]:
        """All ensemble tensors (``MEL``, ``MEL_LENS``, ``AUDIO``...) for ``TOKENS`` ``[B, L]``, ``NOISE``."""
        tensors = {"TOKENS": tokens.astype(np.int64), "NOISE": noise.astype(np.float32)}
        return self.run_steps(tensors, self.manifest["pipeline"])

    def synthesize(self, texts, seed: int = 0) -> List[np.ndarray]:
        """Texts -> one float32 waveform per text, cropped to its own length."""
        tokens = self.tokenizer.encode_batch(texts)
        tensors = self.run(tokens, self.noise(tokens, seed))
        hop = int(self.manifest["hop_length"])
        return [tensors["AUDIO"][i, 0, : int(n) * hop] for i, n in enumerate(tensors["MEL_LENS"])]


def write_wav(path: str, audio: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono wav (standard library ``wave``), written to a temporary file and renamed."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    tmp = f"{path}.tmp-{os.getpid()}"
    with wave.open(tmp, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="model repository written by scripts/export.py")
    parser.add_argument("text", help="text to speak")
    parser.add_argument("output", help="output .wav")
    parser.add_argument("--seed", type=int, default=0, help="seed of the starting noise")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args(argv)
    try:
        pipeline = OnnxTTSPipeline(args.repo, threads=args.threads)
        (audio,) = pipeline.synthesize([args.text], seed=args.seed)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_wav(args.output, audio, pipeline.manifest["sample_rate"])
    print(f"{args.output}: {len(audio) / pipeline.manifest['sample_rate']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
