"""Relay: a self-hosted, multi-tenant WhatsApp gateway."""

__version__ = "0.1.0"
