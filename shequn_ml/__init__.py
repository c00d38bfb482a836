"""shequn_ml: silence, churn and KOL models for online communities (社群)."""

__version__ = "0.1.0"
