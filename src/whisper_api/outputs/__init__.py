"""Rendering results: pure functions of a job and its transcript."""
