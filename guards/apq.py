"""Persisted queries: Apollo's automatic persisted queries (APQ) protocol, and an
allow-list mode (LOANGRAPH_PERSISTED_QUERIES=allowlist).

APQ: the client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": h}`
without the document; an unknown hash answers `PersistedQueryNotFound`
(`PERSISTED_QUERY_NOT_FOUND`), the client retries with hash and document, the
server checks the hash and stores the document. Documents live in the
`persisted_queries` table, so every replica knows a hash another one stored,
with a small in-process cache in front.

Who pays and who may store (docs/security.md): every request naming a hash is
charged PERSISTED_QUERY_COST points (by user, by IP when anonymous) before the
lookup, hit or miss; a document is stored only after it parsed, validated and
passed every limit, and only for an authenticated caller (an anonymous
caller's document runs but is not stored).

Allow-list mode: only stored documents run (by hash, or sent in full when
their hash is stored). Clients cannot register; admins can, in two ways that
need no CLI: an admin's APQ request with hash and document registers it, and
`PersistedQueryStore.register(query)` (e.g. from a deploy script) does too.
See docs/rate-limits.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from core.db import run_db
from core.errors import BadUserInput
from guards.errors import PersistedQueryNotFound, PersistedQueryRequired

MODES = ("apq", "allowlist", "off")
# Points a request naming a persisted-query hash spends, on top of its operation.
PERSISTED_QUERY_COST = 1
# Marks operation extensions whose document came from the store. An object, not a
# JSON value, so no client can send it.
TRUSTED_KEY = "loangraph.persisted"
TRUSTED = object()


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedQueryStore:
    """hash -> document, DynamoDB behind a process-local LRU cache."""

    def __init__(self, cache_size: int = 2048) -> None:
        self._cache: LRUCache[str, str] = LRUCache(maxsize=cache_size)
        self._lock = threading.Lock()

    def _cached(self, sha: str) -> str | None:
        with self._lock:
            return self._cache.get(sha)

    def known(self, sha: str) -> bool:
        """Stored, as far as this process has seen (no database read)."""
        return self._cached(sha) is not None

    def _remember(self, sha: str, query: str) -> None:
        with self._lock:
            self._cache[sha] = query

    async def get(self, sha: str) -> str | None:
        found = self._cached(sha)
        if found is not None:
            return found
        found = await run_db(_read, sha)
        if found is not None:
            self._remember(sha, found)
        return found

    async def register(self, query: str, sha: str | None = None) -> str:
        """Store `query` (idempotent: the key is its hash). Returns the hash."""
        digest = sha256_hex(query)
        if sha is not None and sha.lower() != digest:
            raise BadUserInput("provided sha does not match query", sha256Hash=sha)
        if self._cached(digest) is None:
            await run_db(_write, digest, query)
            self._remember(digest, query)
        return digest

    def register_sync(self, query: str) -> str:
        """For scripts outside an event loop (core.tables.configure() first)."""
        digest = sha256_hex(query)
        _write(digest, query)
        self._remember(digest, query)
        return digest


def _read(sha: str) -> str | None:
    from models import PersistedQuery

    try:
        return PersistedQuery.get(sha).query
    except PersistedQuery.DoesNotExist:
        return None


def _write(sha: str, query: str) -> None:
    from models import PersistedQuery

    PersistedQuery(sha256=sha, query=query, created_at=dt.datetime.now(dt.UTC)).save()


def has_persisted_query(extensions: dict[str, Any] | None) -> bool:
    return extensions is not None and extensions.get("persistedQuery") is not None


def _persisted_ext(extensions: dict[str, Any] | None) -> dict[str, Any] | None:
    if not extensions:
        return None
    ext = extensions.get("persistedQuery")
    if ext is None:
        return None
    if (
        not isinstance(ext, dict)
        or not isinstance(ext.get("sha256Hash"), str)
        or ext.get("version", 1) != 1
    ):
        raise BadUserInput("extensions.persistedQuery needs version 1 and a sha256Hash string")
    return ext


@dataclass(frozen=True, slots=True)
class Resolved:
    """The document to run for one request, by the APQ protocol and the mode.

    `trusted`: it came from the store, so the allow-list needs no second look.
    `register`: its hash, to store once the document has been admitted (it parsed,
    validated and passed every limit) for an authenticated caller; None: nothing
    to store."""

    query: str | None
    trusted: bool = False
    register: str | None = None


async def resolve(
    store: PersistedQueryStore,
    mode: str,
    query: str | None,
    extensions: dict[str, Any] | None,
    *,
    is_admin: bool,
) -> Resolved:
    ext = _persisted_ext(extensions) if mode != "off" else None
    if ext is None:
        return Resolved(query)
    sha = ext["sha256Hash"].lower()
    if len(sha) != 64:
        raise BadUserInput("extensions.persistedQuery.sha256Hash must be 64 hex digits")
    if query is None:
        found = await store.get(sha)
        if found is None:
            if mode == "allowlist":
                raise PersistedQueryRequired(
                    "This hash is not on the allow-list of this server", sha256Hash=sha
                )
            raise PersistedQueryNotFound("PersistedQueryNotFound", sha256Hash=sha)
        return Resolved(found, trusted=True)
    if sha256_hex(query) != sha:
        raise BadUserInput("provided sha does not match query", sha256Hash=sha)
    if mode == "allowlist" and not is_admin:
        # Registration is closed: the document runs only if it is already stored.
        if await store.get(sha) is None:
            raise PersistedQueryRequired(
                "This document is not on the allow-list of this server", sha256Hash=sha
            )
        return Resolved(query, trusted=True)
    # APQ (or an admin on an allow-list): run it like any document; store it only
    # once it has been admitted, and only for an authenticated caller.
    return Resolved(query, register=None if store.known(sha) else sha)


async def check_allowed(store: PersistedQueryStore, query: str | None) -> None:
    """Allow-list mode: refuse a document that is not stored."""
    if query is None:
        return
    sha = sha256_hex(query)
    if await store.get(sha) is None:
        raise PersistedQueryRequired(
            "Only registered (persisted) documents run on this server; send "
            "extensions.persistedQuery.sha256Hash of a registered document",
            sha256Hash=sha,
        )


# Trusted documents: a persisted-documents manifest (the GraphQL Code Generator
# client preset's persisted-documents.json: {"sha256:<hex>": "<document>", ...};
# bare hex keys work too)
# loaded in bulk by `loangraph persisted-queries import FILE` and at start-up
# from LOANGRAPH_PERSISTED_DOCUMENTS (docs/frontend.md).


def parse_manifest(data: Any) -> dict[str, str]:
    """Check a manifest: an object of sha256 hex -> a document with that hash that
    parses as GraphQL. Raises BadUserInput naming the first bad entry."""
    from graphql import GraphQLSyntaxError, parse

    if not isinstance(data, dict) or not data:
        raise BadUserInput("A persisted-documents manifest is a non-empty JSON object")
    docs: dict[str, str] = {}
    for key, query in data.items():
        sha = str(key).lower().removeprefix("sha256:")  # the client preset's key form
        if not isinstance(query, str) or sha256_hex(query) != sha:
            raise BadUserInput(
                "Manifest entry's key is not the sha256 of its document", sha256Hash=key
            )
        try:
            parse(query)
        except GraphQLSyntaxError as exc:
            raise BadUserInput(
                f"Manifest document does not parse: {exc.message}", sha256Hash=key
            ) from None
        docs[sha] = query
    return docs


def import_manifest_sync(
    store: PersistedQueryStore | None, docs: dict[str, str]
) -> tuple[int, int]:
    """Store every document not stored yet (idempotent; core.tables.configure() first).
    Returns (added, already stored)."""
    added = 0
    for sha, query in docs.items():
        if _read(sha) is None:
            _write(sha, query)
            added += 1
        if store is not None:
            store._remember(sha, query)
    return added, len(docs) - added


async def import_manifest(store: PersistedQueryStore, docs: dict[str, str]) -> tuple[int, int]:
    return await run_db(import_manifest_sync, store, docs)


def check_manifest_schema(docs: dict[str, str], schema: Any) -> None:
    """Refuse a manifest whose documents do not validate against `schema` (a
    graphql-core schema): a frontend built for another schema."""
    from graphql import parse, validate

    for sha, query in docs.items():
        errors = validate(schema, parse(query))
        if errors:
            raise BadUserInput(
                f"Manifest document does not match the schema: {errors[0].message}",
                sha256Hash=sha,
            )
