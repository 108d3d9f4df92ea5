"""The controller's HTTP face: webhooks, JSON API, probes, metrics, leader election.

``server.http`` routes requests (``server.transport`` carries them, on uvicorn's h11
protocol, API and webhooks on separate listeners); every request ends in a call on a
``port.ControllerPort`` that the controller core implements, so this package never
touches state, releases or clusters itself.
"""
