"""The sandbox platform: a feed, hot-list and shop web app with switchable violations and ground truth.

Nothing in algoaudit's harness or audits imports this package: they see the sandbox only through its
pages, as they would see a real platform. Its own tests, the benchmarks and the ``algoaudit sandbox
serve`` command use it.
"""

from ._app import create_app
from ._config import (
    AGE_BANDS,
    DEVICES,
    OCCUPATIONS,
    PERMISSIONS,
    SPENDING_LEVELS,
    Chaos,
    Faults,
    PriceDiscrimination,
    SandboxConfig,
    SandboxConfigError,
    Variants,
    load_faults,
)
from ._content import Catalog, load_catalog
from ._serve import serve
from ._truth import GroundTruth

__all__ = [
    "AGE_BANDS",
    "Catalog",
    "Chaos",
    "DEVICES",
    "Faults",
    "GroundTruth",
    "OCCUPATIONS",
    "PERMISSIONS",
    "PriceDiscrimination",
    "SPENDING_LEVELS",
    "SandboxConfig",
    "SandboxConfigError",
    "Variants",
    "create_app",
    "load_catalog",
    "load_faults",
    "serve",
]
