"""Settings, read once from SUPPORT_* environment variables, a .env file and CLI overrides."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent.errors import ConfigError

SaverKind = str  # the name of a module in agent/backends/ (see saver_kinds)
_BACKENDS_DIR = Path(__file__).resolve().parent / "backends"
_PREFERRED_ORDER = ("memory", "sqlite", "postgres")
BusyPolicy = Literal["wait", "fail"]
RetentionStrategy = Literal["delete", "keep_latest"]
BlobStoreKind = Literal["auto", "folder", "postgres", "s3"]
AuthMode = Literal["local", "oidc"]
# Savers whose data lives inside this one process or machine (the Quickstart). Anything else is a
# database a team shares, where local sign-in (anyone picks any user) must not be the default.
EMBEDDED_SAVERS = ("sqlite", "memory")


def saver_kinds() -> tuple[str, ...]:
    """The saver kinds there are: one module each in agent/backends/ (listed, not imported)."""
    # A kind is a module that registers an opener; its helpers (pools, retention, blob stores)
    # live beside it without becoming kinds. Read, not imported: listing loads no driver.
    found = {path.stem for path in _BACKENDS_DIR.glob("*.py")
             if "@backend_kind(" in path.read_text(encoding="utf-8")}
    return tuple(sorted(found, key=lambda kind: (kind not in _PREFERRED_ORDER,
                                                  _PREFERRED_ORDER.index(kind)
                                                  if kind in _PREFERRED_ORDER else 0, kind)))


# `offline`, or `<provider>:<model>` as LangChain's init_chat_model takes it (openai:gpt-4.1-mini,
# anthropic:claude-sonnet-4-5, ollama:llama3.1); the model part may hold `:`, `/` and `.`.
_MODEL_PATTERN = re.compile(r"^(offline|[a-z][a-z0-9_]*:[\w.\-/:@]+)$")
MODEL_HELP = ("'offline' or '<provider>:<model>' (a LangChain provider), e.g. openai:gpt-4.1-mini, "
              "anthropic:claude-sonnet-4-5, ollama:llama3.1")

# The settings that also have a command-line flag (--saver, --sqlite-path, ...), with its help.
# The CLI builds its flags from this, and errors name a flag only when it is here.
COMMAND_LINE_SETTINGS = {
    "saver": "memory | sqlite | postgres (SUPPORT_SAVER)",
    "sqlite_path": "SQLite file (SUPPORT_SQLITE_PATH)",
    "postgres_url": "PostgreSQL URL (SUPPORT_POSTGRES_URL)",
    "redis_url": "Redis URL (SUPPORT_REDIS_URL)",
    "model": "offline | <provider>:<model>, e.g. openai:gpt-4.1-mini (SUPPORT_MODEL)",
    "crash_at": "kill this process at a named point, for demos and tests (SUPPORT_CRASH_AT)",
}


class Settings(BaseSettings):
    """Everything the app can be configured with; field names map to SUPPORT_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="SUPPORT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    saver: SaverKind = "sqlite"
    sqlite_path: Path = Path("data/support-agent.db")
    postgres_url: str = Field(default="postgresql://postgres@127.0.0.1:5432/postgres",
                              repr=False)  # may hold a password
    postgres_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str | None = None
    redis_key_prefix: str = Field(default="support-agent:", min_length=1, max_length=100)
    # Redis for live updates (pub/sub) when it must differ from redis_url; unset: redis_url.
    # Lets locks stay in the database, so a Redis outage only slows pages down to polling.
    live_redis_url: str | None = None
    # Whether a new database starts with the demo shop. Unset: yes for the embedded SQLite
    # file and the memory saver (the Quickstart), no for PostgreSQL (`seed --demo` asks).
    seed_demo: bool | None = None

    # Sign-in: `local` lets anyone pick a user (fine on your own machine); `oidc` signs people in
    # through the identity provider in .streamlit/secrets.toml. Unset: local for the embedded
    # savers, oidc for a shared database. Local mode on a shared database is refused by the UI
    # unless allow_local_auth_on_shared_db says it is meant (it then shows a loud banner).
    auth: AuthMode = Field(default=None)  # type: ignore[assignment]  # filled in by _auth_mode
    allow_local_auth_on_shared_db: bool = False

    model: str = "offline"
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SUPPORT_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SUPPORT_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    # Insights' cost estimate: dollars per million tokens in/out by model (empty: no costs).
    model_prices: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=dict)

    # Conversation bounds: summarise folds old turns into `summary`; prune is the hard cap.
    summary_trigger_messages: int = Field(default=20, ge=0)
    summary_keep_messages: int = Field(default=12, ge=2)
    prune_max_messages: int = Field(default=40, ge=4)
    prune_max_chars: int = Field(default=40_000, ge=1_000)
    max_message_chars: int = Field(default=4_000, ge=1, le=100_000)

    # The registry's sensitive tools unless set; read when settings are built, so a tool
    # registered by then (a plug-in, a test) is covered.
    approval_required: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(_tool_registry().sensitive_names())
    )

    # Per-thread locking (see agent/persistence/locks.py).
    busy_policy: BusyPolicy = "wait"
    busy_wait_seconds: float = Field(default=30.0, ge=0)
    lock_ttl_seconds: float = Field(default=120.0, gt=0.5)

    # Retention (`support-agent gc`, agent/backends/retention.py): all off unless set.
    # keep_checkpoints: the newest K checkpoints of each thread are kept (never fewer than an
    # open approval needs); idle_days: threads untouched this long get `retention_strategy`
    # (delete: thread and checkpoints go; keep_latest: only the latest checkpoint stays).
    retention_keep_checkpoints: int | None = Field(default=None, ge=1)
    retention_idle_days: float | None = Field(default=None, gt=0)
    retention_strategy: RetentionStrategy = "keep_latest"
    # In-process sweeper: run retention every this many minutes in each app process (unset: only
    # `support-agent gc` runs it, e.g. from cron).
    retention_sweep_minutes: float | None = Field(default=None, gt=0)
    # Rows deleted per transaction on PostgreSQL, so a sweep never blocks live turns for long.
    retention_batch_size: int = Field(default=500, ge=1, le=100_000)

    # Checkpoint blobs: compressed (zstd) above 1 KB when that saves at least 10%; encrypted
    # with AES (LangGraph's EncryptedSerializer) when a key of 16, 24 or 32 bytes is set.
    compress_checkpoints: bool = False
    encryption_key: SecretStr | None = Field(default=None, repr=False)

    # Attachments: stored by reference in a blob store; the state holds only the reference.
    # auto: a folder beside the SQLite file, a table in PostgreSQL, memory for the memory saver.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)
    blob_store: BlobStoreKind = "auto"
    blob_dir: Path | None = None  # folder store's place; unset: <sqlite file>.blobs/
    s3_bucket: str | None = None  # for blob_store=s3 (credentials: the usual AWS_* variables)
    s3_endpoint_url: str | None = None  # an S3-compatible server (MinIO, Ceph, ...)
    s3_prefix: str = "attachments/"

    # Crash injection for tests and the crash-and-resume demo (agent/crash.py); unset = inert.
    crash_at: str | None = None

    @field_validator("saver")
    @classmethod
    def _known_saver(cls, value: str) -> str:
        kinds = saver_kinds()
        if value not in kinds:
            raise ValueError(f"use one of {', '.join(kinds)} (one per module in agent/backends/)")
        return value

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_mode(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            # A saver that failed its own validation is treated as shared: the safer guess.
            return "local" if info.data.get("saver") in EMBEDDED_SAVERS else "oidc"
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if not _MODEL_PATTERN.match(value):
            raise ValueError(f"use {MODEL_HELP}")
        return value

    @field_validator("openai_api_key", "openai_base_url", mode="before")
    @classmethod
    def _blank_openai_is_unset(cls, value: Any) -> Any:
        # Compose files and .env templates write `OPENAI_API_KEY=` for "not set"; an empty key
        # sent to the endpoint only fails later, with a traceback from the client library.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("approval_required", mode="before")
    @classmethod
    def _split_tool_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("approval_required")
    @classmethod
    def _known_tools(cls, value: list[str]) -> list[str]:
        known = _tool_registry().names()
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown tool {', '.join(unknown)}; choose from {', '.join(known)}")
        return value

    @field_validator("model_prices", mode="before")
    @classmethod
    def _price_table(cls, value: Any) -> Any:
        if isinstance(value, str):
            from agent.analytics.prices import parse_price_table

            return parse_price_table(value)
        return value

    @field_validator("crash_at")
    @classmethod
    def _known_crash_point(cls, value: str | None) -> str | None:
        if not value:
            return None
        from agent.crash import parse_crash_point

        parse_crash_point(value)
        return value

    @field_validator("seed_demo", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sqlite_path")
    @classmethod
    def _sqlite_folder_reachable(cls, value: Path, info: ValidationInfo) -> Path:
        # Opening the file creates its own folder (data/ on a fresh checkout) and no more: a
        # missing folder further up is more likely a typo or an unmounted volume than a wish
        # for a new directory tree.
        if info.data.get("saver") != "sqlite" or value.parent.exists():
            return value
        missing = value.parent
        while not missing.parent.exists():
            missing = missing.parent
        if missing != value.parent:
            raise ValueError(f"the folder {missing} does not exist; create it or choose another "
                             "path (only the file's own folder is created)")
        return value

    @field_validator("postgres_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @field_validator("encryption_key", "s3_bucket", "s3_endpoint_url", "blob_dir",
                     "retention_keep_checkpoints", "retention_idle_days",
                     "retention_sweep_minutes", mode="before")
    @classmethod
    def _blank_optional_is_unset(cls, value: Any) -> Any:
        # Compose passes `${NAME:-}` through: an empty value means "not set", as in .env.example.
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("encryption_key")
    @classmethod
    def _aes_key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) not in (16, 24, 32):
            raise ValueError("an AES key must be 16, 24 or 32 bytes long "
                             "(e.g. `python -c 'import secrets; print(secrets.token_hex(16))'`)")
        return value

    @field_validator("redis_url", "live_redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @property
    def seeds_demo_data(self) -> bool:
        """True when a new database gets the demo shop on its first start."""
        return self.saver != "postgres" if self.seed_demo is None else self.seed_demo

    @property
    def model_is_offline(self) -> bool:
        """True when the deterministic offline model answers."""
        return self.model == "offline"

    @property
    def model_provider(self) -> str | None:
        """The LangChain provider of SUPPORT_MODEL (openai, anthropic, ...), None if offline."""
        return None if self.model_is_offline else self.model.partition(":")[0]

    @property
    def model_name(self) -> str | None:
        """The provider's model name in SUPPORT_MODEL, None if offline."""
        return None if self.model_is_offline else self.model.partition(":")[2]

    @property
    def shared_database(self) -> bool:
        """True when the saver is a database a team shares (not the embedded Quickstart)."""
        return self.saver not in EMBEDDED_SAVERS

    @property
    def local_sign_in_refused(self) -> bool:
        """True when the UI must not serve: local sign-in on a shared database, not opted in."""
        return (self.auth == "local" and self.shared_database
                and not self.allow_local_auth_on_shared_db)

    def describe(self) -> dict[str, str]:
        """A printable view of the settings with secrets masked."""
        shown = {
            "saver": self.saver,
            "model": self.model,
            "redis": mask_password(self.redis_url) if self.redis_url else "not configured",
            "approval_required": ", ".join(self.approval_required) or "(none)",
            "sign-in": ("local (anyone picks a user)" if self.auth == "local"
                        else "oidc (identity provider)"),
        }
        if self.saver == "sqlite":
            shown["database"] = str(self.sqlite_path)
        elif self.saver == "postgres":
            shown["database"] = mask_password(self.postgres_url)
        else:
            shown["database"] = "in memory (lost when the process exits)"
        if self.model_provider == "openai":
            shown["openai_base_url"] = self.openai_base_url or "https://api.openai.com/v1"
            shown["openai_api_key"] = "set" if self.openai_api_key else "missing"
        return shown


def setting_variables() -> dict[str, str]:
    """Each setting's environment variable: SUPPORT_<NAME>, or the standard OPENAI_* name."""
    names = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        # An aliased setting's last choice is the name the rest of the ecosystem uses.
        names[field] = (str(alias.choices[-1]) if isinstance(alias, AliasChoices)
                        else f"SUPPORT_{field.upper()}")
    return names


def mask_password(url: str) -> str:
    """The URL with any password (in the user part or a password= parameter) replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = userinfo.split(":", 1)[0] + ":***@" + host
    query = "&".join(
        f"{key}=***" if key.lower() == "password" else f"{key}={value}" if value else key
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def load_settings(**overrides: Any) -> Settings:
    """Read settings (overrides win over env and .env); a bad value raises ConfigError."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = _field_of(str(error["loc"][0]) if error["loc"] else "settings")
        if field.startswith("openai_"):
            name = f"{field.upper()} (or SUPPORT_{field.upper()})"
        elif field in COMMAND_LINE_SETTINGS:
            name = f"SUPPORT_{field.upper()} (--{field.replace('_', '-')})"
        else:
            name = f"SUPPORT_{field.upper()}"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"bad setting {name}: {message} (got {error.get('input')!r})")
    return "; ".join(problems)


def _field_of(location: str) -> str:
    """The field name for an error location, which is the alias for aliased fields."""
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and location in alias.choices:
            return name
    return location


def _tool_registry():
    """The tool registry, imported when first needed: the tools import the domain layer."""
    from agent.tools import registry

    return registry
