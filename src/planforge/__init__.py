"""planforge: one YAML manifest per feature, the single source of truth for a microservice integration."""

__all__ = ["__version__"]

__version__ = "0.1.0"
