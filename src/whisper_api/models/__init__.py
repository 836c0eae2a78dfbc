"""Models as the operator manages them: what MODEL_DIR holds, and imports into it."""
