"""The OpenAPI document of the HTTP API (document: /openapi.json and /docs), with the JSON
Schemas of its bodies (schemas) and of the upload routes' fields (request_fields)."""
