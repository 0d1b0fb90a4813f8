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

"""Moved: :mod:`nemo_distill.diffusion.settings` (the settings are pure configuration, checked beside
:class:`~nemo_distill.diffusion.SamplingOptions`). This name still imports them."""

from nemo_distill.diffusion.settings import DiffusionSettings, schedule_from_config

__all__ = ["DiffusionSettings", "schedule_from_config"]
