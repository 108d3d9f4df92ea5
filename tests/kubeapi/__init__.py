"""A Kubernetes API server for tests: kubectl and the Python client accept it as a cluster.

Tests get clusters from the ``kube_clusters`` fixture (fixtures.py); people and scripts
run ``python -m tests.kubeapi serve``. See README.md in this directory.
"""
