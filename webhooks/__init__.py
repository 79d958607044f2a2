"""Outbound webhooks: signing, durable delivery, retry policy and the URL guard."""
