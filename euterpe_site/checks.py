from django.conf import settings
from django.core.checks import Error, register


@register()
def connection_budget_check(app_configs, **kwargs):
    """The pools of every web worker plus release/one-off/scheduler dynos must fit."""
    if settings.DATABASE_PEAK_CONNECTIONS <= settings.DATABASE_CONNECTION_BUDGET:
        return []
    return [
        Error(
            f"Euterpe could open {settings.DATABASE_PEAK_CONNECTIONS} database connections "
            f"(WEB_DYNOS {settings.WEB_DYNOS} x WEB_CONCURRENCY {settings.WEB_CONCURRENCY} x "
            f"DATABASE_POOL_MAX_SIZE {settings.DATABASE_POOL_MAX_SIZE} + "
            f"{settings.DATABASE_RESERVED_CONNECTIONS} reserved), more than "
            f"DATABASE_CONNECTION_BUDGET {settings.DATABASE_CONNECTION_BUDGET}.",
            hint="Lower WEB_CONCURRENCY or DATABASE_POOL_MAX_SIZE, or raise the budget.",
            id="euterpe.E001",
        )
    ]
