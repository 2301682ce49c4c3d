"""Operator tools for an LwM2M device-management service (Pelion, Izuma): see docs/webhook.md."""
