/*
 * deia dashboard: the chat of each bot -- its log, live questions and replies from the events,
 * the history, and the outbox flow (send, "not sent", Retry, Discard). Same safety rule as app.js:
 * text only ever goes into the page through textContent, after deiaText.visible.
 */
'use strict';

/**
 * Builds the chat's functions over what app.js shares with it (app is the page's live state).
 *
 * @param ctx {ui, app, api, el, safe, fmtTime, fmtCost, newClientMsgId, botState(bot),
 *             renderDetail(), renderWorking(bot)}
 */
window.deiaChat = function (ctx) {
  const { ui, app, api, el, safe, fmtTime, fmtCost, newClientMsgId, botState, renderDetail, renderWorking } = ctx;
  /** Messages per history page. */
  const HISTORY_PAGE = 50;

  function scrollChat(bot) {
    const log = bot.chat.log;
    log.scrollTop = log.scrollHeight;
  }

  function messageNode(role, text, meta) {
    const node = el('div', 'msg msg-' + role);
    const head = el('div', 'msg-meta');
    head.appendChild(el('span', 'msg-who', meta));
    head.appendChild(el('span', 'msg-status'));
    node.appendChild(head);
    node.appendChild(el('div', 'msg-text', safe(text)));
    return node;
  }

  /** Who asked a question: this tab, another dashboard (WebSocket) or the REST API. */
  function askedBy(clientMsgId, source) {
    if (window.deiaOutbox.isMine(clientMsgId)) return 'you (this tab)';
    if (source === 'api') return 'API';
    if (source === 'ws') return 'another client';
    return 'another client / API';
  }

  /**
   * A question's delivery state: "sending" until the controller acknowledges it, "acked" after,
   * "unsent" when it was refused or the connection failed first (then it stays in the outbox with
   * its reason, a Retry and a Discard, until it is confirmed or discarded).
   */
  function setUserState(bot, entry, state, reason) {
    const node = entry.user;
    entry.state = state;
    if (!node) return;
    node.classList.toggle('sending', state === 'sending');
    node.classList.toggle('acked', state === 'acked');
    node.classList.toggle('unsent', state === 'unsent');
    node.querySelector('.msg-status').textContent = state === 'sending' ? ' · sending…' : state === 'unsent' ? ' · not sent' : '';
    if (entry.unsentNote) {
      entry.unsentNote.remove();
      if (entry.error === entry.unsentNote) entry.error = null;
      entry.unsentNote = null;
    }
    if (state !== 'unsent') return;
    const note = messageNode('error', reason || 'Not sent.', 'not sent');
    note.classList.add('msg-unsent-note');
    note.dataset.clientMsgId = node.dataset.clientMsgId;
    const actions = el('div', 'msg-actions');
    const retry = el('button', 'btn small retry-btn', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => deliverMessage(bot, node.dataset.clientMsgId, entry.text));
    const discard = el('button', 'btn small link discard-btn', 'Discard');
    discard.type = 'button';
    discard.addEventListener('click', () => discardMessage(bot, node.dataset.clientMsgId));
    actions.append(retry, discard);
    note.appendChild(actions);
    node.after(note);
    entry.unsentNote = note;
    entry.error = note;
  }

  function entryFor(bot, clientMsgId) {
    let entry = bot.chat.byClientId.get(clientMsgId);
    if (!entry) {
      entry = { user: null, reply: null, error: null };
      bot.chat.byClientId.set(clientMsgId, entry);
    }
    return entry;
  }

  function replyNode(bot, clientMsgId) {
    const entry = entryFor(bot, clientMsgId);
    if (entry.user && entry.state !== 'acked') {
      // A reply proves the controller had the question, whatever happened to its ack.
      setUserState(bot, entry, 'acked');
      window.deiaOutbox.drop(bot.id, clientMsgId);
    }
    if (!entry.reply) {
      entry.reply = messageNode('assistant', '', bot.id);
      entry.reply.dataset.clientMsgId = clientMsgId;
      entry.reply.classList.add('streaming');
      insertAfterUser(bot, entry, entry.reply);
    }
    return entry.reply;
  }

  function insertAfterUser(bot, entry, node) {
    // Keep a reply right after its own question even when another turn's text arrived in between.
    const anchor = entry.error || entry.user;
    if (anchor && anchor.parentNode === bot.chat.log) anchor.after(node);
    else bot.chat.log.appendChild(node);
  }

  function appendUser(bot, clientMsgId, text, ts, who) {
    const entry = entryFor(bot, clientMsgId);
    if (entry.user) return entry.user;
    entry.text = text;
    entry.user = messageNode('user', text, who + (ts ? ' · ' + fmtTime(ts) : ''));
    entry.user.dataset.clientMsgId = clientMsgId;
    // Before a reply or error that arrived first (events of another client's question can race).
    const after = entry.reply || entry.error;
    if (after && after.parentNode === bot.chat.log) after.before(entry.user);
    else bot.chat.log.appendChild(entry.user);
    return entry.user;
  }

  function onAck(bot, clientMsgId, msg) {
    if (!clientMsgId) return;
    window.deiaOutbox.drop(bot.id, clientMsgId);
    let entry = bot.chat.byClientId.get(clientMsgId);
    if ((!entry || !entry.user) && msg && typeof msg.text === 'string') {
      // Asked from another tab or the API: show the question live, labelled by where it came from.
      appendUser(bot, clientMsgId, msg.text, msg.ts, askedBy(clientMsgId, msg.source));
      entry = bot.chat.byClientId.get(clientMsgId);
      bot.chat.inflight.add(clientMsgId);
      scrollChat(bot);
      renderWorkingIfSelected(bot);
    }
    if (entry && entry.user && entry.state !== 'acked') setUserState(bot, entry, 'acked');
  }

  function onDelta(bot, clientMsgId, text) {
    if (!clientMsgId) return;
    const node = replyNode(bot, clientMsgId);
    if (!node.classList.contains('streaming')) return;
    const body = node.querySelector('.msg-text');
    body.textContent = body.textContent + safe(text || '');
    bot.chat.inflight.add(clientMsgId);
    scrollChat(bot);
    renderWorkingIfSelected(bot);
  }

  function onReply(bot, clientMsgId, text, result, ts) {
    const node = replyNode(bot, clientMsgId);
    node.classList.remove('streaming');
    node.querySelector('.msg-text').textContent = safe(text || (result && result.text) || '');
    const meta = [bot.id];
    if (ts) meta.push(fmtTime(ts));
    if (result) {
      if (result.status && result.status !== 'completed') meta.push(result.status);
      if (result.cost_usd !== null && result.cost_usd !== undefined) meta.push(fmtCost(result.cost_usd));
      if (result.duration_ms !== undefined && result.duration_ms !== null) meta.push((result.duration_ms / 1000).toFixed(1) + ' s');
      if (result.status && result.status !== 'completed') node.classList.add('msg-' + result.status);
    }
    node.querySelector('.msg-meta').textContent = meta.join(' · ');
    if (result && result.error) {
      const err = el('div', 'msg-inline-error', safe(result.error));
      node.appendChild(err);
    }
    bot.chat.inflight.delete(clientMsgId);
    scrollChat(bot);
    renderWorkingIfSelected(bot);
  }

  function onChatError(bot, clientMsgId, code, message) {
    const text = (message || 'error') + (code ? ' [' + code + ']' : '');
    if (clientMsgId) {
      const entry = entryFor(bot, clientMsgId);
      if (entry.user && entry.state !== 'acked') {
        // Refused before it was accepted: the text stays, with the reason and a Retry.
        markUnsent(bot, clientMsgId, text);
        return;
      }
      const node = messageNode('error', text, 'error');
      node.dataset.clientMsgId = clientMsgId;
      if (entry.reply && entry.reply.classList.contains('streaming')) entry.reply.classList.remove('streaming');
      const anchor = entry.reply || entry.user;
      if (anchor && anchor.parentNode === bot.chat.log) anchor.after(node);
      else bot.chat.log.appendChild(node);
      entry.error = node;
      bot.chat.inflight.delete(clientMsgId);
    } else {
      bot.chat.log.appendChild(messageNode('error', text, 'error'));
    }
    scrollChat(bot);
    renderWorkingIfSelected(bot);
  }

  function renderWorkingIfSelected(bot) {
    if (bot.id === app.selected) {
      renderWorking(bot);
      ui.interruptBtn.disabled = !(botState(bot) === 'busy' || bot.chat.inflight.size > 0);
    }
  }

  async function loadHistory(bot, older) {
    bot.chat.loading = true;
    try {
      let path = '/api/bot/' + encodeURIComponent(bot.id) + '/history?limit=' + HISTORY_PAGE;
      if (older && bot.chat.nextBefore) path += '&before=' + encodeURIComponent(bot.chat.nextBefore);
      const data = await api('GET', path);
      const messages = (data && data.messages ? data.messages : []).slice().sort((a, b) => (a.seq || 0) - (b.seq || 0));
      const fragment = document.createDocumentFragment();
      messages.forEach((m) => {
        if (m.role === 'permission') {
          // The record of a permission request (asked, then how it ended): a note, never a reply.
          const note = messageNode('permission', 'permission ' + m.text, 'permission' + (m.ts ? ' · ' + fmtTime(m.ts) : ''));
          fragment.appendChild(note);
          return;
        }
        const cid = m.client_msg_id || ('h-' + m.seq);
        const entry = entryFor(bot, cid);
        const meta = (m.role === 'user' ? askedBy(cid, null) : m.role === 'error' ? 'error' : bot.id) + (m.ts ? ' · ' + fmtTime(m.ts) : '')
          + (m.cost_usd !== undefined && m.cost_usd !== null ? ' · ' + fmtCost(m.cost_usd) : '');
        if (m.role === 'user') {
          if (entry.user) {
            // The controller has it: a copy kept as unsent (e.g. its ack was lost) is confirmed.
            if (entry.state !== 'acked') setUserState(bot, entry, 'acked');
            window.deiaOutbox.drop(bot.id, cid);
            return;
          }
          entry.user = messageNode('user', m.text, meta);
          entry.text = m.text;
          entry.state = 'acked';
          entry.user.classList.add('acked');
          entry.user.dataset.clientMsgId = cid;
          fragment.appendChild(entry.user);
          window.deiaOutbox.drop(bot.id, cid);
        } else if (m.role === 'error') {
          if (entry.error) return;
          entry.error = messageNode('error', m.text, meta);
          entry.error.dataset.clientMsgId = cid;
          fragment.appendChild(entry.error);
        } else {
          if (entry.reply && !entry.reply.classList.contains('streaming')) return;
          if (entry.reply) entry.reply.remove();
          entry.reply = messageNode('assistant', m.text, meta);
          entry.reply.dataset.clientMsgId = cid;
          fragment.appendChild(entry.reply);
          bot.chat.inflight.delete(cid);
        }
      });
      // History is older than anything that arrived live, so it goes on top.
      bot.chat.log.insertBefore(fragment, bot.chat.log.firstChild);
      bot.chat.nextBefore = data ? data.next_before || null : null;
      bot.chat.loaded = true;
      if (!older) {
        restoreOutbox(bot);
        scrollChat(bot);
      }
    } catch (e) {
      onChatError(bot, null, e.code, 'Could not load the chat history: ' + e.message);
      // What is unsent must show even when the history could not be read.
      if (!older) restoreOutbox(bot);
    } finally {
      bot.chat.loading = false;
      if (bot.id === app.selected) renderDetail();
    }
  }

  function resetChat(bot) {
    bot.chat.log.textContent = '';
    bot.chat.byClientId.clear();
    bot.chat.inflight.clear();
    bot.chat.loaded = false;
    bot.chat.nextBefore = null;
  }

  async function sendMessage() {
    const bot = app.bots.get(app.selected);
    if (!bot) return;
    const text = ui.chatInput.value;
    if (!text.trim()) return;
    const clientMsgId = newClientMsgId();
    const ts = new Date().toISOString();
    // Into the outbox first: from here on, nothing (a lost connection, a reload) loses the text.
    window.deiaOutbox.keep(bot.id, clientMsgId, text, ts, null);
    appendUser(bot, clientMsgId, text, ts, askedBy(clientMsgId, null));
    ui.chatInput.value = '';
    bot.draft = '';
    window.deiaOutbox.saveDraft(bot.id, '');
    deliverMessage(bot, clientMsgId, text);
  }

  /**
   * Sends (or sends again, with the same client_msg_id: the controller answers a retry with the
   * first attempt's outcome and never starts a second turn) a message of the outbox.
   */
  async function deliverMessage(bot, clientMsgId, text) {
    const entry = entryFor(bot, clientMsgId);
    setUserState(bot, entry, 'sending');
    bot.chat.inflight.add(clientMsgId);
    scrollChat(bot);
    renderWorkingIfSelected(bot);
    if (app.ws && app.ws.readyState === WebSocket.OPEN) {
      app.ws.send(JSON.stringify({ type: 'message', bot_id: bot.id, text: text, client_msg_id: clientMsgId }));
      return;
    }
    // No live socket: REST. It answers with the reply once the turn ended.
    try {
      const data = await api('POST', '/api/bot/' + encodeURIComponent(bot.id) + '/message',
        { text: text, client_msg_id: clientMsgId });
      onAck(bot, clientMsgId, null);
      if (data && data.reply !== undefined && bot.chat.inflight.has(clientMsgId)) {
        onReply(bot, clientMsgId, data.reply, data.result || null, null);
      }
    } catch (e) {
      // Not accepted (unreachable, refused, bot not running): unsent. Anything else failed the turn.
      const refused = e.status === 0 || (e.status >= 400 && e.status < 500) || e.status === 503;
      if (!refused) onAck(bot, clientMsgId, null);
      onChatError(bot, clientMsgId, e.status === 0 ? null : e.code, e.message);
    }
  }

  /** The message was not accepted: keep it (page and sessionStorage) with its reason and a Retry. */
  function markUnsent(bot, clientMsgId, reason) {
    const entry = entryFor(bot, clientMsgId);
    bot.chat.inflight.delete(clientMsgId);
    if (!entry.user) return;
    window.deiaOutbox.keep(bot.id, clientMsgId, entry.text, null, reason);
    setUserState(bot, entry, 'unsent', reason);
    scrollChat(bot);
    renderWorkingIfSelected(bot);
  }

  function discardMessage(bot, clientMsgId) {
    const entry = bot.chat.byClientId.get(clientMsgId);
    window.deiaOutbox.drop(bot.id, clientMsgId);
    if (entry) {
      if (entry.unsentNote) entry.unsentNote.remove();
      if (entry.user) entry.user.remove();
      bot.chat.byClientId.delete(clientMsgId);
    }
    bot.chat.inflight.delete(clientMsgId);
    renderWorkingIfSelected(bot);
  }

  /** After the chat was (re)built from the history: what is still unsent goes back at the end. */
  function restoreOutbox(bot) {
    window.deiaOutbox.list(bot.id).forEach((m) => {
      const entry = bot.chat.byClientId.get(m.id);
      if (entry && entry.user) return;
      appendUser(bot, m.id, m.text, m.ts, askedBy(m.id, null));
      markUnsent(bot, m.id, m.error || 'Not confirmed by the controller before the page was reloaded or the chat rebuilt.');
    });
  }

  /** The socket closed: messages it carried without an ack may never have arrived. */
  function unconfirmedAreUnsent() {
    app.bots.forEach((bot) => {
      Array.from(bot.chat.inflight).forEach((id) => {
        const entry = bot.chat.byClientId.get(id);
        if (entry && entry.user && entry.state === 'sending') {
          markUnsent(bot, id, 'The connection to the controller closed before it confirmed this message.');
        }
      });
    });
  }

  async function interruptSelected() {
    const bot = app.bots.get(app.selected);
    if (!bot) return;
    ui.interruptBtn.disabled = true;
    try {
      const data = await api('POST', '/api/bot/' + encodeURIComponent(bot.id) + '/interrupt', {});
      const note = el('div', 'msg msg-system', data && data.interrupted ? 'Interrupted.' : 'Nothing to interrupt.');
      bot.chat.log.appendChild(note);
    } catch (e) {
      onChatError(bot, null, e.code, 'Interrupt failed: ' + e.message);
    }
    scrollChat(bot);
    renderWorkingIfSelected(bot);
  }

  return {
    onAck: onAck, onDelta: onDelta, onReply: onReply, onChatError: onChatError, loadHistory: loadHistory,
    resetChat: resetChat, sendMessage: sendMessage, unconfirmedAreUnsent: unconfirmedAreUnsent,
    interruptSelected: interruptSelected
  };
};
