"""Audience: who receives a campaign; phone normalisation and validation live in ``phones``."""
