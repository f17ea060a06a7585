from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def connection_budget_check(app_configs, **kwargs):
    """The pools of every web worker, the worker dynos and release/one-off/scheduler dynos
    must fit."""
    if settings.DATABASE_PEAK_CONNECTIONS <= settings.DATABASE_CONNECTION_BUDGET:
        return []
    return [
        Error(
            f"Euterpe could open {settings.DATABASE_PEAK_CONNECTIONS} database connections "
            f"(WEB_DYNOS {settings.WEB_DYNOS} x WEB_CONCURRENCY {settings.WEB_CONCURRENCY} x "
            f"DATABASE_POOL_MAX_SIZE {settings.DATABASE_POOL_MAX_SIZE} + "
            f"WORKER_DYNOS {settings.WORKER_DYNOS} x {settings.WORKER_CONNECTIONS} + "
            f"{settings.DATABASE_RESERVED_CONNECTIONS} reserved), more than "
            f"DATABASE_CONNECTION_BUDGET {settings.DATABASE_CONNECTION_BUDGET}.",
            hint="Lower WEB_CONCURRENCY, DATABASE_POOL_MAX_SIZE or WORKER_DYNOS, or raise the "
            "budget.",
            id="euterpe.E001",
        )
    ]


@register()
def free_thread_check(app_configs, **kwargs):
    """A worker needs a thread that never waits on Spotify (SPOTIFY_WAITING_THREADS)."""
    if settings.WEB_THREADS >= 2:
        return []
    return [
        Warning(
            f"WEB_THREADS is {settings.WEB_THREADS}: while a request waits on Spotify (up to "
            f"{settings.SPOTIFY_PAGE_DEADLINE_SECONDS} s when it hangs), /health, warm pages "
            "and static files of that worker wait behind it.",
            hint="Run at least 2 threads per worker (WEB_THREADS=2 or more).",
            id="euterpe.W001",
        )
    ]
