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

"""int8 quantisation of an exported graph with onnxruntime's quantiser (``export.py --quantize-vocoder``).

* ``dynamic``: weights stored as int8, activations quantised on the fly per call (``quantize_dynamic``); its
  ``Conv`` becomes ``ConvInteger``, which onnxruntime's CPU provider runs slower than float convolutions (measured
  for HiFi-GAN in the README).
* ``static``: weights and activations int8 with activation ranges calibrated beforehand on example inputs
  (``quantize_static``, QDQ format); its convolutions run as onnxruntime's int8 ``QLinearConv`` kernels.
"""

import os
from typing import Dict, Iterable, Optional

import numpy as np

__all__ = ["QUANTIZATION_MODES", "quantize_int8"]

QUANTIZATION_MODES = ("dynamic", "static")


def quantize_int8(float_path: str, int8_path: str, mode: str = "dynamic",
                  calibration: Optional[Iterable[Dict[str, np.ndarray]]] = None) -> str:
    """Write the int8 quantisation (``mode``: :data:`QUANTIZATION_MODES`) of the ONNX graph at ``float_path`` to
    ``int8_path``; ``static`` needs ``calibration``, a few input feeds ``{input name: array}``. Returns
    ``int8_path``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, \
        quantize_static

    if mode not in QUANTIZATION_MODES:
        raise ValueError(f"unknown quantisation {mode!r}: choose one of {', '.join(QUANTIZATION_MODES)}")
    if not os.path.isfile(float_path):
        raise FileNotFoundError(f"{float_path}: no ONNX graph to quantise")
    if mode == "dynamic":
        quantize_dynamic(float_path, int8_path, weight_type=QuantType.QInt8)
        return int8_path
    feeds = list(calibration or [])
    if not feeds:
        raise ValueError("static int8 quantisation needs calibration inputs (a few example feeds)")

    class _Feeds(CalibrationDataReader):
        def __init__(self):
            self._iterator = iter(feeds)

        def get_next(self):
            return next(self._iterator, None)

    quantize_static(float_path, int8_path, _Feeds(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return int8_path
