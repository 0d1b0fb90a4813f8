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

"""Triton model configurations (``config.pbtxt``) for the exported graphs, written as protobuf text.

The configs are built as plain dicts shaped like Triton's ``inference.ModelConfig`` message (``model_config.proto``)
and printed by :func:`to_pbtxt`; the tests parse every file against the real schema (``tritonclient``'s
``model_config_pb2``), so a field Triton does not know fails there, not on a server. No protobuf import here:
exporting must not need the Triton client.

A tensor is ``(name, data_type, dims)``; with ``max_batch_size > 0`` Triton prepends the batch axis itself, so
``dims`` leave it out, ``-1`` marks a variable axis, and a per-example scalar (``mel_lens`` ``[B]``) is declared as
``dims: [1]`` with ``reshape: { shape: [] }`` in the model that reads or writes it; an ensemble's tensors carry the
shape its models show from outside (``dims: [1]``, no reshape), which is what Triton checks when it loads one.
"""

from typing import Dict, List, Sequence, Tuple

__all__ = ["Enum", "TensorSpec", "ensemble_config", "onnx_model_config", "python_model_config", "to_pbtxt"]

TensorSpec = Tuple[str, str, Sequence[int]]  # (name, Triton data type such as "TYPE_FP32", dims without batch)


class Enum(str):
    """A protobuf enum value (printed unquoted)."""


def _scalar(value) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def to_pbtxt(message: Dict, indent: int = 0) -> str:
    """Print a dict as protobuf text: nested dicts are messages, lists of dicts repeated messages, lists of scalars
    repeated scalars, and a dict under a key ending in ``_map`` a protobuf map (one ``{ key value }`` entry each)."""
    pad = "  " * indent
    lines: List[str] = []
    for key, value in message.items():
        if key.endswith("_map") and isinstance(value, dict):
            for map_key, map_value in value.items():
                lines.append(f"{pad}{key} {{ key: {_scalar(map_key)} value: {_scalar(map_value)} }}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key} {{\n{to_pbtxt(value, indent + 1)}{pad}}}")
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join(f"{pad}  {{\n{to_pbtxt(v, indent + 2)}{pad}  }}" for v in value)
            lines.append(f"{pad}{key} [\n{items}\n{pad}]")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "".join(line + "\n" for line in lines)


def _tensor(spec: TensorSpec, reshape: bool = True) -> Dict:
    name, data_type, dims = spec
    tensor = {"name": name, "data_type": Enum(data_type), "dims": list(dims) or [1]}
    if not dims and reshape:  # a per-example scalar: Triton wants dims [1], the graph has no axis for it
        tensor["reshape"] = {"shape": []}
    return tensor


def _scheduling(max_batch_size: int, instances: int, dynamic_batching: bool, max_queue_delay_us: int) -> Dict:
    if instances < 1:
        raise ValueError(f"instances must be >= 1, got {instances}")
    config: Dict = {"instance_group": [{"kind": Enum("KIND_CPU"), "count": int(instances)}]}
    if dynamic_batching and max_batch_size > 0:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": int(max_queue_delay_us)}
    return config


def onnx_model_config(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                      max_batch_size: int, instances: int = 1, dynamic_batching: bool = False,
                      max_queue_delay_us: int = 2000) -> Dict:
    """An ``onnxruntime_onnx`` model served from ``<name>/1/model.onnx`` (``instances`` CPU instances; Triton's
    dynamic batcher, when asked, only joins requests whose shapes agree)."""
    return {
        "name": name,
        "platform": "onnxruntime_onnx",
        "max_batch_size": int(max_batch_size),
        "input": [_tensor(t) for t in inputs],
        "output": [_tensor(t) for t in outputs],
        **_scheduling(max_batch_size, instances, dynamic_batching, max_queue_delay_us),
    }


def python_model_config(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                        max_batch_size: int, instances: int = 1, dynamic_batching: bool = False,
                        max_queue_delay_us: int = 2000, decoupled: bool = False,
                        parameters: Dict[str, str] = None, ragged: bool = False) -> Dict:
    """A Python-backend model (``<name>/1/model.py``); ``decoupled`` models may send any number of responses per
    request (streaming); ``parameters`` reach the model as ``model_config["parameters"]``. Triton's dynamic batcher
    joins only requests of equal shapes unless ``ragged`` (variable-length inputs ``allow_ragged_batch``), for a
    model that pads requests of different lengths itself (:mod:`nemo_distill.runtime.triton_models`)."""
    inputs = [_tensor(t) for t in inputs]
    if ragged and dynamic_batching and max_batch_size > 0:  # the model pads requests of different lengths itself
        for tensor in inputs:
            if -1 in tensor["dims"]:
                tensor["allow_ragged_batch"] = True
    config = {
        "name": name,
        "backend": "python",
        "max_batch_size": int(max_batch_size),
        "input": inputs,
        "output": [_tensor(t) for t in outputs],
        **_scheduling(max_batch_size, instances, dynamic_batching, max_queue_delay_us),
    }
    if decoupled:
        config["model_transaction_policy"] = {"decoupled": True}
    if parameters:
        config.update(_parameters(parameters))
    return config


def _parameters(parameters: Dict[str, str]) -> Dict:
    # a protobuf map is, in text form, a repeated message of {key, value} entries
    return {"parameters": [{"key": key, "value": {"string_value": str(value)}} for key, value in parameters.items()]}


def ensemble_config(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                    steps: Sequence[Dict], max_batch_size: int, parameters: Dict[str, str] = None) -> Dict:
    """An ensemble: ``steps`` are ``{"model": name, "inputs": {model input: ensemble tensor}, "outputs": {model
    output: ensemble tensor}}``, in the order data flows (the pipeline :mod:`scripts.infer_onnx` runs);
    ``parameters`` are read by clients (``get_model_config``)."""
    return {**(_parameters(parameters) if parameters else {}),
        "name": name,
        "platform": "ensemble",
        "max_batch_size": int(max_batch_size),
        # an ensemble's tensors are the ones its steps see from outside: [B, 1], without the models' reshape
        "input": [_tensor(t, reshape=False) for t in inputs],
        "output": [_tensor(t, reshape=False) for t in outputs],
        "ensemble_scheduling": {
            "step": [
                {"model_name": step["model"], "model_version": -1, "input_map": dict(step["inputs"]),
                 "output_map": dict(step["outputs"])}
                for step in steps
            ]
        },
    }
