"""The Dagster code location (see workspace.yaml): it merges the definitions of each layer.

Nothing here reads the environment or the lake at import time; assets call ``load_settings()`` when
they run.
"""

from __future__ import annotations

import dagster as dg

from orchestration.collect.assets import landing_events

defs = dg.Definitions(assets=[landing_events])
