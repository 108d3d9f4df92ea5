"""The controller's HTTP face: webhooks, JSON API, probes, metrics, leader election.

``server.http`` runs one ``ThreadingHTTPServer``; every request ends in a call on a
``port.ControllerPort`` that the controller core implements, so this package never
touches state, releases or clusters itself.
"""
