"""The demo's HTML: one layout, small pages, no build step and no template engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from ..devices import Device

STYLE = """
:root { --ink:#1d2433; --muted:#5b6477; --line:#e3e7ef; --bg:#f6f8fb; --card:#fff;
        --accent:#2f5bea; --accent-ink:#fff; --ok:#17805a; --warn:#b45309; --bad:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:var(--card); border-bottom:1px solid var(--line); }
.bar { max-width:960px; margin:0 auto; padding:.75rem 1rem; display:flex; gap:1rem;
       align-items:center; flex-wrap:wrap; }
.brand { font-weight:700; letter-spacing:.01em; margin-right:auto; color:var(--ink); text-decoration:none; }
nav a { color:var(--muted); text-decoration:none; padding:.25rem .5rem; border-radius:.4rem; }
nav a:hover, nav a[aria-current] { color:var(--ink); background:var(--bg); }
main { max-width:960px; margin:0 auto; padding:1.5rem 1rem 3rem; display:grid; gap:1rem;
       grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
@media (max-width: 760px) { main { grid-template-columns: 1fr; } }
.card { background:var(--card); border:1px solid var(--line); border-radius:.75rem; padding:1.25rem 1.25rem; }
.card h1 { font-size:1.35rem; margin:.1rem 0 .75rem; }
.card h2 { font-size:1.05rem; margin:0 0 .75rem; }
.note { grid-column:1 / -1; border-left:4px solid var(--accent); background:#eef2ff; }
.note p { margin:0; }
.big { font-size:1.25rem; font-weight:600; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:.35rem 1rem; margin:0; }
dt { color:var(--muted); }
dd { margin:0; overflow-wrap:anywhere; }
code { font: 0.9em ui-monospace, SFMono-Regular, Menlo, monospace; background:var(--bg);
       padding:.05rem .3rem; border-radius:.3rem; }
.badge { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.85rem;
         border:1px solid var(--line); background:var(--bg); }
.badge.ok { color:var(--ok); border-color:#b7e4cf; background:#ecfdf3; }
.badge.warn { color:var(--warn); border-color:#fcd9a8; background:#fffaeb; }
.countdown { font-variant-numeric: tabular-nums; font-weight:600; }
.countdown.ended { color:var(--bad); }
form { display:grid; gap:.75rem; margin:0; }
form.inline { display:inline; }
label { display:grid; gap:.25rem; font-weight:500; }
label.check { display:flex; gap:.5rem; align-items:center; font-weight:400; }
input[type=text], input[type=password] { font:inherit; padding:.55rem .7rem; border:1px solid var(--line);
       border-radius:.5rem; }
button, .button { font:inherit; cursor:pointer; border:1px solid var(--accent); background:var(--accent);
       color:var(--accent-ink); padding:.5rem .9rem; border-radius:.5rem; text-decoration:none; display:inline-block; }
button.secondary, .button.secondary { background:var(--card); color:var(--accent); }
button.danger { background:var(--card); color:var(--bad); border-color:#f3c1bd; }
.actions { display:flex; gap:.5rem; flex-wrap:wrap; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:.5rem .4rem; border-top:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:500; border-top:0; }
.muted { color:var(--muted); }
footer { grid-column:1 / -1; color:var(--muted); font-size:.9rem; }
"""

COUNTDOWN = """
function tick() {
  for (const el of document.querySelectorAll('[data-deadline]')) {
    const left = Math.floor(Number(el.dataset.deadline) - Date.now() / 1000);
    if (left <= 0) { el.textContent = 'ended: reload and the server will confirm'; el.classList.add('ended'); continue; }
    const d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600),
          m = Math.floor(left % 3600 / 60), s = left % 60;
    el.textContent = (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
  }
}
tick(); setInterval(tick, 250);
"""


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the side panel shows about the visitor's session."""

    user: str | None
    handle: str | None
    created_at: datetime | None
    signed_in_at: datetime | None
    browser_close: bool
    expiry_age: int | float | None
    expiry_date: datetime | None
    server_deadline: datetime | None
    idle_timeout: int | None
    absolute_timeout: int | None


def duration(seconds: int | float) -> str:
    """``900`` as ``15 min``, ``2592000`` as ``30 days``."""
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


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


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _countdown(moment: datetime | None) -> str:
    if moment is None:
        return '<span class="muted">no session stored</span>'
    return f'<span class="countdown" data-deadline="{moment.timestamp():.3f}">{_when(moment)}</span>'


def layout(title: str, body: str, view: SessionView, *, current: str = "", note: str | None = None) -> str:
    links = [
        ("/", "Home"),
        ("/set-short-session", "10-second session"),
        ("/check-session", "Check session"),
        ("/devices", "Your devices"),
    ]
    nav = "".join(
        f'<a href="{href}"{" aria-current=page" if href == current else ""}>{escape(text)}</a>'
        for href, text in links
    )
    account = (
        f'<form class="inline" method="post" action="/logout"><button class="secondary" type="submit">Sign out {escape(view.user)}</button></form>'
        if view.user
        else '<a class="button" href="/login">Sign in</a>'
    )
    note_html = f'<section class="card note" role="status"><p>{escape(note)}</p></section>' if note else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · sessionary demo</title>
<style>{STYLE}</style></head>
<body><header><div class="bar"><a class="brand" href="/">sessionary demo</a><nav>{nav}</nav>{account}</div></header>
<main>{note_html}<section class="card">{body}</section>{session_panel(view)}
<footer>Server-side sessions with Django's expiry rules. The cookie holds a random 256-bit token; the store keeps only its SHA-256.</footer>
</main><script>{COUNTDOWN}</script></body></html>"""


def session_panel(view: SessionView) -> str:
    if view.handle is None:
        return """<aside class="card" aria-label="Your session"><h2>Your session</h2>
<p class="muted">No session yet: nothing is stored and no cookie is set until something is saved.</p></aside>"""
    if view.browser_close:
        cookie = '<span class="badge warn">ends when the browser closes</span>'
    else:
        cookie = f'<span class="badge ok">Max-Age {escape(str(view.expiry_age))} s from the last save</span>'
    timeouts = []
    if view.idle_timeout:
        timeouts.append(f"{duration(view.idle_timeout)} idle")
    if view.absolute_timeout:
        timeouts.append(f"{duration(view.absolute_timeout)} after sign-in")
    return f"""<aside class="card" aria-label="Your session"><h2>Your session</h2><dl>
<dt>Signed in as</dt><dd>{escape(view.user) if view.user else '<span class="muted">nobody</span>'}</dd>
<dt>Session</dt><dd><code title="a hash of your token, never the token">{escape(view.handle[:12])}…</code></dd>
<dt>Created</dt><dd>{_when(view.created_at)}</dd>
<dt>Signed in</dt><dd>{_when(view.signed_in_at)}</dd>
<dt>Cookie</dt><dd>{cookie}</dd>
<dt>Django expiry date</dt><dd>{_when(view.expiry_date)}</dd>
<dt>Server ends it in</dt><dd id="server-countdown">{_countdown(view.server_deadline)}</dd>
<dt>Timeouts</dt><dd>{escape(", ".join(timeouts) or "Django's expiry only")}</dd>
</dl><p class="muted">The countdown is the server's deadline as of this page: every request that uses the session
moves the idle deadline; a save moves Django's.</p></aside>"""


def home(view: SessionView) -> str:
    if view.user:
        greeting = f'<p class="big">Hello, {escape(view.user)}.</p>'
    else:
        greeting = '<p class="big">You are not signed in.</p>'
    return f"""<h1>What sessionary does with your session</h1>{greeting}
<p>Try the tutorial's <a href="/set-short-session">10-second session</a> and <a href="/check-session">check it</a>
before and after ten seconds; <a href="/login">sign in</a> with or without "remember me"; open this page in a
second browser, sign in as the same user, and end one session from <a href="/devices">your devices</a>.</p>
<div class="actions"><a class="button" href="/set-short-session">Start a 10-second session</a>
<a class="button secondary" href="/check-session">Check the session</a></div>"""


def short_session() -> str:
    return """<h1 id="result">Session set for 10 seconds</h1>
<p><code>request.session.set_expiry(10)</code> and <code>request.session["user"] = "Alice"</code>: the cookie has
<code>Max-Age=10</code>, and the server refuses the session ten seconds after this save even if the browser
still sends the cookie.</p>
<div class="actions"><a class="button" href="/check-session">Check the session</a></div>"""


def check_session(user: str) -> str:
    return f"""<h1 id="result">User in session: {escape(user)}</h1>
<p class="muted">Reading the session did not extend it: Django's expiry counts from the last save.</p>
<div class="actions"><a class="button secondary" href="/check-session">Check again</a>
<a class="button secondary" href="/set-short-session">Start a new 10-second session</a></div>"""


def login_form(error: str | None = None) -> str:
    problem = f'<p role="alert" class="badge warn">{escape(error)}</p>' if error else ""
    return f"""<h1>Sign in</h1>{problem}
<form method="post" action="/login">
<label>User name <input type="text" name="username" autocomplete="username" required maxlength="64"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" placeholder="any password works in the demo"></label>
<label class="check"><input type="checkbox" name="remember" value="1"> Remember me (5 minutes, <code>set_expiry(300)</code>);
off: the cookie ends when the browser closes</label>
<div class="actions"><button type="submit">Sign in</button></div>
</form>
<p class="muted">Signing in always issues a new session ID: a token planted before sign-in opens nothing after it.</p>"""


def devices_page(user: str, devices: list[Device]) -> str:
    rows = []
    for device in devices:
        label = '<span class="badge ok">this browser</span>' if device.current else ""
        action = (
            ""
            if device.current
            else f"""<form class="inline" method="post" action="/devices/revoke"><input type="hidden" name="handle" value="{escape(device.handle)}"><button class="danger" type="submit">Sign out</button></form>"""
        )
        rows.append(
            f"""<tr data-handle="{escape(device.handle)}"><td><span title="{escape(device.user_agent or "")}">{escape(device_name(device.user_agent))}</span> {label}<br>
<span class="muted">{escape(device.ip or "-")}</span></td><td>{_when(device.signed_in_at)}</td><td>{_when(device.last_seen)}</td>
<td>{_countdown(device.expires_at)}</td><td>{action}</td></tr>"""
        )
    table = (
        "<table><thead><tr><th>Device</th><th>Signed in</th><th>Last seen</th><th>Ends in</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    return f"""<h1>Your devices</h1>
<p>Every live session of <strong>{escape(user)}</strong>. Signing one out deletes it on the server: that browser
is signed out at its next request, whatever its cookie says.</p>{table}
<form method="post" action="/devices/revoke-others" style="margin-top:1rem">
<div class="actions"><button class="danger" type="submit">Log out everywhere else</button></div></form>"""


def signed_out_required() -> str:
    return """<h1>Your devices</h1><p>Sign in to see the sessions of your account.</p>
<div class="actions"><a class="button" href="/login">Sign in</a></div>"""
