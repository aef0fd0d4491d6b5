"""Master key rotation: every sealed value re-encrypted under a new key, resumable.

1. A new key is added to the keyring file as current, and the file is replaced atomically
   (fsynced) *before* any row is rewritten; the old key stays and still decrypts.
2. Rows not on the current key are re-sealed in batches, one transaction per batch (each row
   records its key id, so progress lives in the rows themselves).
3. Only when no row names an old key — checked under an exclusive lock that every env writer
   takes shared — are the old keys marked retired in the file.

Interrupted anywhere, the next call finds old keys that are neither current nor retired (or
rows not on the current key) and resumes at step 2 without creating another key.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
from berth_shared.errors import Conflict

from berth_api import envelope, keyring
from berth_api.audit_log import Actor, audit
from berth_api.env_store import KEYS_LOCK, UndecryptableEnv
from berth_api.keyring import Keychain

log = logging.getLogger("berth.api.secrets")
ROTATION_LOCK = "api.secrets.rotate"
BATCH = 100

_process_lock = asyncio.Lock()


async def key_counts(conn: asyncpg.Pool | asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT key_id, count(*) AS n FROM env_vars GROUP BY key_id ORDER BY key_id")
    return {r["key_id"]: r["n"] for r in rows}


async def status(pool: asyncpg.Pool, chain: Keychain) -> dict[str, Any]:
    ring = chain.ring
    counts = await key_counts(pool)
    known = {k.id for k in ring.keys}
    return {
        "source": ring.source,
        "currentKeyId": ring.current,
        "keys": [{**k, "values": counts.get(str(k["id"]), 0)} for k in ring.describe()],
        "valuesByKeyId": counts,
        "unknownKeyIds": sorted(set(counts) - known),
        "rotationPending": bool(ring.pending_old()) or any(k != ring.current for k in counts),
        "rotatable": ring.source == "file",
    }


async def rotate(pool: asyncpg.Pool, chain: Keychain, actor: Actor, *, resume_only: bool = False) -> dict[str, Any]:
    if chain.ring.source != "file":
        raise Conflict(
            "the master key comes from BERTH_MASTER_KEY, which Berth cannot change; to rotate, let Berth manage "
            "the key (unset BERTH_MASTER_KEY so $BERTH_HOME/master.key is used) or re-set every value after "
            "changing the variable"
        )
    async with _process_lock, pool.acquire() as lock_conn:
        await lock_conn.execute("SELECT pg_advisory_lock(hashtext($1))", ROTATION_LOCK)
        try:
            return await _rotate_locked(pool, chain, actor, resume_only)
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock(hashtext($1))", ROTATION_LOCK)


async def _rotate_locked(pool: asyncpg.Pool, chain: Keychain, actor: Actor, resume_only: bool) -> dict[str, Any]:
    assert chain.ring.path is not None
    ring = await asyncio.to_thread(keyring.read_file, chain.ring.path)  # the file is the truth
    chain.ring = ring
    counts = await key_counts(pool)
    pending = bool(ring.pending_old()) or any(k != ring.current for k in counts)
    if pending:
        outcome = "resumed"
    elif resume_only:
        return {
            "status": "nothing-to-resume",
            "message": "No rotation is pending; nothing to resume.",
            **await status(pool, chain),
        }
    else:
        ring = keyring.with_new_current(ring)
        await asyncio.to_thread(keyring.write_file, ring)
        chain.ring = ring
        outcome = "rotated"
        log.info("key rotation started: new current key %s", ring.current)
        async with pool.acquire() as conn:
            await audit(conn, actor, "secrets.rotate_key.start", None, {"currentKeyId": ring.current})
    rewritten = 0
    while True:
        rewritten += await _rewrite_batch(pool, ring)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", KEYS_LOCK)
            if await conn.fetchval("SELECT 1 FROM env_vars WHERE key_id <> $1 LIMIT 1", ring.current):
                continue  # a writer sealed with an old key meanwhile: one more batch
            retired = ring.pending_old()
            ring = keyring.with_retired(ring, retired)
            await asyncio.to_thread(keyring.write_file, ring)
            chain.ring = ring
            await audit(
                conn,
                actor,
                "secrets.rotate_key",
                None,
                {"outcome": outcome, "currentKeyId": ring.current, "retiredKeyIds": retired, "rewritten": rewritten},
            )
            break
    log.info("key rotation %s: %d values re-sealed under %s; retired %s", outcome, rewritten, ring.current, retired)
    verb = "Resumed an interrupted rotation" if outcome == "resumed" else "Rotated the master key"
    message = (
        f"{verb}: {rewritten} values re-encrypted under key {ring.current}; "
        f"retired {', '.join(retired) if retired else 'no keys'}."
    )
    return {
        "status": outcome,
        "message": message,
        "rewritten": rewritten,
        "retiredKeyIds": retired,
        **await status(pool, chain),
    }


async def _rewrite_batch(pool: asyncpg.Pool, ring: keyring.Keyring) -> int:
    """Re-seal rows not on the current key, ``BATCH`` per transaction; how many were rewritten."""
    total = 0
    keys = ring.by_id()
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT e.app_id, e.name, e.ciphertext, a.name AS app_name "
                "FROM env_vars e JOIN apps a ON a.id = e.app_id "
                "WHERE e.key_id <> $1 ORDER BY e.app_id, e.name LIMIT $2 FOR UPDATE OF e",
                ring.current,
                BATCH,
            )
            if not rows:
                return total
            for row in rows:
                app_id = str(row["app_id"])
                try:
                    plain = envelope.open(bytes(row["ciphertext"]), keys, app_id, row["name"])
                except envelope.EnvelopeError as exc:
                    raise UndecryptableEnv(
                        row["name"],
                        f"{exc}; rotation stopped with old keys kept — re-set or unset it, then run rotate-key again",
                        app=repr(row["app_name"]),
                    ) from None
                sealed = envelope.seal(plain, ring.current, keys[ring.current], app_id, row["name"])
                del plain
                await conn.execute(
                    "UPDATE env_vars SET key_id = $3, ciphertext = $4 WHERE app_id = $1 AND name = $2",
                    row["app_id"],
                    row["name"],
                    ring.current,
                    sealed,
                )
            total += len(rows)
