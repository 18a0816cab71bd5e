"""The Redis store's key layout, its Lua scripts, and the records they exchange.

Shared by the async backend (``_async.py``) and its generated sync twin; nothing
here does I/O. The layout (``<prefix>`` defaults to ``sessionary:``)::

    <prefix>s:{<hex store key>}   HASH, one per session, expiring at its deadline (PEXPIREAT)
        x            the deadline, epoch seconds (compared with the caller's ``now``)
        d:<name>     one session key, as JSON text (a save writes only the changed ones)
        m:<name>     one Meta field, as JSON text
        u            the owner's user tag (the key-safe form of the user id), if any
        a            set on a renewed token's grace alias: the hex key it points to
        p            set while a Redis Cluster rotation is pending: the old hex key
    <prefix>s:{<hex store key>}:w:<writer>
                 never there: set and removed by each script that changes the session
                 beside it (one server only), so that Redis's invalidation message names
                 who changed it (<writer> is '' but for a save a near-cache keeps)
    <prefix>u:{<user tag>}:i      ZSET, the user's sessions: member hex key, score deadline
    <prefix>u:{<user tag>}:v      STRING, the user's valid_after (epoch seconds)

The braces are Redis Cluster hash tags: a session's hash is alone in its slot, and a
user's two keys share one. A script therefore touches one slot; on a single server the
scripts also read the user's keys (named inside the script, since the user is only known
once the session is read), which folds the revocation check and the index update into
the same round trip. Numbers travel as Python's ``repr`` of the float, never reformatted
by Lua, so what is stored reads back exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisClusterException, RedisError

from ...errors import StoreCorrupted, StoreUnavailable
from ...serializer import decode_value, encode_ascii, encode_stored
from ..base import META_FIELDS, Change, Meta, Record, Summary

DEFAULT_PREFIX = "sessionary:"

CORRUPT = "SESSIONARY_CORRUPT"
"""How the scripts start the error they raise for a key that is not a session record."""

PENDING_MS = 60_000
"""How long a Redis Cluster rotation's reserved record waits to be activated."""


# --- keys -----------------------------------------------------------------------------


def session_key(prefix: str, hex_key: str) -> str:
    return f"{prefix}s:{{{hex_key}}}"


def user_tag(user_id: str) -> str:
    """The user id as it appears in key names: itself when that is safe, else ``=<hex>``.

    A brace would move the hash tag (and split a user's keys across slots); an empty id
    would make an empty tag, which Redis ignores. The ``=`` marker keeps the mapping
    one-to-one, so two users never share keys.
    """
    if user_id and not user_id.startswith("=") and "{" not in user_id and "}" not in user_id:
        return user_id
    return "=" + user_id.encode("utf-8", "surrogatepass").hex()


def index_key(prefix: str, tag: str) -> str:
    return f"{prefix}u:{{{tag}}}:i"


def valid_after_key(prefix: str, tag: str) -> str:
    return f"{prefix}u:{{{tag}}}:v"


def session_pattern(prefix: str) -> str:
    """The SCAN pattern matching every session hash under ``prefix`` (and nothing else)."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "s:{*}"


def number(value: float) -> str:
    """A time as the scripts receive and store it: exact, and readable by ``tonumber``."""
    return repr(float(value))


def milliseconds(seconds: float) -> int:
    """The PEXPIREAT argument for a deadline: never before it (the scripts round alike)."""
    return math.ceil(seconds * 1000)


# --- records ----------------------------------------------------------------------------

SUMMARY_FIELDS = ("x", "a", "u", "p", *(f"m:{name}" for name in META_FIELDS))
"""What a user's session list reads of each session (everything but the data)."""


def meta_fields(meta: dict[str, Any]) -> list[str]:
    fields: list[str] = []
    for name, value in meta.items():
        fields += (f"m:{name}", encode_ascii(value))
    return fields


def data_fields(data: dict[str, Any]) -> dict[str, str]:
    """Session data as the hash fields that hold it (``d:<name>`` -> JSON text)."""
    return {f"d:{name}": encode_stored(value) for name, value in data.items()}


def record_fields(record: Record, *, data: bool = True) -> list[str]:
    """A whole record as HSET's field, value pairs (without its data when ``data`` is False)."""
    fields = ["x", number(record.expires_at)]
    if record.meta.user_id is not None:
        fields += ("u", user_tag(record.meta.user_id))
    fields += meta_fields({name: getattr(record.meta, name) for name in META_FIELDS})
    if data:
        for name, text in data_fields(record.data).items():
            fields += (name, text)
    return fields


def rotation_arguments(record: Record, change: Change) -> list[str]:
    """ROTATE's arguments from its ninth on: keep the old data?, the fields to drop, then
    the new record's field, value pairs (its changed data fields only)."""
    removed = [f"d:{name}" for name in change.removed]
    fields = record_fields(record, data=False)
    for name, text in change.set.items():
        fields += (f"d:{name}", text)
    return ["0" if change.cleared else "1", str(len(removed)), *removed, *fields]


def merge_triples(record: Record, change: Change, stored: dict[str, str]) -> list[str]:
    """ACTIVATE's arguments for a Redis Cluster rotation: for each data field this request
    did not change, (field, what RESERVE wrote, what the old record held when retired),
    each ``''`` for absent or ``'='`` + text, so the new record takes the stored value
    unless a write through the alias changed the field meanwhile."""
    if change.cleared:
        return []
    changed = {f"d:{name}" for name in (*change.set, *change.removed)}
    reserved = data_fields(record.data)
    triples: list[str] = []
    for name in sorted((set(reserved) | set(stored)) - changed):
        before, after = reserved.get(name), stored.get(name)
        if before != after:
            triples += (name, "" if before is None else "=" + before, "" if after is None else "=" + after)
    return triples


def change_fields(change: Change) -> tuple[list[str], list[str]]:
    """A save as (fields to delete, field, value pairs to set), deadline included."""
    removed = [f"d:{name}" for name in change.removed]
    fields = ["x", number(change.expires_at), *meta_fields(change.meta)]
    for name, text in change.set.items():
        fields += (f"d:{name}", text)
    return removed, fields


def change_user(change: Change) -> str:
    """The WRITE script's user argument: '' unchanged, '-' none, else the new user tag."""
    if "user_id" not in change.meta:
        return ""
    user_id = change.meta["user_id"]
    return "-" if user_id is None else user_tag(str(user_id))


def decode_meta(values: dict[str, Any], store: str) -> Meta:
    """Checked field by field (``Meta.from_dict``): a missing or non-numeric time among
    the four every record has is refused there, as any other bad field is."""
    return Meta.from_dict(values, store=store)


def decode_summary(
    hex_key: str, row: list[str | None], tag: str, valid_after: str | None, now: float, store: str
) -> Summary | None:
    """A user's session from its SUMMARY_FIELDS, or None if it is not a live one of theirs."""
    deadline, alias, owner, _, *texts = row
    if deadline is None or alias is not None or owner != tag:
        return None
    try:
        expires_at = float(deadline)
        refused_before = float("-inf") if valid_after is None else float(valid_after)
        values = {
            name[2:]: decode_value(text) for name, text in zip(SUMMARY_FIELDS[4:], texts, strict=True) if text
        }
        key = bytes.fromhex(hex_key)
    except (ValueError, RecursionError) as exc:
        raise StoreCorrupted(store, f"session {hex_key[:12]}… is not a valid record ({exc})") from None
    meta = decode_meta(values, store)
    if expires_at <= now or meta.issued_at < refused_before:
        return None
    return Summary(key, meta, expires_at)


def loaded_head(text: str) -> tuple[str, float, str | None]:
    """From the LOAD script's JSON text, only what the near-cache needs to keep it: the
    hex key an alias led to ('' for none), the deadline and the owner's tag. The text
    starts with those three (see ``encoded`` in the prelude), and ``,"d":{`` cannot occur
    inside a JSON string (its quotes would be escaped), so the head alone is decoded;
    the record itself is decoded on each hit, as from Redis. Raises ValueError."""
    end = text.find(',"d":{')
    if end < 0:
        raise ValueError("not a loaded record")
    head = decode_value(text[:end] + "}")
    return head["k"], float(head["x"]), head["u"] or None


def decode_loaded(key: bytes, text: str, store: str) -> tuple[Record, str | None]:
    """A record from the LOAD script's JSON text, and its owner's user tag.

    ``key`` is the key asked for; the text names another (``k``) when the load followed
    a renewal alias. A stored value that is not JSON makes the whole text invalid: the
    record is refused as corrupted, as a field-by-field decode would refuse it.
    """
    try:
        loaded = decode_value(text)
        if loaded["k"]:
            key = bytes.fromhex(loaded["k"])
        expires_at = float(loaded["x"])
        data, meta = loaded["d"], loaded["m"]
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise StoreCorrupted(store, f"session {key.hex()[:12]}… is not a valid record ({exc})") from None
    return Record(key, data, decode_meta(meta, store), expires_at), loaded["u"] or None


# --- errors -----------------------------------------------------------------------------


@contextlib.contextmanager
def translated(store: str) -> Iterator[None]:
    """Turn redis-py's errors into sessionary's, naming the store and the cause."""
    try:
        yield
    except (RedisError, RedisClusterException, OSError) as exc:
        message = str(exc) or type(exc).__name__
        if message.startswith(("WRONGTYPE", CORRUPT)):
            raise StoreCorrupted(store, message.split(" script: ")[0]) from exc
        raise StoreUnavailable(store, f"{type(exc).__name__}: {message}") from exc


# --- scripts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lua:
    """A script and its SHA1, for EVALSHA (loaded on the first NOSCRIPT)."""

    name: str
    text: str
    sha: str = field(init=False)
    """Computed once: every call names the script by it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())


# Every script with the prelude takes ARGV[1] = prefix, ARGV[2] = '1' on a single server
# ('0' on a cluster), ARGV[3] = now; its own arguments start at ARGV[4].
_PRELUDE = """
local prefix, standalone, now = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])

local function session_key(hex) return prefix .. 's:{' .. hex .. '}' end
local function index_key(tag) return prefix .. 'u:{' .. tag .. '}:i' end
local function valid_after_key(tag) return prefix .. 'u:{' .. tag .. '}:v' end
local function ms(seconds) return string.format('%.0f', math.ceil(seconds * 1000)) end

-- What the scripts reason about in a record, or nil when there is none.
local function state(key)
  local v = redis.call('HMGET', key, 'x', 'a', 'u', 'p', 'm:issued_at')
  local x = tonumber(v[1])
  if not x then
    if v[1] or redis.call('EXISTS', key) == 1 then
      error({err = 'SESSIONARY_CORRUPT ' .. key .. ' is not a session record'})
    end
    return nil
  end
  return {x = x, xs = v[1], a = v[2] or nil, u = v[3] or nil, p = v[4] or nil, issued = tonumber(v[5])}
end

-- Before its deadline, and not a cluster rotation still pending (unless reached through
-- the alias that rotation made: `via`).
local function live(s, via)
  return s ~= nil and s.x > now and (s.p == nil or s.p == via)
end

local function revoked(s, valid_after)
  if not valid_after or valid_after == '' then return false end
  return (s.issued or -math.huge) < tonumber(valid_after)
end

-- The live, unrevoked record a write may change: KEYS[1]'s or, on one server, the one its
-- alias names (ARGV[4]: the alias this call follows; [5], [6]: a user tag and the
-- valid_after the caller read for it, on a cluster). Returns its key, its state and its
-- hex key (nil for KEYS[1]'s own); or nil and, on a cluster, {'alias', hex} or
-- {'user', tag} when the caller must follow an alias or read a valid_after first.
local function writable()
  local s = state(KEYS[1])
  if not live(s, ARGV[4]) then return nil end
  local key, hex = KEYS[1], nil
  if s.a then
    if not standalone or ARGV[4] ~= '' then return nil, {'alias', s.a} end
    key, hex = session_key(s.a), s.a
    s = state(key)
    if not live(s, nil) or s.a then return nil end
  end
  if s.u then
    local valid_after
    if standalone then
      valid_after = redis.call('GET', valid_after_key(s.u))
    elseif s.u == ARGV[5] then
      valid_after = ARGV[6]
    else
      return nil, {'user', s.u}
    end
    if revoked(s, valid_after) then return nil end
  end
  return key, s, hex
end

-- A record as one JSON text (see decode_loaded); hex: the key the caller asked for
-- when the record was reached through its alias, else ''.
local function encoded(key, s, hex)
  local flat = redis.call('HGETALL', key)
  local data, meta = {}, {}
  for i = 1, #flat, 2 do
    local kind = string.sub(flat[i], 1, 2)
    if kind == 'd:' then
      data[#data + 1] = cjson.encode(string.sub(flat[i], 3)) .. ':' .. flat[i + 1]
    elseif kind == 'm:' then
      meta[#meta + 1] = cjson.encode(string.sub(flat[i], 3)) .. ':' .. flat[i + 1]
    end
  end
  return '{"k":' .. cjson.encode(hex) .. ',"x":' .. cjson.encode(s.xs) .. ',"u":' .. cjson.encode(s.u or '')
    .. ',"d":{' .. table.concat(data, ',') .. '},"m":{' .. table.concat(meta, ',') .. '}}'
end

-- Many arguments at once, a thousand at a time (Lua's unpack has a limit).
local function call_chunked(command, key, list, first, last)
  local i = first
  while i <= last do
    local j = math.min(i + 999, last)
    redis.call(command, key, unpack(list, i, j))
    i = j + 1
  end
end

local function index_expire(idx)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', idx, ms(tonumber(top[2]))) end
end

-- Drop the members whose deadline has passed; the index lives as long as its last member.
local function index_tidy(idx)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', ARGV[3])
  index_expire(idx)
end

local function index_add(tag, member, score)
  local idx = index_key(tag)
  redis.call('ZADD', idx, 'GT', score, member)
  index_tidy(idx)
end

-- Name who changed a session, for the near-cache (tracking.py): a key beside it, set and
-- removed at once, which Redis announces in the same invalidation message as the session
-- (one message per turn of its event loop). `writer` is '' but for a save whose record
-- a near-cache keeps. One server only (the near-cache runs on no cluster).
local function mark(key, writer)
  if standalone then
    local m = key .. ':w:' .. writer
    redis.call('SET', m, '')
    redis.call('DEL', m)
  end
end

-- The old key of a rotation: gone, or an alias of the new one until the grace ends.
local function retire(key, s, grace, target)
  redis.call('DEL', key)
  if grace ~= '' then
    local text, x = s.xs, s.x
    if tonumber(grace) < x then text, x = grace, tonumber(grace) end
    redis.call('HSET', key, 'a', target, 'x', text)
    redis.call('PEXPIREAT', key, ms(x))
  end
end
"""


def _script(name: str, body: str) -> Lua:
    return Lua(name, f"-- sessionary {name}\n{_PRELUDE}\n{body.strip()}\n")


LOAD = _script(
    "load",
    """
-- KEYS[1]: the session. ARGV[4]: the alias key this call follows ('' for none).
-- Returns nil, {'alias', target hex} (cluster: the caller follows it), or the record as
-- one JSON text (see decode_loaded): one bulk reply is far cheaper for a client to parse
-- than HGETALL's field-by-field array, and the stored values, JSON texts already, are
-- joined as they are, so the client decodes the whole record with one json.loads.
local s = state(KEYS[1])
if not live(s, ARGV[4]) then return false end
local key, hex = KEYS[1], ''
if s.a then
  if not standalone or ARGV[4] ~= '' then return {'alias', s.a} end
  key, hex = session_key(s.a), s.a
  s = state(key)
  if not live(s, nil) or s.a then return false end
end
if standalone and s.u and revoked(s, redis.call('GET', valid_after_key(s.u))) then return false end
return encoded(key, s, hex)
""",
)

CREATE = _script(
    "create",
    """
-- KEYS[1]: the session. ARGV[4]: its deadline; [5]: user tag (''); [6]: its hex key;
-- [7..]: field, value pairs. Returns 1, or 0 when a live record holds the key.
local s = state(KEYS[1])
if s and s.x > now then return 0 end
redis.call('DEL', KEYS[1])
call_chunked('HSET', KEYS[1], ARGV, 7, #ARGV)
redis.call('PEXPIREAT', KEYS[1], ms(tonumber(ARGV[4])))
mark(KEYS[1], '')
if standalone and ARGV[5] ~= '' then index_add(ARGV[5], ARGV[6], ARGV[4]) end
return 1
""",
)

WRITE = _script(
    "write",
    """
-- KEYS[1]: the session. ARGV[4]: the alias key this call follows (''); [5]: a user tag
-- whose valid_after the caller read (cluster), [6]: that valid_after (''); [7]: the new
-- deadline; [8]: '1' to drop every data field first; [9]: the user ('' unchanged, '-' none,
-- else the new tag); [10]: KEYS[1]'s hex key; [11]: '0', or the name of a near-cache
-- that keeps what it writes: then answer with the record as written instead of 1,
-- unless its new deadline has passed, and mark the change as that writer's;
-- [12]: n, then n fields to delete; then
-- field, value pairs. Returns 1 (or the record), 0 (no live record: nothing written), or
-- on a cluster {'alias', hex} / {'user', tag} when the caller must follow an alias or
-- read a valid_after.
local key, s, hex = writable()
if not key then return s or 0 end
local member = hex or ARGV[10]
if ARGV[8] == '1' then
  local doomed = {}
  for _, name in ipairs(redis.call('HKEYS', key)) do
    if string.sub(name, 1, 2) == 'd:' then doomed[#doomed + 1] = name end
  end
  call_chunked('HDEL', key, doomed, 1, #doomed)
end
local removed = tonumber(ARGV[12])
call_chunked('HDEL', key, ARGV, 13, 12 + removed)
call_chunked('HSET', key, ARGV, 13 + removed, #ARGV)
local user = s.u
if ARGV[9] == '-' then
  redis.call('HDEL', key, 'u')
  user = nil
elseif ARGV[9] ~= '' then
  redis.call('HSET', key, 'u', ARGV[9])
  user = ARGV[9]
end
redis.call('PEXPIREAT', key, ms(tonumber(ARGV[7])))
local keeper = ARGV[11] ~= '0'
mark(key, (keeper and not hex) and ARGV[11] or '')  -- a change through an alias is never kept
if standalone and user then index_add(user, member, ARGV[7]) end
if keeper and tonumber(ARGV[7]) > now then  -- a deadline passed: Redis dropped it
  s.xs, s.u = ARGV[7], user
  return encoded(key, s, hex or '')
end
return 1
""",
)

TOUCH = _script(
    "touch",
    """
-- KEYS[1]: the session. ARGV[4]: last_seen; [5]: saved_deadline (JSON); [6]: deadline;
-- [7]: KEYS[1]'s hex key. Moves each forward only. Returns 1, 0 (gone), or on a cluster
-- {'user', tag} when the deadline moved and the caller must move the index entry too.
local s = state(KEYS[1])
if not live(s, nil) or s.a then return 0 end
local m = redis.call('HMGET', KEYS[1], 'm:last_seen', 'm:saved_deadline')
if tonumber(ARGV[4]) > (tonumber(m[1]) or -math.huge) then
  redis.call('HSET', KEYS[1], 'm:last_seen', ARGV[4])
end
if tonumber(ARGV[5]) > (tonumber(m[2]) or -math.huge) then
  redis.call('HSET', KEYS[1], 'm:saved_deadline', ARGV[5])
end
if tonumber(ARGV[6]) > s.x then
  redis.call('HSET', KEYS[1], 'x', ARGV[6])
  redis.call('PEXPIREAT', KEYS[1], ms(tonumber(ARGV[6])))
  if s.u then
    if not standalone then return {'user', s.u} end
    index_add(s.u, ARGV[7], ARGV[6])
  end
end
mark(KEYS[1], '')
return 1
""",
)

SWAP = _script(
    "swap",
    """
-- KEYS[1]: the session. ARGV[4]: the alias key this call follows (''); [5]: a user tag
-- whose valid_after the caller read (cluster), [6]: that valid_after; [7]: the data field;
-- [8]: '1' when a value is expected, [9]: that value's text; [10]: '1' to set, '0' to
-- delete, [11]: the new text. Returns swapped, gone, {'conflict', the text stored (absent:
-- nothing)}, or on a cluster {'alias', hex} / {'user', tag} as WRITE does.
local key, s = writable()
if not key then return s or 'gone' end
local current = redis.call('HGET', key, ARGV[7])
if ARGV[8] == '1' then
  if current ~= ARGV[9] then return {'conflict', current} end
elseif current then
  return {'conflict', current}
end
if ARGV[10] == '1' then
  redis.call('HSET', key, ARGV[7], ARGV[11])
else
  redis.call('HDEL', key, ARGV[7])
end
mark(key, '')
return 'swapped'
""",
)

DELETE = _script(
    "delete",
    """
-- KEYS[1]: the session. ARGV[4]: its hex key; [5]: the owner it must have ('' for any).
-- Returns 1 (deleted), 0, or on a cluster {'user', tag}: deleted, index entry left over.
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
local u = false
if kind == 'hash' then u = redis.call('HGET', KEYS[1], 'u') end
if ARGV[5] ~= '' and u ~= ARGV[5] then return 0 end
redis.call('DEL', KEYS[1])
mark(KEYS[1], '')
if u then
  if not standalone then return {'user', u} end
  redis.call('ZREM', index_key(u), ARGV[4])
  index_tidy(index_key(u))
end
return 1
""",
)

ROTATE = _script(
    "rotate",
    """
-- Single server only. KEYS[1]: the old session, KEYS[2]: the new one. ARGV[4]: grace
-- end ('' for none); [5]: new deadline; [6]: old hex; [7]: new hex; [8]: new user tag
-- (''); [9]: '1' to carry the old record's data over; [10]: n, then n data fields not to
-- carry; then the new record's field, value pairs (its changed data fields win over the
-- old ones). Returns rotated, collision or gone.
local old = state(KEYS[1])
if not live(old, nil) or old.a then return 'gone' end
if old.u and revoked(old, redis.call('GET', valid_after_key(old.u))) then return 'gone' end
local new = state(KEYS[2])
if new and new.x > now then return 'collision' end
redis.call('DEL', KEYS[2])
local skipped = tonumber(ARGV[10])
call_chunked('HSET', KEYS[2], ARGV, 11 + skipped, #ARGV)
if ARGV[9] == '1' then
  local dropped = {}
  for i = 11, 10 + skipped do dropped[ARGV[i]] = true end
  local flat = redis.call('HGETALL', KEYS[1])
  for i = 1, #flat, 2 do
    if string.sub(flat[i], 1, 2) == 'd:' and not dropped[flat[i]] then
      redis.call('HSETNX', KEYS[2], flat[i], flat[i + 1])
    end
  end
end
redis.call('PEXPIREAT', KEYS[2], ms(tonumber(ARGV[5])))
retire(KEYS[1], old, ARGV[4], ARGV[7])
mark(KEYS[1], '')
mark(KEYS[2], '')
if old.u then
  redis.call('ZREM', index_key(old.u), ARGV[6])
  index_tidy(index_key(old.u))
end
if ARGV[8] ~= '' then index_add(ARGV[8], ARGV[7], ARGV[5]) end
return 'rotated'
""",
)

# A rotation on Redis Cluster, whose old and new keys live in different slots, in three
# steps ordered so that a crash between any two loses at most this session (the user
# signs in again) and never leaves two live copies: RESERVE the new key (a pending record
# no token can load), RETIRE the old one (deleted, or made an alias of the new one), then
# ACTIVATE the new one. ABANDON drops a reservation whose old session turned out gone.
RESERVE = _script(
    "reserve",
    f"""
-- KEYS[1]: the new session. ARGV[4]: the old hex key; [5..]: field, value pairs.
local s = state(KEYS[1])
if s and s.x > now then return 'collision' end
redis.call('DEL', KEYS[1])
call_chunked('HSET', KEYS[1], ARGV, 5, #ARGV)
redis.call('HSET', KEYS[1], 'p', ARGV[4])
redis.call('PEXPIRE', KEYS[1], {PENDING_MS})
return 'reserved'
""",
)

RETIRE = _script(
    "retire",
    """
-- KEYS[1]: the old session. ARGV[4]: a user tag whose valid_after the caller read,
-- [5]: that valid_after; [6]: grace end (''); [7]: the new hex key.
-- Returns gone, {'user', tag} (read that user's valid_after first) or
-- {'retired', tag, its data fields and values as they were retired...}.
local old = state(KEYS[1])
if not live(old, nil) or old.a then return 'gone' end
if old.u then
  if old.u ~= ARGV[4] then return {'user', old.u} end
  if revoked(old, ARGV[5]) then return 'gone' end
end
local reply = {'retired', old.u or ''}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  if string.sub(flat[i], 1, 2) == 'd:' then
    reply[#reply + 1] = flat[i]
    reply[#reply + 1] = flat[i + 1]
  end
end
retire(KEYS[1], old, ARGV[6], ARGV[7])
return reply
""",
)

ACTIVATE = _script(
    "activate",
    """
-- KEYS[1]: the new session. ARGV[4]: the old hex key its reservation names; [5..]:
-- (field, reserved, stored) triples, '' for absent or '=' .. text: a field that still
-- holds what RESERVE wrote takes the value the old record held when it was retired.
local s = state(KEYS[1])
if not s or s.p ~= ARGV[4] then return 0 end
for i = 5, #ARGV, 3 do
  local current = redis.call('HGET', KEYS[1], ARGV[i])
  if (current and ('=' .. current) or '') == ARGV[i + 1] then
    if ARGV[i + 2] == '' then
      redis.call('HDEL', KEYS[1], ARGV[i])
    else
      redis.call('HSET', KEYS[1], ARGV[i], string.sub(ARGV[i + 2], 2))
    end
  end
end
redis.call('HDEL', KEYS[1], 'p')
redis.call('PEXPIREAT', KEYS[1], ms(s.x))
return 1
""",
)

ABANDON = _script(
    "abandon",
    """
-- KEYS[1]: the new session. ARGV[4]: the old hex key its reservation names.
if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 'p') == ARGV[4] then
  redis.call('DEL', KEYS[1])
end
return 1
""",
)

USER = _script(
    "user",
    """
-- KEYS[1]: a user's index, KEYS[2]: their valid_after. ARGV[4]: a member to add ('')
-- with [5]: its score (raised only, never lowered); [6]: '1' to list the members;
-- [7..]: members to remove. Prunes dead members. Returns {valid_after or '', members}.
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[1], 'GT', ARGV[5], ARGV[4]) end
call_chunked('ZREM', KEYS[1], ARGV, 7, #ARGV)
index_tidy(KEYS[1])
local members = {}
if ARGV[6] == '1' then members = redis.call('ZRANGE', KEYS[1], 0, -1) end
return {redis.call('GET', KEYS[2]) or '', members}
""",
)

REVOKE = _script(
    "revoke",
    """
-- KEYS[1]: a user's index, KEYS[2]: their valid_after. ARGV[4]: the new valid_after
-- (never moved back); [5]: the hex key to keep (''). Empties the index but for the kept
-- member and returns the members removed (the caller deletes their sessions).
local current = redis.call('GET', KEYS[2])
if not current or tonumber(ARGV[4]) > tonumber(current) then redis.call('SET', KEYS[2], ARGV[4]) end
local doomed = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[5] then doomed[#doomed + 1] = member end
end
call_chunked('ZREM', KEYS[1], doomed, 1, #doomed)
index_expire(KEYS[1])
return doomed
""",
)

# Small scripts sent with EVAL inside pipelines, one key each (a Redis Cluster pipeline
# spreads them over the nodes): no prelude, so each costs a few hundred bytes.
DELETE_OWNED = Lua(
    "delete-owned",
    """-- KEYS[1]: a session; ARGV[1]: the user tag it must have. Returns 1 if deleted.
if redis.call('TYPE', KEYS[1]).ok == 'hash' and redis.call('HGET', KEYS[1], 'u') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
)

REAP = Lua(
    "reap",
    """-- KEYS[1]: a session; ARGV[1]: now. Deletes it if its deadline has passed.
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
local x = tonumber(redis.call('HGET', KEYS[1], 'x'))
if x and x <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
""",
)
