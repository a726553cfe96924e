"""Test doubles that stand in for Lambda itself: a virtual clock, contexts, delivery, audits."""
