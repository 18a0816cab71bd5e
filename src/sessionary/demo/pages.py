"""The demo's HTML: one layout, small pages, no build step and no template engine.

Every page has the same frame: a line saying what the last request did to the session
and the cookie, a live countdown to the moment the server stops accepting the session,
the page itself, and the session's details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from .. import Device

STYLE = """
:root { --ink:#172033; --muted:#5d6679; --line:#e2e7f0; --bg:#f3f5fa; --card:#fff;
        --accent:#3451d1; --accent-soft:#eef1ff; --accent-ink:#fff;
        --ok:#0f7a55; --ok-soft:#e9f8f1; --warn:#a15c00; --warn-soft:#fff6e5;
        --bad:#b8322a; --bad-soft:#fdeeec; --radius:14px; }
* { box-sizing:border-box; }
html { -webkit-text-size-adjust:100%; }
body { margin:0; font:16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif;
       color:var(--ink); background:var(--bg); }
a { color:var(--accent); }
.top { background:var(--card); border-bottom:1px solid var(--line); position:sticky; top:0; z-index:1; }
.bar { max-width:1040px; margin:0 auto; padding:.6rem 1rem; display:flex; gap:.5rem 1.25rem;
       align-items:center; flex-wrap:wrap; }
.brand { display:flex; align-items:center; gap:.5rem; font-weight:700; font-size:1.05rem;
         color:var(--ink); text-decoration:none; }
.brand small { font-weight:500; color:var(--muted); font-size:.8rem; border:1px solid var(--line);
               border-radius:999px; padding:0 .45rem; }
.tabs { display:flex; gap:.25rem; flex:1; }
.tabs a { color:var(--muted); text-decoration:none; padding:.4rem .7rem; border-radius:999px;
          white-space:nowrap; font-size:.95rem; }
.tabs a:hover { color:var(--ink); background:var(--bg); }
.tabs a[aria-current] { color:var(--accent); background:var(--accent-soft); font-weight:600; }
.account { display:flex; align-items:center; gap:.5rem; margin-left:auto; }
.who { display:flex; align-items:center; gap:.4rem; color:var(--muted); font-size:.95rem; }
.avatar { width:1.9rem; height:1.9rem; border-radius:50%; background:var(--accent-soft); color:var(--accent);
          display:grid; place-items:center; font-weight:700; text-transform:uppercase; }
main { max-width:1040px; margin:0 auto; padding:1.25rem 1rem 2.5rem; display:grid; gap:1rem;
       grid-template-columns:minmax(0, 1fr) 340px; align-items:start; }
.col { display:grid; gap:1rem; min-width:0; }
.narrow { display:none; }
.card { background:var(--card); border:1px solid var(--line); border-radius:var(--radius);
        padding:1.25rem 1.35rem; box-shadow:0 1px 2px rgba(23,32,51,.04); }
h1 { font-size:1.5rem; line-height:1.25; margin:0 0 .6rem; letter-spacing:-.01em; }
h2 { font-size:1rem; margin:0 0 .75rem; }
p { margin:.5rem 0; }
.lead { font-size:1.1rem; color:var(--muted); margin-top:0; }
.happened { display:flex; gap:.75rem; align-items:flex-start; background:var(--accent-soft);
            border-color:#d5dcfb; }
.happened .icon { flex:none; width:1.75rem; height:1.75rem; border-radius:50%; background:var(--accent);
                  color:var(--accent-ink); display:grid; place-items:center; font-weight:700; font-size:.85rem; }
.happened p { margin:0; }
.happened b { display:block; font-size:.75rem; text-transform:uppercase; letter-spacing:.06em; color:var(--accent); }
.clock { display:grid; gap:.35rem; }
.clock .label { font-size:.75rem; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); font-weight:600; }
.clock .left { font-size:2.1rem; font-weight:700; line-height:1.1; font-variant-numeric:tabular-nums; }
.clock .rule { font-size:.88rem; color:var(--muted); }
.clock.none .left { font-size:1.25rem; color:var(--muted); }
.meter { height:.45rem; background:var(--bg); border-radius:999px; overflow:hidden; }
.meter span { display:block; height:100%; background:var(--accent); border-radius:999px; transition:width .25s linear; }
.ended .left, .countdown.ended { color:var(--bad); }
.ended .meter span { background:var(--bad); }
.countdown { font-variant-numeric:tabular-nums; font-weight:600; }
.details dl { display:grid; grid-template-columns:max-content minmax(0, 1fr); gap:.45rem .9rem; margin:0; font-size:.93rem; }
.details dt { color:var(--muted); }
.details dd { margin:0; overflow-wrap:anywhere; }
.details .foot { font-size:.85rem; color:var(--muted); margin:.9rem 0 0; }
code { font:.88em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background:var(--bg);
       padding:.08rem .35rem; border-radius:.35rem; }
pre { font:.9rem/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background:#172033; color:#e8ecf7;
      padding:.85rem 1rem; border-radius:10px; overflow-x:auto; margin:.75rem 0; }
.chips { display:flex; flex-wrap:wrap; gap:.3rem; margin-top:.3rem; }
.chip { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.8rem;
        border:1px solid var(--line); background:var(--bg); color:var(--muted); white-space:nowrap; }
.chip.ok { color:var(--ok); border-color:#bfe6d5; background:var(--ok-soft); }
.chip.warn { color:var(--warn); border-color:#f5d9a8; background:var(--warn-soft); }
.result { font-size:1.6rem; }
.result strong { color:var(--accent); }
.steps { list-style:none; padding:0; margin:1rem 0 0; display:grid; gap:.75rem;
         grid-template-columns:repeat(auto-fit, minmax(190px, 1fr)); }
.steps li { border:1px solid var(--line); border-radius:12px; padding:.9rem 1rem; display:flex;
            flex-direction:column; gap:.4rem; }
.steps li p { margin:0; color:var(--muted); font-size:.93rem; flex:1; }
.steps .n { font-size:.75rem; font-weight:700; color:var(--accent); letter-spacing:.06em; text-transform:uppercase; }
.steps strong { font-size:1.02rem; }
.steps form button { width:100%; }
form { margin:0; }
.stack { display:grid; gap:.9rem; max-width:26rem; }
label { display:grid; gap:.3rem; font-weight:600; font-size:.95rem; }
input[type=text], input[type=password] { font:inherit; font-weight:400; padding:.6rem .75rem;
       border:1px solid #cfd6e4; border-radius:10px; background:#fff; width:100%; }
input[type=text]:focus, input[type=password]:focus { outline:2px solid var(--accent-soft); border-color:var(--accent); }
.remember { display:flex; gap:.7rem; align-items:flex-start; font-weight:400; border:1px solid var(--line);
            border-radius:10px; padding:.7rem .8rem; cursor:pointer; }
.remember input { width:1.1rem; height:1.1rem; margin:.2rem 0 0; accent-color:var(--accent); flex:none; }
.remember span { display:grid; gap:.1rem; }
.remember small { color:var(--muted); font-size:.85rem; }
button, .button { font:inherit; font-weight:600; font-size:.95rem; cursor:pointer; border:1px solid var(--accent);
       background:var(--accent); color:var(--accent-ink); padding:.5rem 1rem; border-radius:10px;
       text-decoration:none; display:inline-flex; align-items:center; justify-content:center; gap:.4rem; }
button:hover, .button:hover { filter:brightness(1.08); }
.secondary { background:var(--card) !important; color:var(--accent) !important; border-color:#cdd5f6 !important; }
.danger { background:var(--card) !important; color:var(--bad) !important; border-color:#efc3be !important; }
.small { padding:.3rem .7rem; font-size:.88rem; }
.actions { display:flex; gap:.5rem; flex-wrap:wrap; margin-top:1rem; }
.error { color:var(--bad); background:var(--bad-soft); border:1px solid #efc3be; border-radius:10px; padding:.5rem .75rem; }
.muted { color:var(--muted); }
.devices { list-style:none; padding:0; margin:1rem 0 0; display:grid; gap:.6rem; }
.device { display:grid; grid-template-columns:auto minmax(0, 1fr) auto; gap:.25rem .9rem; align-items:center;
          border:1px solid var(--line); border-radius:12px; padding:.8rem .9rem; }
.device[data-current] { border-color:#bfe6d5; background:#fbfefc; }
.device svg { width:2.1rem; height:2.1rem; color:var(--muted); }
.device .name { font-weight:600; display:flex; gap:.4rem; align-items:center; flex-wrap:wrap; }
.device .meta { color:var(--muted); font-size:.86rem; }
.device .ends { text-align:right; font-size:.86rem; color:var(--muted); }
.device .ends .countdown { display:block; color:var(--ink); font-size:1rem; }
.device form { grid-column:2 / -1; justify-self:end; }
footer { grid-column:1 / -1; color:var(--muted); font-size:.85rem; text-align:center; padding-top:.5rem; }
@media (max-width: 820px) {
  main { grid-template-columns:minmax(0, 1fr); padding-top:1rem; }
  .col { display:contents; }
  .happened { order:1; } .clock { order:2; } .page { order:3; } .details { order:4; } footer { order:5; }
  .tabs { order:3; flex-basis:100%; overflow-x:auto; margin:0 -1rem; padding:0 .6rem .1rem; scrollbar-width:none; }
  .tabs a { padding:.35rem .6rem; }
  .wide { display:none; } .narrow { display:inline; }
  .who .name { display:none; }
  h1 { font-size:1.3rem; }
  .clock .left { font-size:1.8rem; }
}
@media (max-width: 460px) {
  .device { grid-template-columns:auto minmax(0, 1fr); }
  .device .ends { grid-column:2; text-align:left; }
  .device .ends .countdown { display:inline; margin-left:.25rem; }
  .device form { grid-column:2; justify-self:start; }
}
"""

COUNTDOWN = """
const loaded = performance.now();
function left(seconds) {
  if (seconds >= 86400) return Math.floor(seconds / 86400) + 'd ' + Math.floor(seconds % 86400 / 3600) + 'h';
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return (h ? h + ':' : '') + mm + ':' + String(s).padStart(2, '0');
}
function tick() {
  const elapsed = (performance.now() - loaded) / 1000;
  for (const el of document.querySelectorAll('[data-expires-in]')) {
    const remaining = Number(el.dataset.expiresIn) - elapsed;
    const out = el.querySelector('.left') || el;
    const bar = el.querySelector('.meter span');
    if (remaining <= 0) {
      out.textContent = 'ended';
      el.classList.add('ended');
      const hint = el.querySelector('.rule');
      if (hint && !hint.dataset.done) { hint.dataset.done = '1';
        hint.textContent = 'The server refuses this session now: your next request finds no session.'; }
    } else {
      out.textContent = left(Math.ceil(remaining));
    }
    if (bar) bar.style.width = Math.max(0, Math.min(100, 100 * remaining / Number(el.dataset.window))) + '%';
  }
}
tick(); setInterval(tick, 200);
for (const el of document.querySelectorAll('time[datetime]')) {
  el.textContent = new Date(el.getAttribute('datetime')).toLocaleTimeString([], {hour:'2-digit', minute:'2-digit', second:'2-digit'});
}
"""

LOGO = """<svg width="26" height="26" viewBox="0 0 26 26" aria-hidden="true"><circle cx="13" cy="13" r="12" fill="#3451d1"/>
<path d="M13 6.5v6.8l4.3 2.6" stroke="#fff" stroke-width="2.2" fill="none" stroke-linecap="round"/></svg>"""

LAPTOP = """<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6" aria-hidden="true">
<rect x="4" y="5" width="16" height="11" rx="1.5"/><path d="M2 19h20"/></svg>"""

PHONE = """<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6" aria-hidden="true">
<rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/></svg>"""


@dataclass(frozen=True, slots=True)
class Cookie:
    """How the session cookie is set, from the configuration."""

    name: str
    secure: bool
    httponly: bool
    samesite: str | None


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the page frame shows about the visitor's session."""

    cookie: Cookie
    user: str | None = None
    handle: str | None = None
    created_at: datetime | None = None
    signed_in_at: datetime | None = None
    browser_close: bool = False
    max_age: int | None = None
    """Seconds the cookie lives from each save (``set_expiry``), None when it ends at browser close."""
    deadline: datetime | None = None
    """When the server stops accepting the session (``Session.server_deadline()``)."""
    seconds_left: float | None = None
    rule: str = ""
    """Which rule sets the deadline, in words."""
    window: int = 0
    """The length of that rule's window in seconds (for the meter)."""
    idle_timeout: int | None = None
    absolute_timeout: int | None = None
    cookie_warning: str | None = None
    """Why the browser will not keep the cookie (a Secure cookie over plain HTTP), and the fix."""


def duration(seconds: int | float) -> str:
    """``900`` as ``15 min``, ``2592000`` as ``30 days``."""
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


def clock_text(seconds: float) -> str:
    """What the countdown shows before the script takes over (same format as the script)."""
    whole = max(0, int(-(-seconds // 1)))
    if whole <= 0:
        return "ended"
    if whole >= 86400:
        return f"{whole // 86400}d {whole % 86400 // 3600}h"
    hours, minutes, secs = whole // 3600, whole % 3600 // 60, whole % 60
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def device_name(user_agent: str | None) -> str:
    """A short name for a browser: "Chrome on Linux" rather than the whole user-agent string."""
    if not user_agent:
        return "Unknown browser"
    browsers = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
    systems = (
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for marker, name in browsers if marker in user_agent), None)
    system = next((name for marker, name in systems if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:40]


def is_phone(user_agent: str | None) -> bool:
    return bool(user_agent) and any(mark in str(user_agent) for mark in ("Mobile", "Android", "iPhone"))


def _time(moment: datetime | None) -> str:
    """A time the script shows in the reader's time zone (UTC without the script)."""
    if moment is None:
        return '<span class="muted">not yet</span>'
    iso = escape(moment.isoformat())
    return f'<time datetime="{iso}" title="{escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))}">{escape(moment.strftime("%H:%M:%S UTC"))}</time>'


def _label(wide: str, narrow: str) -> str:
    """A tab label, shorter on narrow screens."""
    if wide == narrow:
        return escape(wide)
    return f'<span class="wide">{escape(wide)}</span><span class="narrow">{escape(narrow)}</span>'


def _countdown(seconds_left: float) -> str:
    ended = " ended" if seconds_left <= 0 else ""
    return f'<span class="countdown{ended}" data-expires-in="{seconds_left:.3f}">{clock_text(seconds_left)}</span>'


def layout(title: str, body: str, view: SessionView, *, happened: str, current: str = "") -> str:
    links = [
        ("/", "Home", "Home"),
        ("/set-short-session", "10-second session", "10 seconds"),
        ("/check-session", "Check session", "Check"),
        ("/devices", "Your devices", "Devices"),
    ]
    tabs = "".join(
        f'<a href="{href}"{" aria-current=page" if href == current else ""}>{_label(wide, narrow)}</a>'
        for href, wide, narrow in links
    )
    if view.user:
        account = (
            f'<span class="who"><span class="avatar" aria-hidden="true">{escape(view.user[:1])}</span>'
            f'<span class="name">{escape(view.user)}</span></span>'
            '<form method="post" action="/logout"><button class="secondary small" type="submit" '
            f'aria-label="Sign out {escape(view.user)}">Sign out</button></form>'
        )
    else:
        account = '<a class="button small" href="/login">Sign in</a>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · sessionary demo</title>
<style>{STYLE}</style></head>
<body><header class="top"><div class="bar"><a class="brand" href="/">{LOGO}sessionary <small>demo</small></a>
<nav class="tabs" aria-label="Pages">{tabs}</nav><div class="account">{account}</div></div></header>
<main>
<div class="col">{cookie_warning(view)}<section class="card happened" role="status" aria-label="What just happened"><span class="icon" aria-hidden="true">i</span>
<p><b>Just now</b><span id="happened">{escape(happened)}</span></p></section>
<section class="card page">{body}</section></div>
<div class="col">{clock(view)}
{details(view)}</div>
<footer>Server-side sessions with Django's expiry rules. The cookie holds a random 256-bit token; the store keeps only its SHA-256.</footer>
</main><script>{COUNTDOWN}</script></body></html>"""


def cookie_warning(view: SessionView) -> str:
    if view.cookie_warning is None:
        return ""
    return (
        '<section class="card error" id="cookie-warning" role="alert"><b>Your browser will not keep the '
        f"session cookie.</b> {escape(view.cookie_warning)}</section>"
    )


def clock(view: SessionView) -> str:
    """The live countdown to the server's deadline for this session."""
    if view.deadline is None or view.seconds_left is None:
        return """<section class="card clock none" id="clock" aria-label="Session countdown">
<span class="label">Server deadline</span><span class="left">No session</span>
<span class="rule">Nothing is stored and no cookie is set until something is saved.</span></section>"""
    ended = " ended" if view.seconds_left <= 0 else ""
    share = 0.0 if view.window <= 0 else max(0.0, min(100.0, 100 * view.seconds_left / view.window))
    return f"""<section class="card clock{ended}" id="clock" aria-label="Session countdown"
 data-expires-in="{view.seconds_left:.3f}" data-window="{view.window}" data-deadline="{view.deadline.timestamp():.3f}">
<span class="label">The server ends your session in</span><span class="left" aria-live="off">{clock_text(view.seconds_left)}</span>
<span class="meter"><span style="width:{share:.1f}%"></span></span>
<span class="rule">{escape(view.rule)}</span></section>"""


def cookie_chips(view: SessionView) -> str:
    cookie = view.cookie
    flags = [name for name, on in (("Secure", cookie.secure), ("HttpOnly", cookie.httponly)) if on]
    if cookie.samesite:
        flags.append(f"SameSite={cookie.samesite}")
    chips = "".join(f'<span class="chip">{escape(flag)}</span>' for flag in flags)
    if view.deadline is not None:
        if view.browser_close:
            chips += '<span class="chip warn">ends when the browser closes</span>'
        elif view.max_age is not None:
            chips += f'<span class="chip ok">Max-Age={view.max_age} at each save</span>'
    return f'<code>{escape(cookie.name)}</code><span class="chips">{chips}</span>'


def details(view: SessionView) -> str:
    timeouts = []
    if view.idle_timeout:
        timeouts.append(f"{duration(view.idle_timeout)} idle")
    if view.absolute_timeout:
        timeouts.append(f"{duration(view.absolute_timeout)} after sign-in")
    rules = escape(", ".join(timeouts) or "Django's expiry only")
    if view.deadline is None:
        return f"""<aside class="card details" aria-label="Session details"><h2>Your session</h2><dl>
<dt>Session</dt><dd class="muted">none</dd>
<dt>Cookie</dt><dd>{cookie_chips(view)}</dd>
<dt>Timeouts</dt><dd>{rules}</dd></dl>
<p class="foot">No cookie is set until the session holds something: visiting costs nothing.</p></aside>"""
    user = escape(view.user) if view.user else '<span class="muted">nobody</span>'
    if view.handle is None:
        session = '<span class="muted">new: its ID goes out with this response</span>'
    else:
        session = f'<code title="a hash of your token, never the token">{escape(view.handle[:12])}…</code>'
    return f"""<aside class="card details" aria-label="Session details"><h2>Your session</h2><dl>
<dt>Signed in as</dt><dd id="user">{user}</dd>
<dt>Session</dt><dd>{session}</dd>
<dt>Cookie</dt><dd>{cookie_chips(view)}</dd>
<dt>Created</dt><dd>{_time(view.created_at) if view.handle else "with this request"}</dd>
<dt>Signed in</dt><dd>{_time(view.signed_in_at)}</dd>
<dt>Timeouts</dt><dd>{rules}</dd></dl>
<p class="foot">Reading the session does not extend Django's expiry; saving it does. The idle timeout counts from
your last request.</p></aside>"""


def _link(href: str, text: str) -> str:
    return f'<a class="button secondary small" href="{href}">{escape(text)}</a>'


def _steps(*steps: tuple[str, str, str]) -> str:
    """Numbered suggestions: (title, text, action), the text and action already HTML."""
    items = "".join(
        f"""<li><span class="n">Step {number}</span><strong>{escape(title)}</strong><p>{text}</p>{action}</li>"""
        for number, (title, text, action) in enumerate(steps, start=1)
    )
    return f'<ol class="steps">{items}</ol>'


SHORT_STEP = (
    "The tutorial's 10-second session",
    "<code>set_expiry(10)</code>, then check the session before and after the countdown ends.",
    _link("/set-short-session", "Start it"),
)


def home(view: SessionView) -> str:
    if view.user:
        steps = _steps(
            SHORT_STEP,
            (
                "A second device",
                f"Sign in as {escape(view.user)} in another browser or a private window, then look here.",
                _link("/devices", "Your devices"),
            ),
            (
                "Sign out",
                "The session is deleted on the server and the cookie expires; its old value opens nothing.",
                '<form method="post" action="/logout"><button class="secondary small" type="submit">Sign out</button></form>',
            ),
        )
        return f"""<h1>Hello, {escape(view.user)}.</h1>
<p class="lead">You are signed in. The countdown is the server's deadline for this session: watch it as you
move around.</p>
<p>Opening pages only reads the session. <strong>Saving</strong> it (a write, like adding to a cart) restarts
Django's expiry: the cookie is sent again with a fresh lifetime.</p>
<form method="post" action="/save" class="actions"><button type="submit">Save to the session</button>
<a class="button secondary" href="/check-session">Check the session</a></form>{steps}"""
    steps = _steps(
        SHORT_STEP,
        (
            "Sign in",
            'With "remember me" the cookie lasts 5 minutes; without it, it ends when the browser closes.',
            _link("/login", "Sign in"),
        ),
        (
            "Your devices",
            "Sign in as the same user in a second browser, then sign one out from the other.",
            _link("/devices", "Your devices"),
        ),
    )
    return f"""<h1>You are not signed in.</h1>
<p class="lead">This demo shows what sessionary does with your session and its cookie, one request at a time:
the line at the top explains the last request, the countdown shows when the server ends the session.</p>
{steps}"""


def short_session(view: SessionView) -> str:
    return f"""<h1 id="result">Session set for 10 seconds</h1>
<p>The tutorial's view ran:</p>
<pre>request.session.set_expiry(10)
request.session["user"] = "Alice"</pre>
<p>The cookie has <code>Max-Age=10</code>, and the server refuses the session ten seconds after this save even if
a browser still sends the cookie. {"This also shortens your signed-in session." if view.user else ""}</p>
<div class="actions"><a class="button" href="/check-session">Check the session</a></div>"""


def check_session(user: str) -> str:
    found = user != "No session"
    then = (
        "The session is still there: check again once the countdown has ended."
        if found
        else 'Nothing here: <a href="/set-short-session">start a 10-second session</a> and check again.'
    )
    return f"""<h1 id="result" class="result">User in session: <strong>{escape(user)}</strong></h1>
<p class="muted">{then} Reading the session does not extend Django's expiry, which counts from the last save.</p>
<div class="actions"><a class="button" href="/check-session">Check again</a>
<a class="button secondary" href="/set-short-session">Start a new 10-second session</a></div>"""


def login_form(error: str | None = None) -> str:
    problem = f'<p role="alert" class="error">{escape(error)}</p>' if error else ""
    return f"""<h1>Sign in</h1>
<p class="muted">Any user name and password work in the demo.</p>{problem}
<form method="post" action="/login" class="stack">
<label>User name <input type="text" name="username" autocomplete="username" required maxlength="64" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<label class="remember"><input type="checkbox" name="remember" value="1">
<span>Remember me<small>On: the cookie lasts 5 minutes from each save (<code>set_expiry(300)</code>).
Off: it ends when the browser closes (<code>set_expiry(0)</code>).</small></span></label>
<div><button type="submit">Sign in</button></div>
</form>
<p class="muted">Signing in always issues a new session ID: a token planted before sign-in opens nothing after it.</p>"""


def devices_page(user: str, devices: list[Device], *, now: float) -> str:
    rows = []
    for device in devices:
        badge = '<span class="chip ok">this browser</span>' if device.current else ""
        action = (
            ""
            if device.current
            else '<form method="post" action="/devices/revoke">'
            f'<input type="hidden" name="handle" value="{escape(device.handle)}">'
            '<button class="danger small" type="submit">Sign out</button></form>'
        )
        icon = PHONE if is_phone(device.user_agent) else LAPTOP
        current = " data-current" if device.current else ""
        rows.append(
            f"""<li class="device" data-handle="{escape(device.handle)}"{current}>{icon}
<div><div class="name"><span title="{escape(device.user_agent or "")}">{escape(device_name(device.user_agent))}</span>{badge}</div>
<div class="meta">{escape(device.ip or "unknown address")} · signed in {_time(device.signed_in_at)} · last seen {_time(device.last_seen)}</div></div>
<div class="ends">ends in {_countdown(device.expires_at.timestamp() - now)}</div>{action}</li>"""
        )
    others = len(devices) - 1
    everywhere = (
        """<form method="post" action="/devices/revoke-others" class="actions">
<button class="danger" type="submit">Log out everywhere else</button></form>"""
        if others > 0
        else '<p class="muted">No other device. Sign in as the same user in another browser (or a private window) to see it here.</p>'
    )
    return f"""<h1>Your devices</h1>
<p>Every live session of <strong>{escape(user)}</strong>. Signing one out deletes it on the server: that
browser is signed out at its next request, whatever its cookie says.</p>
<ul class="devices">{"".join(rows)}</ul>{everywhere}"""


def devices_unsupported(reason: str) -> str:
    return f"""<h1>Your devices</h1><p>This store cannot list or end sessions: {escape(reason)}.</p>
<p class="muted">Sign out still drops this browser's cookie. Run the demo on SQLite, Redis or PostgreSQL to
see every device.</p>"""


def signed_out_required() -> str:
    return """<h1>Your devices</h1><p>Sign in to see the sessions of your account.</p>
<div class="actions"><a class="button" href="/login">Sign in</a></div>"""
