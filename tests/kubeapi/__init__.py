"""``python -m tests.kubeapi serve``: real test clusters for people and scripts.

The command keeps the interface it had when this package was an imitation of the
Kubernetes API; it now starts real control planes (tests/kubecluster). See README.md.
"""
