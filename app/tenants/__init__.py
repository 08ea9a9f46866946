"""Tenants and their API keys (the registry), and the per-tenant request rate; no HTTP here."""
