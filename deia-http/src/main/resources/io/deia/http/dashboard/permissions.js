/*
 * deia dashboard: the permission requests of each bot's agent. A card per request in the bot's chat
 * (tool, summary, input as text, countdown to its timeout, Allow / Allow for session / Deny with an
 * optional reason), the outcome once it ends (who decided: a person, the policy, the timeout or the
 * end of the turn), a badge on the bot in the list while any waits, and a browser notification when
 * the user asked for them. Same safety rule as app.js: text only goes into the page through
 * textContent, after deiaText.visible.
 */
'use strict';

/**
 * Builds the permission functions over what app.js shares.
 *
 * @param ctx {app, api, el, safe, fmtTime, isLive(state), botState(bot)}
 */
window.deiaPermissions = function (ctx) {
  const { app, api, el, safe, fmtTime, isLive, botState } = ctx;
  /** The user's choice of notifications, kept across reloads. */
  const NOTIFY_KEY = 'deia.notify';
  const NOTIFY_DELAY_MS = 250;
  const OUTCOME = {
    allow: 'Allowed', allow_session: 'Allowed for this session', deny: 'Denied'
  };
  const BY = {
    user: 'by a person', policy: 'by the profile\'s policy', timeout: 'because nobody answered in time',
    cancelled: 'because the turn ended first'
  };

  /** bot id -> Map(request id -> card {data, node, parts, resolved, createdLocally}) */
  const cards = new Map();

  function cardsOf(botId) {
    let m = cards.get(botId);
    if (!m) {
      m = new Map();
      cards.set(botId, m);
    }
    return m;
  }

  /** How many requests of the bot wait for a person. */
  function pendingCount(botId) {
    let n = 0;
    cardsOf(botId).forEach((c) => { if (!c.resolved) n += 1; });
    return n;
  }

  function prettyInput(text) {
    if (typeof text !== 'string') return '';
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch (e) {
      // Cut at 16 KB it is no longer valid JSON: shown as it came.
      return text;
    }
  }

  function fmtLeft(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const m = Math.floor(s / 60);
    return m > 0 ? m + ' min ' + (s % 60) + ' s' : s + ' s';
  }

  function buildCard(bot, data) {
    const node = el('div', 'perm-card');
    node.dataset.requestId = data.request_id;
    node.dataset.state = 'pending';
    node.setAttribute('role', 'group');
    node.setAttribute('aria-label', 'Permission request of ' + bot.id);
    const head = el('div', 'perm-head');
    head.appendChild(el('span', 'perm-title', 'Permission request'));
    head.appendChild(el('span', 'perm-tool', safe(data.tool)));
    head.appendChild(el('span', 'perm-where', (data.task_id ? 'task ' + safe(data.task_id) : 'chat')
        + (data.created_at ? ' · ' + fmtTime(data.created_at) : '')));
    node.appendChild(head);
    node.appendChild(el('pre', 'perm-summary', safe(data.summary || data.tool)));

    const details = el('details', 'perm-input');
    details.appendChild(el('summary', null, 'Input' + (data.input_truncated ? ' (cut at 16 KB)' : '')));
    details.appendChild(el('pre', 'perm-input-text', safe(prettyInput(data.input))));
    node.appendChild(details);

    if (Array.isArray(data.suggestions) && data.suggestions.length) {
      node.appendChild(el('p', 'perm-suggestions', '“Allow for session” remembers: '
          + data.suggestions.map((s) => safe(s)).join('; ')));
    }
    const expires = el('p', 'perm-expires');
    node.appendChild(expires);

    const form = el('form', 'perm-form');
    const reasonId = 'perm-reason-' + data.request_id;
    const label = el('label', 'perm-reason-label', 'Reason (optional, the agent sees it)');
    label.htmlFor = reasonId;
    const reason = el('input', 'perm-reason');
    reason.type = 'text';
    reason.id = reasonId;
    reason.maxLength = 2000;
    reason.autocomplete = 'off';
    const buttons = el('div', 'perm-buttons');
    const allow = button('Allow', 'allow', 'btn primary');
    const session = button('Allow for session', 'allow_session', 'btn');
    const deny = button('Deny', 'deny', 'btn danger');
    buttons.append(allow, session, deny);
    form.append(label, reason, buttons);
    form.addEventListener('submit', (e) => e.preventDefault());
    node.appendChild(form);
    const status = el('p', 'perm-status');
    status.setAttribute('role', 'status');
    node.appendChild(status);

    const card = {
      botId: bot.id, data: data, node: node, resolved: null, sending: false,
      parts: { expires: expires, form: form, reason: reason, buttons: [allow, session, deny], status: status }
    };
    [allow, session, deny].forEach((b) => b.addEventListener('click', () => answer(card, b.dataset.decision)));
    return card;
  }

  function button(text, decision, cls) {
    const b = el('button', cls + ' perm-' + decision.replace('_', '-'), text);
    b.type = 'button';
    b.dataset.decision = decision;
    return b;
  }

  function setStatus(card, text, kind) {
    card.parts.status.textContent = text;
    card.parts.status.className = 'perm-status' + (kind ? ' ' + kind : '');
  }

  function renderExpiry(card) {
    if (card.resolved) {
      card.parts.expires.hidden = true;
      return;
    }
    const at = new Date(card.data.expires_at);
    if (isNaN(at.getTime())) {
      card.parts.expires.textContent = '';
      return;
    }
    const left = at.getTime() - Date.now();
    card.parts.expires.textContent = left > 0
      ? 'Denied in ' + fmtLeft(left) + ' if nobody answers (at ' + fmtTime(card.data.expires_at) + ')'
      : 'Timed out at ' + fmtTime(card.data.expires_at) + ': being denied';
    card.node.classList.toggle('perm-urgent', left > 0 && left < 60000);
  }

  /** A request seen (event or listing): its card, made once, attached to the bot's chat. */
  function show(bot, data, fromEvent) {
    if (!data || typeof data.request_id !== 'string') return null;
    const mine = cardsOf(bot.id);
    let card = mine.get(data.request_id);
    if (!card) {
      card = buildCard(bot, data);
      card.seenAt = Date.now();
      mine.set(data.request_id, card);
      // A request the policy decides at once is followed by its resolved event within moments:
      // only one still waiting a little later is worth interrupting the user for.
      if (fromEvent) setTimeout(() => { if (!card.resolved) notify(bot, data); }, NOTIFY_DELAY_MS);
    }
    if (!card.node.isConnected) bot.chat.log.appendChild(card.node);
    renderExpiry(card);
    if (bot.id === app.selected) bot.chat.log.scrollTop = bot.chat.log.scrollHeight;
    return card;
  }

  function resolve(card, decision, by, message, at) {
    card.resolved = { decision: decision, by: by };
    card.node.dataset.state = decision || 'ended';
    card.node.dataset.by = by || '';
    card.parts.form.hidden = true;
    card.parts.expires.hidden = true;
    card.node.classList.remove('perm-urgent');
    const what = (OUTCOME[decision] || 'Ended') + ' ' + (BY[by] || '') + (at ? ' at ' + fmtTime(at) : '');
    setStatus(card, what.replace(/\s+/g, ' ').trim() + (message ? ': ' + safe(message) : ''),
        decision === 'deny' ? 'denied' : 'allowed');
  }

  /** POST the person's answer; a request answered elsewhere first (409) or gone (404) is said plainly. */
  async function answer(card, decision) {
    if (card.resolved || card.sending) return;
    card.sending = true;
    card.parts.buttons.forEach((b) => { b.disabled = true; });
    setStatus(card, 'Sending…', null);
    const body = { decision: decision };
    const reason = card.parts.reason.value.trim();
    if (reason) body.message = reason;
    try {
      const res = await api('POST', '/api/bot/' + encodeURIComponent(card.botId) + '/permissions/'
          + encodeURIComponent(card.data.request_id), body);
      if (!card.resolved) resolve(card, res && res.decision ? res.decision : decision, 'user', reason, res && res.at);
    } catch (e) {
      if (e.status === 409) {
        card.parts.form.hidden = true;
        card.node.dataset.state = card.resolved ? card.node.dataset.state : 'answered-elsewhere';
        if (!card.resolved) {
          setStatus(card, 'Already answered elsewhere (another dashboard, the API, the policy or the timeout)'
              + ' — your answer was not used.', 'conflict');
          card.resolved = { decision: null, by: null };
          // The event of the answer that won fills in what it was.
          card.conflict = true;
        }
      } else if (e.status === 404) {
        if (!card.resolved) resolve(card, null, null, 'this request no longer exists (its turn ended or the bot restarted)');
      } else {
        setStatus(card, 'Could not send the answer: ' + e.message + ' — try again.', 'error');
        card.parts.buttons.forEach((b) => { b.disabled = false; });
      }
    } finally {
      card.sending = false;
      changed(card.botId);
    }
  }

  function onRequest(bot, msg) {
    show(bot, msg, true);
    changed(bot.id);
  }

  function onResolved(bot, msg) {
    if (typeof msg.request_id !== 'string') return;
    const card = cardsOf(bot.id).get(msg.request_id);
    if (!card) return;
    if (!card.resolved || card.conflict) {
      const lost = card.conflict;
      card.conflict = false;
      resolve(card, msg.decision, msg.by, msg.message, msg.at);
      if (lost) setStatus(card, 'Already answered elsewhere — ' + card.parts.status.textContent, 'conflict');
    }
    changed(bot.id);
  }

  /**
   * GET the bot's pending requests (after a reload, on selecting it (selected true), after a
   * resync): each gets its
   * card; a card still shown as waiting that the bot no longer lists ended while this page missed it.
   */
  async function load(bot, selected) {
    const state = botState(bot);
    if (state === 'starting' || state === 'restarting' || state === 'stopping') return;
    if (bot.gone || !isLive(state)) {
      cardsOf(bot.id).forEach((c) => { if (!c.resolved) resolve(c, null, null, 'the bot is no longer running'); });
      changed(bot.id);
      return;
    }
    // Asked only where something can wait: the bot says so (its state), this page shows a card
    // still waiting, or the user looks at a working bot. Other bots cost no request each reload.
    const worth = state === 'waiting_approval' || pendingCount(bot.id) > 0
      || (selected && (state === 'idle' || state === 'busy'));
    if (!worth) return;
    const asked = Date.now();
    let data;
    try {
      data = await api('GET', '/api/bot/' + encodeURIComponent(bot.id) + '/permissions');
    } catch (e) {
      // Not reachable right now (starting, restarting): the events and the next load bring them.
      return;
    }
    const listed = new Set();
    (data && Array.isArray(data.permissions) ? data.permissions : []).forEach((p) => {
      if (p && typeof p.request_id === 'string') {
        listed.add(p.request_id);
        show(bot, p, false);
      }
    });
    cardsOf(bot.id).forEach((c, id) => {
      if (!c.resolved && !listed.has(id) && c.seenAt < asked) resolve(c, null, null, 'no longer waiting');
    });
    changed(bot.id);
  }

  /** After the chat was emptied (resync): the cards go back at its end. */
  function reattach(bot) {
    cardsOf(bot.id).forEach((c) => { if (!c.node.isConnected) bot.chat.log.appendChild(c.node); });
  }

  // ---- the badge in the bot list --------------------------------------------------------------

  function changed(botId) {
    const bot = app.bots.get(botId);
    if (bot) renderBadge(bot);
  }

  /** The number of waiting requests on the bot's row in the list (hidden at 0). */
  function renderBadge(bot) {
    const item = bot.listItem;
    if (!item) return;
    let badge = item.button.querySelector('.perm-badge');
    if (!badge) {
      badge = el('span', 'perm-badge');
      item.button.appendChild(badge);
    }
    const n = pendingCount(bot.id);
    badge.hidden = n === 0;
    badge.textContent = n ? n + ' waiting' : '';
    badge.title = n ? n + ' permission request' + (n > 1 ? 's' : '') + ' waiting for you' : '';
    item.button.classList.toggle('has-permission', n > 0);
  }

  // ---- browser notifications ------------------------------------------------------------------

  function notifyWanted() {
    return typeof Notification !== 'undefined' && Notification.permission === 'granted'
      && localStorage.getItem(NOTIFY_KEY) === 'on';
  }

  function notify(bot, data) {
    if (!notifyWanted()) return;
    try {
      const n = new Notification(bot.id + ' asks: ' + safe(data.tool), {
        body: safe(data.summary || ''), tag: 'deia-' + data.request_id
      });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) {
      // Some browsers only show notifications from a service worker: the card and badge still show.
    }
  }

  /** The "notify me" toggle: asks the browser's permission only on the user's click. */
  function wireNotifyToggle(toggle) {
    if (!toggle) return;
    if (typeof Notification === 'undefined') {
      toggle.hidden = true;
      return;
    }
    const render = () => {
      const on = notifyWanted();
      toggle.setAttribute('aria-pressed', String(on));
      toggle.textContent = Notification.permission === 'denied' ? 'Notifications blocked'
        : (on ? 'Notifying' : 'Notify me');
      toggle.disabled = Notification.permission === 'denied';
      toggle.title = on ? 'A browser notification for each permission request; click to stop'
        : 'Show a browser notification when a bot asks for permission';
    };
    toggle.addEventListener('click', async () => {
      if (notifyWanted()) {
        localStorage.setItem(NOTIFY_KEY, 'off');
      } else {
        if (Notification.permission !== 'granted') {
          try { await Notification.requestPermission(); } catch (e) { /* render says what it is */ }
        }
        localStorage.setItem(NOTIFY_KEY, Notification.permission === 'granted' ? 'on' : 'off');
      }
      render();
    });
    render();
  }

  /** Every second: the countdowns of the waiting requests. */
  function tick() {
    cards.forEach((m) => m.forEach((c) => { if (!c.resolved) renderExpiry(c); }));
  }

  return {
    onRequest: onRequest, onResolved: onResolved, load: load, reattach: reattach, renderBadge: renderBadge,
    pendingCount: pendingCount, wireNotifyToggle: wireNotifyToggle, tick: tick
  };
};
