"""The HTTP layer: the only part of the front end that imports Starlette."""
