"""Request and response bodies as the OpenAPI schema states them, one module per resource."""
