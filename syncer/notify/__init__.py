"""Notifications: Slack, Teams, signed webhooks, commit statuses, Kubernetes Events.

Where it sits: every change of an app is one history entry in ``syncer.state``; the
store hands each entry, inside the entry's own transaction, to ``router.Router``
(the store's ``Outbox``), which queues a delivery per matching rule and provider in the
same transaction. ``worker.Worker`` (threads of ``syncer run``; ``syncer sync`` drains
it before exiting) sends what is due, each provider in its own lane (``lanes``,
``message``, ``providers``, ``transport``, ``kube``), and retries with backoff.
``catalog`` is the shared vocabulary.

A kill between an event and its delivery loses nothing (the delivery is in state with
the event) and sends nothing twice unless the kill falls between a receiver's answer and
its record; each delivery carries a stable id (``X-Syncer-Delivery``) for that case.
"""
