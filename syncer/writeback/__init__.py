"""Git write-back: the images syncer chose, committed to the app's files in Git.

Sits beside ``syncer.rollout`` below the reconcile loop: ``syncer.reconcile`` decides
when Git should name a release's images, ``run.write`` commits and pushes through
``syncer.source`` (credentials, push races), ``targets`` says what changes in each file
(kustomization ``images:``, Helm values keys, plain manifests) and ``yamledit`` makes
those changes without touching the rest of the text.
"""
