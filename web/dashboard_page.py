"""The operator page's HTML, rendered here and nowhere else: the sign-in form, the page, and
the sessions fragment the page fetches every few seconds. Every value from outside (session
ids, messages) goes through html.escape; the CSS and the script are inline, so the page needs
no other host and no build step, and a per-response nonce lets only them run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from itertools import groupby

from web.session_cookie import HEADER

REFRESH_SECONDS = 5
HOLD_MINUTES = 30
STATE_LABELS = {"paused": "Paused", "held": "Held", "active": "Active", "idle": "Idle"}

CSS = """
:root{color-scheme:light;--ink:#1d2330;--muted:#5d6677;--line:#d9dee7;--bg:#f4f6f9;
--card:#fff;--accent:#1f6feb;--paused:#b42318;--held:#7a3ff2;--active:#b25e09;--idle:#3f7d20}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}
header{display:flex;align-items:center;justify-content:space-between;gap:1rem;
padding:.75rem 1rem;background:var(--ink);color:#fff}
header h1{font-size:1.1rem;margin:0}
main{max-width:72rem;margin:0 auto;padding:1rem}
h2{font-size:1rem;margin:1.25rem 0 .5rem;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
.grid{display:grid;gap:.75rem;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.9rem}
.top{display:flex;justify-content:space-between;align-items:flex-start;gap:.5rem}
.sid{font:600 1rem ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.state{flex:none;font-size:.8rem;font-weight:700;padding:.15rem .55rem;border-radius:1rem;
color:#fff}
.state-paused{background:var(--paused)}.state-held{background:var(--held)}
.state-active{background:var(--active)}.state-idle{background:var(--idle)}
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .75rem;margin:.75rem 0}
dt{color:var(--muted)}dd{margin:0;word-break:break-word}
.countdown{font-variant-numeric:tabular-nums;font-weight:700}
.actions{display:flex;gap:.5rem;flex-wrap:wrap}
button{font:inherit;font-weight:600;border-radius:.45rem;border:1px solid var(--accent);
padding:.55rem .9rem;min-height:2.75rem;cursor:pointer;background:#fff;color:var(--accent)}
button.primary{background:var(--accent);color:#fff}
button:disabled{opacity:.55;cursor:wait}
header button{border-color:#fff;background:transparent;color:#fff;min-height:2.25rem}
.status{color:var(--muted);font-size:.9rem;margin:1rem 0 0}
.flash{padding:.6rem .8rem;border-radius:.45rem;background:#e8f0fe;margin:0 0 .75rem}
.flash.error,.error{background:#fdecea;color:var(--paused)}
.empty{color:var(--muted)}
.at{display:block;color:var(--muted);font-size:.8rem}
.signin{max-width:24rem;margin:12vh auto;background:var(--card);border:1px solid var(--line);
border-radius:.6rem;padding:1.25rem}
.signin h1{font-size:1.25rem;margin-top:0}
.signin label{display:block;font-weight:600;margin-bottom:.35rem}
.signin input{width:100%;font:inherit;padding:.6rem;border:1px solid var(--line);
border-radius:.45rem;margin-bottom:.9rem}
.signin button{width:100%}
.signin .error{padding:.6rem .8rem;border-radius:.45rem}
@media (max-width:30rem){main{padding:.6rem}.actions button{flex:1 1 auto}}
"""

# Countdowns tick every second on the server's clock (the fragment says what time it was
# there); the fragment is fetched again every REFRESH_SECONDS; the buttons call the control
# API with the sign-in cookie and HEADER. Text from the server is already escaped HTML.
SCRIPT = """
(function(){
  var box=document.getElementById('sessions'), flash=document.getElementById('flash');
  var status=document.getElementById('status'), offset=0;
  function pad(n){return (n<10?'0':'')+n;}
  function span(ms){var s=Math.max(0,Math.round(ms/1000)), h=Math.floor(s/3600);
    var m=Math.floor(s%3600/60); return (h?h+':'+pad(m):m)+':'+pad(s%60);}
  function ago(ms){var s=Math.max(0,Math.round(ms/1000));
    return s<60?s+' s ago':s<3600?Math.floor(s/60)+' min ago':Math.floor(s/3600)+' h ago';}
  function tick(){
    var now=Date.now()+offset;
    box.querySelectorAll('[data-until]').forEach(function(el){
      var left=Number(el.dataset.until)-now;
      el.textContent=left>0?span(left):'due now';});
    box.querySelectorAll('[data-since]').forEach(function(el){
      el.textContent=ago(now-Number(el.dataset.since));});
  }
  function show(text,bad){flash.textContent=text; flash.hidden=!text;
    flash.className=bad?'flash error':'flash';}
  function refresh(){
    return fetch('/dashboard/sessions'+location.search,
        {credentials:'same-origin',headers:{'__HEADER__':'1'}})
      .then(function(r){
        if(r.status===401){location.reload();return;}
        if(!r.ok){throw new Error('the server answered '+r.status);}
        return r.text().then(function(html){
          box.innerHTML=html;
          var stamp=box.querySelector('[data-now]');
          if(stamp){offset=Number(stamp.dataset.now)-Date.now();}
          status.textContent='Updated '+new Date().toLocaleTimeString()+
            '; refreshes every __REFRESH__ s';
          tick();});})
      .catch(function(e){status.textContent='Could not refresh ('+e.message+'); retrying';});
  }
  box.addEventListener('click',function(ev){
    var b=ev.target.closest('button[data-action]'); if(!b){return;}
    var card=b.closest('[data-sid]'), ws=card.dataset.ws, sid=card.dataset.sid;
    var url='/api/v1/workspaces/'+encodeURIComponent(ws)+'/sessions/'+
      encodeURIComponent(sid)+'/'+b.dataset.action;
    var body=b.dataset.action==='hold'?JSON.stringify({minutes:__HOLD__}):'{}';
    b.disabled=true;
    fetch(url,{method:'POST',credentials:'same-origin',body:body,
      headers:{'Content-Type':'application/json','__HEADER__':'1'}})
      .then(function(r){return r.json().then(function(j){return [r,j];});})
      .then(function(rj){var r=rj[0], j=rj[1];
        if(r.status===401){location.reload();return;}
        if(!j.success){show(j.message||('Failed: '+r.status),true);return;}
        show(b.dataset.action==='hold'?'Held '+sid+' for __HOLD__ minutes':
          'Resumed '+sid+' ('+j.data.resumed_campaign_ids.length+' campaigns)',false);})
      .catch(function(e){show('Request failed: '+e.message,true);})
      .then(function(){b.disabled=false; return refresh();});
  });
  setInterval(tick,1000); setInterval(refresh,__REFRESH__*1000); tick();
})();
""".replace("__HEADER__", HEADER).replace("__REFRESH__", str(REFRESH_SECONDS)) \
    .replace("__HOLD__", str(HOLD_MINUTES))


def document(title: str, body: str, nonce: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f'<style nonce="{nonce}">{CSS}</style></head><body>{body}</body></html>'
    )


def sign_in(nonce: str, message: str | None = None) -> str:
    """The sign-in form, with `message` (why the last try was refused) when there is one."""
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return document("phoneguard: sign in", (
        '<form class="signin" method="post" action="/dashboard/sign-in">'
        "<h1>phoneguard operator page</h1>"
        f"{error}"
        '<label for="token">API token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" '
        'required autofocus>'
        '<button class="primary" type="submit">Sign in</button></form>'
    ), nonce)


def page(sessions: list[dict], *, now: dt.datetime, nonce: str) -> str:
    """The signed-in page: every listed session, refreshed and ticking by itself."""
    return document("phoneguard: sessions", (
        "<header><h1>phoneguard · sessions</h1>"
        '<form method="post" action="/dashboard/sign-out"><button type="submit">Sign out'
        "</button></form></header><main>"
        '<p id="flash" class="flash" role="status" hidden></p>'
        f'<div id="sessions">{fragment(sessions, now=now)}</div>'
        f'<p id="status" class="status">Refreshes every {REFRESH_SECONDS} s</p></main>'
        f'<script nonce="{nonce}">{SCRIPT}</script>'
    ), nonce)


def fragment(sessions: list[dict], *, now: dt.datetime) -> str:
    """The sessions, grouped by workspace (as the list API orders them)."""
    stamp = f'<span hidden data-now="{_ms(now)}"></span>'
    if not sessions:
        return stamp + ('<p class="empty">No session has recent phone activity or paused '
                        "campaigns.</p>")
    groups = groupby(sessions, key=lambda s: s["workspace_id"])
    return stamp + "".join(_workspace(ws, list(items)) for ws, items in groups)


def _workspace(workspace_id: int, sessions: Iterable[dict]) -> str:
    cards = "".join(_card(s) for s in sessions)
    return f'<section><h2>Workspace {escape(str(workspace_id))}</h2>' \
           f'<div class="grid">{cards}</div></section>'


def _card(s: dict) -> str:
    state = s["state"] if s["state"] in STATE_LABELS else "idle"
    ids = s["paused_campaign_ids"]
    paused = ", ".join(f"#{int(cid)}" for cid in ids) if ids else "none"
    return (
        f'<article class="card" data-ws="{escape(str(s["workspace_id"]))}" '
        f'data-sid="{escape(s["session_id"])}">'
        f'<div class="top"><span class="sid">{escape(s["session_id"])}</span>'
        f'<span class="state state-{state}">{STATE_LABELS[state]}</span></div>'
        f"<dl><dt>Paused campaigns</dt><dd>{escape(paused)}</dd>"
        f"{_countdown(s)}{_last_activity(s['last_activity'])}</dl>"
        '<div class="actions">'
        '<button class="primary" type="button" data-action="resume">Resume now</button>'
        f'<button type="button" data-action="hold">Hold {HOLD_MINUTES} min</button>'
        "</div></article>"
    )


def _countdown(s: dict) -> str:
    label, until = (("Hold ends in", s["held_until"]) if s["state"] == "held" and s["held_until"]
                    else ("Next check in", s["next_check_at"]))
    if not until:
        return "<dt>Next check</dt><dd>none pending</dd>"
    return (f'<dt>{label}</dt><dd><time class="countdown" datetime="{escape(until)}" '
            f'data-until="{_ms(_parse(until))}">{escape(until)}</time></dd>')


def _last_activity(iso: str | None) -> str:
    if not iso:
        return "<dt>Last activity</dt><dd>none recorded</dd>"
    moment = _parse(iso)
    return (f'<dt>Last activity</dt><dd><span data-since="{_ms(moment)}"></span>'
            f'<small class="at">{moment:%Y-%m-%d %H:%M:%S} UTC</small></dd>')


def _parse(iso: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _ms(moment: dt.datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
