"""Configuration: the schema (``model``), loading and validation (``loader``), secrets.

``loader.load(path)`` returns a validated ``model.Config`` or raises
``syncer.errors.ConfigError`` listing every problem; ``secrets.resolve`` turns a
``model.SecretRef`` into its value when a credential is actually needed.
"""
