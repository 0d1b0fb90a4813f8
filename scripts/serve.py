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

"""Serve an exported voice (``scripts/export.py --backend python``) with a real Triton server on CPU.

    python scripts/serve.py REPO [--http-port 8000] [--grpc-port 8001] [--instances N]

A thin entry point of :mod:`nemo_distill.cli.serve` (installed: ``nemo-distill-serve``).
"""

import sys

from nemo_distill.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
