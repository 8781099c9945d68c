"""`support-agent doctor`: is the configuration usable, and can each backend be reached?"""

from __future__ import annotations

from agent.errors import SupportError
from agent.settings import Settings
from agent.views import Check


def run_checks(settings: Settings) -> list[Check]:
    """One Check per concern: config, database, Redis, model. Never raises."""
    shown = ", ".join(f"{key}={value}" for key, value in settings.describe().items())
    return [Check("config", True, shown), _database(settings), _redis(settings),
            _model(settings)]


def _database(settings: Settings) -> Check:
    from agent.persistence.migrations import schema_version
    from agent.persistence.savers import open_persistence

    try:
        persistence = open_persistence(settings)
    except SupportError as exc:
        return Check("database", False, str(exc))
    except Exception as exc:  # doctor reports, it does not crash
        return Check("database", False, f"{type(exc).__name__}: {exc}")
    try:
        version = schema_version(persistence.db)
        row = persistence.db.fetch_one("SELECT COUNT(*) AS n FROM support_threads")
        threads = row["n"] if row else 0
        where = settings.describe()["database"]
        note = " (nothing survives a restart)" if settings.saver == "memory" else ""
        return Check("database", True, f"{settings.saver} at {where}: schema v{version}, "
                                       f"{threads} threads{note}")
    finally:
        persistence.close()


def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check("redis", True, "not configured (optional: SUPPORT_REDIS_URL enables "
                                    "shared per-thread locks)")
    import redis

    where = settings.describe()["redis"]
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3,
                                      socket_timeout=3)
        client.ping()
        version = client.info("server").get("redis_version", "?")
        client.close()
        return Check("redis", True, f"reachable at {where} (Redis {version})")
    except redis.RedisError as exc:
        return Check("redis", False, f"cannot reach {where}: {exc}")


def _model(settings: Settings) -> Check:
    if settings.model_is_offline:
        return Check("model", True, "offline support model (deterministic, no network, no key)")
    from agent.model.factory import make_chat_model, model_error

    try:
        make_chat_model(settings)
    except SupportError as exc:
        return Check("model", False, str(exc))
    if settings.model_provider != "openai":  # only OpenAI-compatible endpoints are probed
        return Check("model", True, f"{settings.model} (its package is installed; not probed)")
    import openai

    name = settings.model.partition(":")[2]
    try:
        client = openai.OpenAI(api_key=settings.openai_api_key.get_secret_value(),
                               base_url=settings.openai_base_url, timeout=10, max_retries=0)
        available = {m.id for m in client.models.list()}
    except Exception as exc:
        failure = model_error(exc)
        return Check("model", False, str(failure) if failure else f"{type(exc).__name__}: {exc}")
    if name not in available:
        return Check("model", False, f"the endpoint does not list model {name!r} "
                                     f"(it lists {len(available)} models)")
    return Check("model", True, f"{settings.model} reachable at "
                                f"{settings.describe()['openai_base_url']}")
