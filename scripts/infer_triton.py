#!/usr/bin/env python
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

"""Text to wav from a running Triton server (``scripts/serve.py``), with ``tritonclient`` over HTTP or gRPC.

    python scripts/infer_triton.py localhost:8000 "Hello world." out.wav [--protocol http|grpc] [--seed 0] [--stream]

A thin entry point of :mod:`nemo_distill.runtime.triton_client` (installed: ``nemo-distill-infer-triton``).
"""

import sys

from nemo_distill.runtime.triton_client import main

if __name__ == "__main__":
    sys.exit(main())
