"""Reconciling one app: source snapshot -> image decisions -> release -> rollout plan ->
render and apply per cluster -> health -> rollback, recorded in state.

Called by ``syncer.controller`` (scheduled and webhook-triggered runs) and the one-shot
commands (``sync``, ``plan``); calls down into ``syncer.rollout`` and ``syncer.apply``
through ``parts.Parts``.
"""
