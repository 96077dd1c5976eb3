"""Helpers of the tests planforge generates: contract checks (testing), event contracts, and the e2e session."""

__all__ = ["__version__"]

__version__ = "0.1.0"
