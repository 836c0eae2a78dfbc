"""The HTTP routes, one module per concern."""

from starlette.routing import BaseRoute

from whisper_api.routes import account, service, tasks

ROUTES: list[BaseRoute] = [*tasks.ROUTES, *service.ROUTES, *account.ROUTES]
