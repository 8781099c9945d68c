"""Encryption at rest with SUPPORT_ENCRYPTION_KEY: checkpoints, the memory store, thread titles.

Checkpoints and writes go through LangGraph's EncryptedSerializer (AES, type "<type>+aes").
What LangGraph stores outside the serializer gets the same key at the app level (AES-GCM):
the store's values (customers' remembered facts) as `{"__sealed__": "<token>"}`, and texts the
app writes itself (thread titles) as "<token>". Rows written before a key was set stay plain
and still read; a sealed value read without the key, or with another key, raises ConfigError
naming SUPPORT_ENCRYPTION_KEY instead of failing somewhere deeper.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from Crypto.Cipher import AES
from langgraph.checkpoint.serde.base import CipherProtocol, SerializerProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.store.base import BaseStore, Item, Op, PutOp, Result

from agent.errors import ConfigError
from agent.settings import Settings

KEY_SETTING = "SUPPORT_ENCRYPTION_KEY"
SEALED_TEXT_PREFIX = "enc:aes-gcm:"
SEALED_VALUE_KEY = "__sealed__"
_NONCE_BYTES = 12
_TAG_BYTES = 16


def missing_key_error(what: str) -> ConfigError:
    """The error for encrypted data met while no key is configured."""
    return ConfigError(f"{what} is encrypted and no key is set: set {KEY_SETTING} to the key "
                       "the database was written with")


def wrong_key_error(what: str) -> ConfigError:
    """The error for encrypted data the configured key does not open."""
    return ConfigError(f"{what} cannot be decrypted with {KEY_SETTING}: the key differs from "
                       "the one the database was written with (or the data is damaged); set "
                       "the original key")


def text_cipher(settings: Settings) -> TextCipher:
    """The app-level cipher for SUPPORT_ENCRYPTION_KEY (a pass-through when it is unset)."""
    key = settings.encryption_key
    return TextCipher(key.get_secret_value().encode() if key is not None else None)


def sealed_store(store: BaseStore, settings: Settings) -> BaseStore:
    """The store, its values encrypted when SUPPORT_ENCRYPTION_KEY is set.

    Wrapped without a key too: writes stay plain, but a sealed value then raises a clear
    "no key is set" instead of reaching the app as `{"__sealed__": ...}`.
    """
    return EncryptedStore(store, text_cipher(settings))


def encrypted_serializer(serde: SerializerProtocol, key: bytes) -> EncryptedSerializer:
    """LangGraph's AES serializer around `serde`, with clear errors for a wrong key."""
    encrypted = EncryptedSerializer.from_pycryptodome_aes(serde=serde, key=key)
    encrypted.cipher = _ExplainedCipher(encrypted.cipher)
    return encrypted


class _ExplainedCipher(CipherProtocol):
    """LangGraph's AES cipher, whose bare `ValueError("MAC check failed")` becomes ConfigError."""

    def __init__(self, cipher: CipherProtocol) -> None:
        self._cipher = cipher

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        """Encrypt with the wrapped cipher."""
        return self._cipher.encrypt(plaintext)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        """Decrypt, or raise ConfigError naming the key setting."""
        if ciphername != "aes":
            raise ConfigError(f"a stored checkpoint is encrypted with {ciphername!r}, which this "
                              "app never writes; restore the database from a backup")
        try:
            return self._cipher.decrypt(ciphername, ciphertext)
        except ValueError:
            raise wrong_key_error("a stored checkpoint") from None


class TextCipher:
    """AES-GCM for texts the app stores itself; without a key, text passes through unchanged."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @property
    def enabled(self) -> bool:
        """True when a key is set (new texts are sealed)."""
        return self._key is not None

    def seal(self, text: str) -> str:
        """The text as a sealed token (or unchanged when no key is set)."""
        if self._key is None:
            return text
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=_random_nonce())
        ciphertext, tag = cipher.encrypt_and_digest(text.encode())
        token = base64.urlsafe_b64encode(cipher.nonce + tag + ciphertext).decode()
        return SEALED_TEXT_PREFIX + token

    def open(self, stored: str, what: str = "a stored text") -> str:
        """The text a stored value holds: sealed tokens decrypted, plain (older) text as is."""
        if not stored.startswith(SEALED_TEXT_PREFIX):
            return stored
        if self._key is None:
            raise missing_key_error(what)
        try:
            raw = base64.urlsafe_b64decode(stored[len(SEALED_TEXT_PREFIX):])
            nonce, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:_NONCE_BYTES + _TAG_BYTES]
            cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
            return cipher.decrypt_and_verify(raw[_NONCE_BYTES + _TAG_BYTES:], tag).decode()
        except ValueError:  # bad base64, a failed tag check, bad UTF-8
            raise wrong_key_error(what) from None

    def seal_value(self, value: dict[str, Any]) -> dict[str, Any]:
        """A JSON-able dict as a one-key dict holding its sealed JSON (unchanged without a key)."""
        if self._key is None:
            return value
        return {SEALED_VALUE_KEY: self.seal(json.dumps(value, separators=(",", ":")))}

    def open_value(self, stored: dict[str, Any], what: str = "a stored value") -> dict[str, Any]:
        """The dict a stored value holds: sealed ones decrypted, plain (older) ones as is."""
        sealed = stored.get(SEALED_VALUE_KEY) if len(stored) == 1 else None
        if not isinstance(sealed, str):
            return stored
        return json.loads(self.open(sealed, what))


def _random_nonce() -> bytes:
    from Crypto.Random import get_random_bytes

    return get_random_bytes(_NONCE_BYTES)


class EncryptedStore(BaseStore):
    """A LangGraph store whose item values are sealed on the way in and opened on the way out.

    Every store method goes through `batch`/`abatch`, so this is the one place to wrap. Values
    are opaque to the database: filtering on a value's fields and vector search do not apply
    (the app uses neither); namespaces and keys (tenant and user ids) stay readable.
    """

    def __init__(self, inner: BaseStore, cipher: TextCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run the operations on the inner store, sealing puts and opening what comes back."""
        return [self._opened(result) for result in self.inner.batch(self._sealed(ops))]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` for async callers."""
        results = await self.inner.abatch(self._sealed(ops))
        return [self._opened(result) for result in results]

    def __getattr__(self, name: str) -> Any:
        # setup(), connections and other saver-specific parts stay the inner store's.
        if name == "inner":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _sealed(self, ops: Iterable[Op]) -> list[Op]:
        return [op._replace(value=self.cipher.seal_value(op.value), index=False)
                if isinstance(op, PutOp) and op.value is not None else op for op in ops]

    def _opened(self, result: Result) -> Result:
        if isinstance(result, Item):
            result.value = self.cipher.open_value(result.value, "a remembered customer fact")
        elif isinstance(result, list):
            for item in result:
                if isinstance(item, Item):
                    item.value = self.cipher.open_value(item.value, "a remembered customer fact")
        return result
