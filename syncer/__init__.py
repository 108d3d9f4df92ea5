"""syncer: a GitOps continuous-deployment controller.

Git sources and container registries feed releases; releases roll out to Kubernetes
clusters according to update policies, pipelines and gateway policies.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
