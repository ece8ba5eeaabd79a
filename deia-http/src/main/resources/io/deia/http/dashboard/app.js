/*
 * deia dashboard: plain JavaScript, no build step, no outside resources.
 *
 * Safety rule for this file: text that comes from a bot, a task or the server is only ever put into
 * the page with textContent / dataset / value -- never innerHTML -- so nothing a bot says can run
 * script here. The token never passes through this code: it rides in the HttpOnly cookie that the
 * controller sets, on fetch and on the WebSocket handshake alike (same origin).
 */
'use strict';

(function () {
  /** Same rule as the server's BotIds. */
  const BOT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
  /** States in which a runner process is expected to be alive (BotState.isLive on the server). */
  const LIVE_STATES = new Set(['starting', 'idle', 'busy', 'paused', 'stopping', 'degraded', 'waiting_approval', 'over_budget', 'queued']);
  const STATUS_POLL_MS = 5000;
  const RECONNECT_BASE_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  const PING_MS = 25000;

  const $ = (id) => document.getElementById(id);

  const ui = {
    conn: $('conn'), banner: $('banner'), launchOpen: $('launch-open'),
    botList: $('bot-list'), botEmpty: $('bot-empty'), botCount: $('bot-count'),
    noSelection: $('no-selection'), botView: $('bot-view'), botTitle: $('bot-title'), botState: $('bot-state'),
    botError: $('bot-error'),
    factProfile: $('fact-profile'), factAgent: $('fact-agent'), factPort: $('fact-port'), factPid: $('fact-pid'),
    factUptime: $('fact-uptime'), factCost: $('fact-cost'), factTasks: $('fact-tasks'), factRestarts: $('fact-restarts'),
    factProjectRow: $('fact-project-row'), factProject: $('fact-project'),
    interruptBtn: $('interrupt-btn'), stopBtn: $('stop-btn'),
    tabChat: $('tab-chat'), tabTasks: $('tab-tasks'), tabTasksCount: $('tab-tasks-count'),
    panelChat: $('panel-chat'), panelTasks: $('panel-tasks'),
    olderBtn: $('older-btn'), chatLogs: $('chat-logs'), working: $('working'), workingText: $('working-text'),
    chatForm: $('chat-form'), chatInput: $('chat-input'), sendBtn: $('send-btn'),
    chatNotice: $('chat-notice'), chatNoticeText: $('chat-notice-text'), chatLaunch: $('chat-launch'),
    taskForm: $('task-form'), taskText: $('task-text'), taskFile: $('task-file'), taskSubmit: $('task-submit'),
    taskMsg: $('task-msg'), taskRunning: $('task-running'), taskPending: $('task-pending'),
    pendingCount: $('pending-count'), taskResponses: $('task-responses'), responsesCount: $('responses-count'),
    launchDialog: $('launch-dialog'), launchForm: $('launch-form'), launchId: $('launch-id'),
    launchIdHint: $('launch-id-hint'), launchProfile: $('launch-profile'), launchProgress: $('launch-progress'),
    launchProject: $('launch-project'), launchProjectHint: $('launch-project-hint'),
    launchError: $('launch-error'), launchCancel: $('launch-cancel'), launchSubmit: $('launch-submit'),
    stopDialog: $('stop-dialog'), stopForm: $('stop-form'), stopText: $('stop-text'), stopError: $('stop-error'),
    stopCancel: $('stop-cancel'), stopConfirm: $('stop-confirm'),
    signin: $('signin'), signinRetry: $('signin-retry'), layout: $('layout')
  };

  const app = {
    /** bot id -> Bot (see newBot) */
    bots: new Map(),
    selected: null,
    ws: null,
    connState: 'connecting',
    lastEventId: null,
    retry: 0,
    reconnectTimer: null,
    countdownTimer: null,
    pingTimer: null,
    everConnected: false,
    signedOut: false,
    profiles: [],
    projects: [],
    launching: null
  };

  /** The chat of each bot (chat.js). */
  const chat = window.deiaChat({
    ui: ui, app: app, api: api, el: el, safe: safe, fmtTime: fmtTime, fmtCost: fmtCost,
    newClientMsgId: newClientMsgId, botState: botState, renderDetail: () => renderDetail(),
    renderWorking: (bot) => renderWorking(bot)
  });

  /** The permission requests of each bot's agent (permissions.js). */
  const perms = window.deiaPermissions({
    app: app, api: api, el: el, safe: safe, fmtTime: fmtTime, isLive: (s) => isLive(s), botState: botState
  });

  /** The hive's spend, budget bars and webhook health (operations.js). */
  const ops = window.deiaOperations({ api: api, el: el, safe: safe, fmtCost: fmtCost });

  /** The Tasks panel (tasks.js). */
  const tasks = window.deiaTasks({
    ui: ui, api: api, el: el, safe: safe, fmtTime: fmtTime, fmtCost: fmtCost,
    isSelected: (bot) => bot.id === app.selected,
    selectedBot: () => app.bots.get(app.selected),
    renderDetail: () => renderDetail()
  });

  // ---------------------------------------------------------------- helpers

  class ApiError extends Error {
    /** details: the server's whole error object (a refused merge names its files there). */
    constructor(code, message, status, details) {
      super(message);
      this.code = code;
      this.status = status;
      this.details = details || null;
    }
  }

  /** fetch() against the controller; JSON in and out; errors become ApiError with the server's message. */
  /** Every request body is JSON (the controller refuses other content types on state changes). */
  async function api(method, path, body) {
    const opts = { method: method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin' };
    if (body !== undefined) {
      opts.body = JSON.stringify(body);
      opts.headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError('network', 'Cannot reach the controller (' + e.message + ')', 0);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : { code: 'http_' + res.status, message: text || res.statusText };
      if (res.status === 401) showSignIn();
      throw new ApiError(err.code, err.message || ('HTTP ' + res.status), res.status, data && data.error ? data.error : null);
    }
    return data;
  }

  /** Text a bot, a task or another client wrote, with bidi controls made visible (safe-text.js). */
  function safe(text) {
    return window.deiaText.visible(text);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /**
   * No valid token (no cookie, or the controller's token changed): one sign-in screen instead of an
   * empty bot list, and no reconnecting (each attempt would only fail again) until the user has
   * opened the token link or asks to try again.
   */
  function showSignIn() {
    app.signedOut = true;
    ui.signin.hidden = false;
    ui.layout.hidden = true;
    ui.launchOpen.hidden = true;
    hideBanner();
    clearTimeout(app.reconnectTimer);
    clearInterval(app.countdownTimer);
    clearInterval(app.pingTimer);
    if (app.ws) {
      const ws = app.ws;
      app.ws = null;
      ws.close();
    }
    setConn('signedout', 'not signed in');
  }

  async function retrySignIn() {
    app.signedOut = false;
    try {
      await loadBots();
    } catch (e) {
      if (!app.signedOut) showBanner('Could not load bots: ' + e.message);
      return;
    }
    ui.signin.hidden = true;
    ui.layout.hidden = false;
    ui.launchOpen.hidden = false;
    connect();
  }

  function showBanner(text) {
    ui.banner.textContent = text;
    ui.banner.hidden = false;
  }

  function hideBanner() {
    ui.banner.hidden = true;
    ui.banner.textContent = '';
  }

  function newClientMsgId() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
    return 'm-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return '—';
    let s = Math.max(0, Math.floor(seconds));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + s + 's';
    return s + 's';
  }

  function fmtCost(v) {
    if (v === null || v === undefined || !isFinite(v)) return '—';
    if (Number(v) === 0) return '$0.00';
    return '$' + Number(v).toFixed(Number(v) < 1 ? 4 : 2);
  }

  /**
   * A bot's spend from its ledger (cost in /status and /api/bots): today (UTC) and in all,
   * saying how many turns had no known cost instead of passing them off as free. Falls back to the
   * runner's own sum while no ledger figure has arrived.
   */
  function fmtSpend(bot, long) {
    const c = bot.info.cost;
    if (!c || typeof c !== 'object') return fmtCost(bot.info.cost_usd);
    const unknown = c.unknown_cost_turns > 0 ? c.unknown_cost_turns + ' turn' + (c.unknown_cost_turns === 1 ? '' : 's') : '';
    // Only turns nobody priced: their cost is unknown, not $0.
    if (unknown && !(c.total_usd > 0)) return 'cost unknown (' + unknown + ')';
    let text = long ? fmtCost(c.today_usd) + ' today, ' + fmtCost(c.total_usd) + ' in all'
        : fmtCost(c.today_usd) + ' / ' + fmtCost(c.total_usd);
    if (unknown) text += ' (+' + unknown + ' of unknown cost)';
    return text;
  }

  function fmtTime(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    if (isNaN(d.getTime())) return '';
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function fmtDateTime(ts) {
    const d = new Date(ts);
    if (isNaN(d.getTime())) return '';
    return d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function isLive(state) {
    return LIVE_STATES.has(state);
  }

  // ---------------------------------------------------------------- bot model

  function newBot(id) {
    const log = el('div', 'chat-log');
    log.dataset.botId = id;
    log.setAttribute('role', 'log');
    log.setAttribute('aria-label', 'Chat with ' + id);
    log.hidden = true;
    ui.chatLogs.appendChild(log);
    return {
      id: id,
      info: {},          // registry record fields (snake_case) + latest live /status fields, flat
      liveAt: 0,         // when uptime_s was last received (ms), so uptime can tick locally
      gone: false,       // no longer listed by the controller
      listItem: null,
      chat: {
        log: log,
        loaded: false,
        loading: false,
        nextBefore: null,
        byClientId: new Map(),   // client_msg_id -> { user, reply, error }
        inflight: new Set()      // client_msg_ids sent and not yet answered
      },
      tasks: { pending: [], responses: [], error: null, reloadTimer: null, open: new Set() },
      draft: window.deiaOutbox.draft(id),
      stopWatch: null
    };
  }

  function ensureBot(id) {
    let bot = app.bots.get(id);
    if (!bot) {
      bot = newBot(id);
      app.bots.set(id, bot);
      renderBotList();
    }
    return bot;
  }

  /** Merges a registry record or a live /status object (or a WS status event) into the bot's view. */
  function mergeInfo(bot, data) {
    if (!data || typeof data !== 'object') return;
    const copy = Object.assign({}, data);
    const live = copy.live;
    delete copy.live;
    delete copy.type;
    delete copy.event_id;
    delete copy.ts;
    if (copy.status && !copy.state) copy.state = copy.status;
    // A reason belongs to the state it came with: a new state without one clears it.
    if (copy.state && copy.reason === undefined && !(live && live.reason !== undefined)) delete bot.info.reason;
    // So does a place in line: a state without one clears the last (it is only sent while queued).
    if (copy.state && copy.queue_position == null && !(live && live.queue_position != null)) delete bot.info.queue_position;
    Object.assign(bot.info, copy);
    if (live && typeof live === 'object') {
      // The runner's own /status is fresher than the registry entry it was read with.
      Object.assign(bot.info, live, { state: live.state || copy.state });
      if (live.uptime_s !== undefined) bot.liveAt = Date.now();
    } else if (copy.uptime_s !== undefined) {
      bot.liveAt = Date.now();
    }
    if (!isLive(bot.info.state)) {
      bot.info.current_task = null;
    }
    // "removed": the registry no longer lists the bot (status event from the controller's router).
    bot.gone = bot.info.state === 'removed';
  }

  function botState(bot) {
    if (bot.gone) return bot.info.state === 'removed' ? 'removed' : 'stopped';
    return bot.info.state || 'unknown';
  }

  /** Worth asking /status about: a runner should exist, or the router lost sight of it for a moment. */
  function shouldPoll(bot) {
    const state = botState(bot);
    return !bot.gone && (isLive(state) || state === 'unreachable');
  }

  /** "queued #2" while the bot waits for a turn slot (its place in the hive's line), else the state itself. */
  function stateLabel(bot, state) {
    if (state !== 'queued') return state;
    const pos = Number(bot.info.queue_position);
    return pos > 0 ? 'queued #' + pos : 'queued';
  }

  function botUptime(bot) {
    if (!isLive(botState(bot)) || bot.info.uptime_s === undefined || bot.info.uptime_s === null) return null;
    return bot.info.uptime_s + (Date.now() - bot.liveAt) / 1000;
  }

  // ---------------------------------------------------------------- bot list

  function renderBotList() {
    const ids = Array.from(app.bots.keys()).sort();
    ui.botEmpty.hidden = ids.length > 0;
    ui.botCount.textContent = ids.length ? '(' + ids.length + ')' : '';
    ids.forEach((id, index) => {
      const bot = app.bots.get(id);
      if (!bot.listItem) bot.listItem = buildListItem(bot);
      const li = bot.listItem.li;
      if (ui.botList.children[index] !== li) ui.botList.insertBefore(li, ui.botList.children[index] || null);
      updateListItem(bot);
    });
    while (ui.botList.children.length > ids.length) ui.botList.removeChild(ui.botList.lastChild);
  }

  function buildListItem(bot) {
    const li = el('li', 'bot-row');
    const button = el('button', 'bot-item');
    button.type = 'button';
    button.dataset.botId = bot.id;
    const dot = el('span', 'dot');
    dot.setAttribute('aria-hidden', 'true');
    const name = el('span', 'bot-name', bot.id);
    const state = el('span', 'bot-state-label');
    const meta = el('span', 'bot-meta');
    const reason = el('span', 'bot-reason');
    reason.hidden = true;
    button.append(dot, name, state, meta, reason);
    button.addEventListener('click', () => selectBot(bot.id, true));
    li.appendChild(button);
    return { li: li, button: button, state: state, meta: meta, reason: reason };
  }

  function updateListItem(bot) {
    const item = bot.listItem;
    if (!item) return;
    const state = botState(bot);
    item.button.className = 'bot-item state-' + state + (app.selected === bot.id ? ' selected' : '');
    item.button.dataset.state = state;
    if (bot.info.project) item.button.dataset.project = bot.info.project;
    else delete item.button.dataset.project;
    if (app.selected === bot.id) item.button.setAttribute('aria-current', 'true');
    else item.button.removeAttribute('aria-current');
    item.state.textContent = stateLabel(bot, state);
    if (state === 'queued' && bot.info.queue_position > 0) item.button.dataset.queuePosition = String(bot.info.queue_position);
    else delete item.button.dataset.queuePosition;
    const parts = [];
    if (bot.info.profile) parts.push(bot.info.profile);
    if (bot.info.project) parts.push('project ' + safe(bot.info.project));
    if (bot.info.port) parts.push(':' + bot.info.port);
    const up = botUptime(bot);
    if (up !== null) parts.push('up ' + fmtDuration(up));
    parts.push(fmtSpend(bot, false));
    item.meta.textContent = parts.join(' · ');
    const why = stateReason(bot, state);
    item.reason.hidden = !why;
    item.reason.textContent = why ? safe(why) : '';
    perms.renderBadge(bot);
  }

  /**
   * Why a bot is in a state that needs attention (failed, degraded, or any state this page does
   * not know): the reason the server gives, else its last error.
   */
  function stateReason(bot, state) {
    if (isLive(state) && state !== 'degraded') return null;
    if (state === 'stopped' || state === 'removed') return null;
    const why = bot.info.reason || bot.info.state_reason || bot.info.last_error;
    return why ? String(why) : null;
  }

  /**
   * The page's 5-second poll of the hive: spend, budgets and webhooks, and, while a bot waits for a
   * turn slot, the bot list again, since places in line move when other bots' turns end.
   */
  async function pollHive() {
    if (app.connState !== 'connected') return;
    ops.load();
    if (Array.from(app.bots.values()).some((bot) => botState(bot) === 'queued')) {
      try {
        await refreshBots();
        if (app.selected) renderDetail();
      } catch (e) {
        // The next poll asks again.
      }
    }
  }

  /** The registry's view of every bot (state, place in line, spend) merged into the list. */
  async function refreshBots() {
    const data = await api('GET', '/api/bots');
    const seen = new Set();
    (data && data.bots ? data.bots : []).forEach((record) => {
      const id = record.bot_id;
      if (!id) return;
      seen.add(id);
      mergeInfo(ensureBot(id), record);
    });
    app.bots.forEach((bot, id) => {
      if (!seen.has(id)) bot.gone = true;
    });
    renderBotList();
  }

  async function loadBots() {
    await refreshBots();
    // After the bots answered: signed out, the page asks for nothing else.
    ops.load();
    app.bots.forEach((bot) => perms.load(bot));
    if (!app.selected) {
      const first = Array.from(app.bots.keys()).sort()[0];
      if (first) selectBot(first, false);
    } else {
      renderDetail();
    }
  }

  // ---------------------------------------------------------------- selection + detail

  function selectBot(id, userAction) {
    const previous = app.bots.get(app.selected);
    if (previous) {
      previous.draft = ui.chatInput.value;
      previous.chat.log.hidden = true;
    }
    app.selected = id;
    const bot = app.bots.get(id);
    bot.chat.log.hidden = false;
    ui.chatInput.value = bot.draft;
    // The task form's last note was about the previous bot's task.
    ui.taskMsg.textContent = '';
    ui.taskMsg.className = 'form-msg';
    app.bots.forEach(updateListItem);
    renderDetail();
    if (!bot.chat.loaded && !bot.chat.loading) chat.loadHistory(bot, false);
    tasks.load(bot);
    perms.load(bot, true);
    pollSelectedStatus();
    if (userAction && window.matchMedia('(max-width: 760px)').matches) {
      ui.botView.scrollIntoView({ block: 'start' });
    }
  }

  function renderDetail() {
    const bot = app.bots.get(app.selected);
    ui.noSelection.hidden = !!bot;
    ui.botView.hidden = !bot;
    if (!bot) return;
    const state = botState(bot);
    ui.botTitle.textContent = bot.id;
    ui.botState.textContent = stateLabel(bot, state);
    ui.botState.className = 'state-badge state-' + state;
    ui.factProfile.textContent = bot.info.profile || '—';
    ui.factAgent.textContent = bot.info.agent || '—';
    ui.factPort.textContent = bot.info.port || '—';
    ui.factPid.textContent = bot.info.pid || '—';
    ui.factUptime.textContent = fmtDuration(botUptime(bot));
    ui.factCost.textContent = fmtSpend(bot, true);
    // Counted from the durable responses (they survive restarts); the runner's own counters start
    // at 0 with each process, so they are only the fallback until the task list has loaded.
    let done = bot.info.tasks_completed;
    let failed = bot.info.tasks_failed;
    if (bot.tasks.outcomes) {
      done = bot.tasks.outcomes.completed || 0;
      failed = Object.keys(bot.tasks.outcomes).filter((k) => k !== 'completed')
        .reduce((sum, k) => sum + bot.tasks.outcomes[k], 0);
    }
    ui.factTasks.textContent = done === undefined ? '—' : (done + (failed ? ' (' + failed + ' not completed)' : ''));
    ui.factRestarts.textContent = bot.info.restarts === undefined ? '—' : String(bot.info.restarts);
    ui.factProjectRow.hidden = !bot.info.project;
    ui.factProject.textContent = bot.info.project ? safe(bot.info.project) : '';
    // The last error stays visible after a recovery: that it happened, and when, is the news.
    const err = bot.info.last_error;
    // Degraded: running, but its hive writes fail (full or read-only disk); /status says why.
    const degraded = state === 'degraded' ? (bot.info.degraded || 'the hive cannot be written') : null;
    const at = bot.info.last_error_at ? fmtDateTime(bot.info.last_error_at) : '';
    ui.botError.hidden = !degraded && !err;
    ui.botError.classList.toggle('recovered', !degraded && !!err && isLive(state));
    ui.botError.textContent = degraded ? 'Degraded: ' + safe(degraded)
        : (err ? 'Last error' + (at ? ' (' + at + ')' : '') + ': ' + safe(err) : '');
    // Stop works in every state but stopped: a crash-looping (restarting) bot must be stoppable.
    ui.stopBtn.disabled = state === 'stopped' || state === 'removed' || !!bot.stopInFlight;
    ui.interruptBtn.disabled = !(state === 'busy' || state === 'waiting_approval' || bot.chat.inflight.size > 0);
    ui.sendBtn.disabled = false;
    renderChatNotice(bot, state);
    ui.taskSubmit.disabled = bot.gone;
    ui.olderBtn.hidden = !bot.chat.nextBefore;
    renderWorking(bot);
    tasks.render(bot);
  }

  /** Why a message cannot be answered now, and the way out (Launch) when there is one. */
  function renderChatNotice(bot, state) {
    let text = null;
    let canLaunch = false;
    if (state === 'restarting') {
      text = bot.id + ' is restarting: messages are refused until it is back.';
    } else if (state === 'over_budget') {
      const why = bot.info.budget && bot.info.budget.reason ? ': ' + safe(bot.info.budget.reason) : '';
      text = bot.id + ' is over budget' + why + '. Messages are refused and tasks wait in its inbox until the budget allows (next UTC day, or a raised budget and a config reload).';
    } else if (state === 'unreachable') {
      text = bot.id + ' does not answer the controller right now.';
    } else if (!isLive(state)) {
      text = bot.id + ' is ' + state + ': it cannot take messages until it runs again.';
      canLaunch = !!bot.info.profile;
    }
    ui.chatNotice.hidden = text === null;
    ui.chatNoticeText.textContent = text || '';
    ui.chatLaunch.hidden = !canLaunch;
    ui.chatLaunch.textContent = 'Launch ' + bot.id;
  }

  function renderWorking(bot) {
    if (bot.id !== app.selected) return;
    const state = botState(bot);
    let text = null;
    const waiting = perms.pendingCount(bot.id);
    if (state === 'waiting_approval') {
      text = bot.id + ' is waiting for your approval' + (waiting ? ' (' + waiting + ' request' + (waiting === 1 ? '' : 's') + ' in the chat)' : '') + '…';
    } else if (bot.chat.inflight.size > 0) text = bot.id + ' is replying…';
    else if (state === 'busy') text = bot.info.current_task ? bot.id + ' is working on task ' + bot.info.current_task + '…' : bot.id + ' is working…';
    else if (state === 'starting') text = bot.id + ' is starting…';
    else if (state === 'stopping') text = bot.id + ' is stopping…';
    ui.working.hidden = text === null;
    ui.workingText.textContent = text || '';
  }

  function selectTab(which) {
    const chat = which === 'chat';
    ui.tabChat.setAttribute('aria-selected', String(chat));
    ui.tabTasks.setAttribute('aria-selected', String(!chat));
    ui.panelChat.classList.toggle('active', chat);
    ui.panelTasks.classList.toggle('active', !chat);
  }

  // ---------------------------------------------------------------- events (WebSocket)

  function handleEvent(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (typeof msg.event_id === 'number') {
      // Replays after a reconnect may overlap what was already shown.
      if (app.lastEventId !== null && msg.event_id <= app.lastEventId) return;
      app.lastEventId = msg.event_id;
    }
    const botId = typeof msg.bot_id === 'string' && BOT_ID_RE.test(msg.bot_id) ? msg.bot_id : null;
    switch (msg.type) {
      case 'ack':
        if (botId) chat.onAck(ensureBot(botId), msg.client_msg_id, msg);
        break;
      case 'delta':
        if (botId) chat.onDelta(ensureBot(botId), msg.client_msg_id, msg.text);
        break;
      case 'reply':
        if (botId) chat.onReply(ensureBot(botId), msg.client_msg_id, msg.text, msg.result, msg.ts);
        break;
      case 'error':
        if (botId) chat.onChatError(ensureBot(botId), msg.client_msg_id, msg.code, msg.message);
        else showBanner('Error: ' + (msg.message || msg.code || 'unknown'));
        break;
      case 'status':
        if (botId) onStatus(ensureBot(botId), msg);
        break;
      case 'task':
        if (botId) onTaskEvent(ensureBot(botId), msg);
        break;
      case 'permission_request':
        if (botId) perms.onRequest(ensureBot(botId), msg);
        break;
      case 'permission_resolved':
        if (botId) perms.onResolved(ensureBot(botId), msg);
        break;
      case 'resync':
        reloadAll();
        break;
      default:
        break;
    }
  }

  function onStatus(bot, msg) {
    mergeInfo(bot, msg);
    updateListItem(bot);
    if (bot.id === app.selected) renderDetail();
    if (app.launching && app.launching.id === bot.id) launchProgressFromState(bot);
  }

  function onTaskEvent(bot, msg) {
    if (msg.event === 'started' || msg.event === 'claimed') {
      bot.info.current_task = msg.task_id;
    } else if (bot.info.current_task === msg.task_id && msg.event !== 'retrying') {
      bot.info.current_task = null;
    }
    if (bot.id === app.selected) renderDetail();
    tasks.scheduleReload(bot);
  }

  function setConn(state, text) {
    app.connState = state;
    ui.conn.dataset.state = state;
    ui.conn.textContent = text;
  }

  function wsUrl() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = proto + '//' + location.host + '/ws';
    if (app.lastEventId !== null) url += '?last_event_id=' + encodeURIComponent(String(app.lastEventId));
    return url;
  }

  function connect() {
    if (app.signedOut) return;
    clearTimeout(app.reconnectTimer);
    clearInterval(app.countdownTimer);
    setConn('connecting', app.everConnected ? 'reconnecting…' : 'connecting…');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    app.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      const wasReconnect = app.everConnected;
      app.everConnected = true;
      app.retry = 0;
      setConn('connected', 'connected');
      hideBanner();
      clearInterval(app.pingTimer);
      app.pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping' }));
      }, PING_MS);
      // Without an event id the server cannot replay, so catch up through REST instead.
      if (wasReconnect && app.lastEventId === null) reloadAll();
      else if (wasReconnect) loadBots().catch(() => {});
    });
    ws.addEventListener('message', (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handleEvent(msg);
    });
    ws.addEventListener('close', () => {
      if (app.ws !== ws) return;
      app.ws = null;
      clearInterval(app.pingTimer);
      chat.unconfirmedAreUnsent();
      if (opened) {
        scheduleReconnect();
        return;
      }
      // Refused before it opened: down, or no longer signed in (a 401 shows only through REST).
      loadBots().then(() => {}, () => {}).then(() => { if (!app.signedOut) scheduleReconnect(); });
    });
  }

  function scheduleReconnect() {
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * Math.pow(2, app.retry));
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    app.retry += 1;
    let due = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setConn('disconnected', 'disconnected — retrying in ' + left + ' s');
    };
    tick();
    clearInterval(app.countdownTimer);
    app.countdownTimer = setInterval(tick, 1000);
    clearTimeout(app.reconnectTimer);
    app.reconnectTimer = setTimeout(connect, delay);
  }

  /** Reloads everything through REST: after a resync, or a reconnect that could not replay. */
  async function reloadAll() {
    try {
      await loadBots();
      app.bots.forEach(chat.resetChat);
      app.bots.forEach(perms.reattach);
      const bot = app.bots.get(app.selected);
      if (bot) {
        await chat.loadHistory(bot, false);
        await tasks.load(bot);
      }
    } catch (e) {
      showBanner('Could not reload state: ' + e.message);
    }
  }

  // ---------------------------------------------------------------- polling

  async function pollSelectedStatus() {
    const bot = app.bots.get(app.selected);
    // Only while connected (no point hammering a server that is down) and while a runner should exist.
    // Not while our own stop request runs: the runner leaves the registry for a moment before the
    // launcher records it as stopped, and that moment is no reason for a 404 in the console.
    if (!bot || app.connState !== 'connected' || !shouldPoll(bot) || bot.stopInFlight) return;
    try {
      const data = await api('GET', '/api/bot/' + encodeURIComponent(bot.id) + '/status');
      mergeInfo(bot, data);
      updateListItem(bot);
      if (bot.id === app.selected) renderDetail();
    } catch (e) {
      if (e.status === 404) {
        bot.gone = true;
        updateListItem(bot);
        renderDetail();
      }
    }
  }

  function tickClock() {
    app.bots.forEach(updateListItem);
    perms.tick();
    const bot = app.bots.get(app.selected);
    if (bot) ui.factUptime.textContent = fmtDuration(botUptime(bot));
  }

  // ---------------------------------------------------------------- launch dialog

  function validateLaunchId() {
    const value = ui.launchId.value;
    let message = 'Letters, digits, “_” and “-”; starts with a letter or digit; at most 64.';
    let ok = BOT_ID_RE.test(value);
    if (value.length === 0) {
      ok = false;
    } else if (value.length > 64) {
      // Said, never cut: a pasted id one character too long must not launch another bot's name.
      ok = false;
      message = 'Too long: ' + value.length + ' characters, a bot id has at most 64.';
    } else if (!ok) {
      message = 'Not a valid bot id: use letters, digits, “_” and “-”, starting with a letter or digit (at most 64).';
    } else {
      const existing = app.bots.get(value);
      if (existing && !existing.gone && isLive(botState(existing))) {
        ok = false;
        message = value + ' is already running.';
      }
    }
    const invalid = value.length > 0 && !ok;
    ui.launchId.setAttribute('aria-invalid', String(invalid));
    ui.launchIdHint.textContent = message;
    ui.launchIdHint.classList.toggle('error', invalid);
    ui.launchSubmit.disabled = !ok || !ui.launchProfile.value || app.launching !== null;
    return ok;
  }

  /**
   * Fills the Project select from GET /api/projects: "none" first (a private workspace, as before
   * projects), then each configured project by name; the one named want is chosen when it exists.
   */
  async function loadProjects(want) {
    try {
      const data = await api('GET', '/api/projects');
      app.projects = data && Array.isArray(data.projects) ? data.projects : [];
      ui.launchProjectHint.classList.remove('error');
      ui.launchProjectHint.textContent = app.projects.length
        ? 'A project gives the bot its own git worktree of that repository and a branch per task.'
        : 'No projects are configured: the bot works in a private folder.';
    } catch (e) {
      app.projects = [];
      ui.launchProjectHint.classList.add('error');
      ui.launchProjectHint.textContent = 'Could not load projects: ' + e.message;
    }
    ui.launchProject.textContent = '';
    const none = document.createElement('option');
    none.value = '';
    none.textContent = 'none';
    ui.launchProject.appendChild(none);
    app.projects.forEach((p) => {
      if (!p || typeof p.name !== 'string') return;
      const option = document.createElement('option');
      option.value = p.name;
      option.textContent = safe(p.name) + (p.base ? ' (base ' + safe(p.base) + ')' : '');
      ui.launchProject.appendChild(option);
    });
    ui.launchProject.value = want && app.projects.some((p) => p && p.name === want) ? want : '';
  }

  /** Opens the launch dialog, for a new bot or (id and profile given) to launch a stopped one again. */
  async function openLaunchDialog(botId, profile, project) {
    ui.launchError.hidden = true;
    ui.launchProgress.hidden = true;
    if (!app.launching) ui.launchId.value = botId || suggestBotId();
    if (profile) ui.launchProfile.dataset.want = profile;
    ui.launchDialog.showModal();
    ui.launchId.focus();
    ui.launchId.select();
    validateLaunchId();
    // A bot launched again keeps its project; a new bot starts with none unless the user picks one.
    if (!app.launching) loadProjects(project || '');
    try {
      const data = await api('GET', '/api/profiles');
      app.profiles = data && data.profiles ? data.profiles : [];
      const current = ui.launchProfile.value;
      ui.launchProfile.textContent = '';
      app.profiles.forEach((p) => {
        const option = document.createElement('option');
        option.value = p.name;
        option.textContent = p.name + ' (' + (p.agent || '?') + (p.model ? ', ' + p.model : '') + ')';
        ui.launchProfile.appendChild(option);
      });
      const want = ui.launchProfile.dataset.want || current;
      delete ui.launchProfile.dataset.want;
      if (want && app.profiles.some((p) => p.name === want)) ui.launchProfile.value = want;
      if (!app.profiles.length) showLaunchError('The server has no profiles configured.');
    } catch (e) {
      showLaunchError('Could not load profiles: ' + e.message);
    }
    validateLaunchId();
  }

  function suggestBotId() {
    for (let n = 1; n < 1000; n++) {
      const id = 'BOT-' + String(n).padStart(3, '0');
      if (!app.bots.has(id)) return id;
    }
    return '';
  }

  function showLaunchError(text) {
    ui.launchError.textContent = text;
    ui.launchError.hidden = false;
  }

  function launchProgressFromState(bot) {
    const l = app.launching;
    if (!l) return;
    const state = botState(bot);
    const secs = Math.floor((Date.now() - l.started) / 1000);
    ui.launchProgress.textContent = 'Launching ' + l.id + ' (' + l.profile + ')… ' + (state !== 'unknown' ? state + ', ' : '')
      + 'waiting until healthy · ' + secs + ' s';
  }

  async function launch() {
    if (!validateLaunchId() || app.launching) return;
    const id = ui.launchId.value;
    const profile = ui.launchProfile.value;
    const project = ui.launchProject.value;
    app.launching = { id: id, profile: profile, started: Date.now(), timer: null };
    ui.launchError.hidden = true;
    ui.launchProgress.hidden = false;
    ui.launchSubmit.disabled = true;
    ui.launchId.disabled = true;
    ui.launchProfile.disabled = true;
    ui.launchProject.disabled = true;
    app.launching.timer = setInterval(() => launchProgressFromState(app.bots.get(id) || { info: {}, gone: false }), 500);
    launchProgressFromState({ info: {}, gone: false });
    try {
      const request = { bot_id: id, profile: profile };
      // A project by its configured name only: the server resolves the repository itself.
      if (project) request.project = project;
      const data = await api('POST', '/api/bot/launch', request);
      const bot = ensureBot(id);
      mergeInfo(bot, data && data.bot ? data.bot : data);
      await waitHealthy(bot);
      finishLaunch();
      ui.launchDialog.close();
      selectBot(id, true);
      ui.chatInput.focus();
    } catch (e) {
      finishLaunch();
      showLaunchError('Launch failed: ' + e.message + (e.code ? ' [' + e.code + ']' : ''));
      validateLaunchId();
    }
  }

  /** The launch call answers once the runner is healthy; if a server answers earlier, wait for it here. */
  async function waitHealthy(bot) {
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      const state = botState(bot);
      if (state === 'idle' || state === 'busy' || state === 'paused') return;
      if (state === 'failed' || state === 'stopped' || state === 'stale') {
        throw new ApiError('launch_failed', bot.info.last_error || ('bot is ' + state), 0);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
      try {
        mergeInfo(bot, await api('GET', '/api/bot/' + encodeURIComponent(bot.id) + '/status'));
      } catch (e) {
        if (e.status !== 404) throw e;
      }
    }
    throw new ApiError('timeout', 'the bot did not become healthy in time', 0);
  }

  function finishLaunch() {
    if (app.launching) clearInterval(app.launching.timer);
    app.launching = null;
    ui.launchProgress.hidden = true;
    ui.launchId.disabled = false;
    ui.launchProfile.disabled = false;
    ui.launchProject.disabled = false;
  }

  // ---------------------------------------------------------------- stop dialog

  function openStopDialog() {
    const bot = app.bots.get(app.selected);
    if (!bot) return;
    ui.stopText.textContent = 'Stop ' + bot.id + '? A running turn is interrupted after a grace period; '
      + 'queued tasks stay in its inbox.';
    ui.stopError.hidden = true;
    ui.stopConfirm.disabled = false;
    ui.stopDialog.dataset.botId = bot.id;
    ui.stopDialog.showModal();
    ui.stopCancel.focus();
  }

  async function confirmStop() {
    const id = ui.stopDialog.dataset.botId;
    const bot = app.bots.get(id);
    if (!bot) return;
    ui.stopConfirm.disabled = true;
    bot.stopInFlight = true;
    try {
      const data = await api('POST', '/api/bot/' + encodeURIComponent(id) + '/stop', {});
      ui.stopDialog.close();
      if (data && data.bot_id === id) mergeInfo(bot, data);
      else if (isLive(botState(bot))) bot.info.state = 'stopping';
      updateListItem(bot);
      renderDetail();
      watchUntilGone(bot);
    } catch (e) {
      ui.stopError.textContent = 'Stop failed: ' + e.message;
      ui.stopError.hidden = false;
      ui.stopConfirm.disabled = false;
    } finally {
      bot.stopInFlight = false;
    }
  }

  /** Follows the list until the controller reports the runner really gone (stopped, failed or unlisted). */
  function watchUntilGone(bot) {
    clearInterval(bot.stopWatch);
    const started = Date.now();
    bot.stopWatch = setInterval(async () => {
      if (!isLive(botState(bot)) || Date.now() - started > 120000) {
        clearInterval(bot.stopWatch);
        return;
      }
      if (app.connState !== 'connected') return;
      try { await loadBots(); } catch (e) { /* the connection state shows why; next tick retries */ }
    }, 1000);
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    ui.launchOpen.addEventListener('click', () => openLaunchDialog(null, null));
    // A launch error is about the id and profile it was given: changing either clears it.
    ui.launchId.addEventListener('input', () => { ui.launchError.hidden = true; validateLaunchId(); });
    ui.launchProfile.addEventListener('change', () => { ui.launchError.hidden = true; validateLaunchId(); });
    ui.launchProject.addEventListener('change', () => { ui.launchError.hidden = true; validateLaunchId(); });
    ui.chatLaunch.addEventListener('click', () => {
      const bot = app.bots.get(app.selected);
      if (bot) openLaunchDialog(bot.id, bot.info.profile, bot.info.project);
    });
    ui.chatInput.addEventListener('input', () => {
      const bot = app.bots.get(app.selected);
      if (bot) window.deiaOutbox.saveDraft(bot.id, ui.chatInput.value);
    });
    ui.launchForm.addEventListener('submit', (e) => { e.preventDefault(); launch(); });
    ui.launchCancel.addEventListener('click', () => ui.launchDialog.close());

    ui.stopBtn.addEventListener('click', openStopDialog);
    ui.stopForm.addEventListener('submit', (e) => { e.preventDefault(); confirmStop(); });
    ui.stopCancel.addEventListener('click', () => ui.stopDialog.close());

    ui.interruptBtn.addEventListener('click', chat.interruptSelected);
    ui.chatForm.addEventListener('submit', (e) => { e.preventDefault(); chat.sendMessage(); });
    ui.chatInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        if (!ui.sendBtn.disabled) chat.sendMessage();
      }
    });
    ui.olderBtn.addEventListener('click', () => {
      const bot = app.bots.get(app.selected);
      if (bot && !bot.chat.loading) chat.loadHistory(bot, true);
    });

    ui.taskForm.addEventListener('submit', (e) => { e.preventDefault(); tasks.submit(); });
    ui.tabChat.addEventListener('click', () => selectTab('chat'));
    ui.tabTasks.addEventListener('click', () => selectTab('tasks'));
    [ui.tabChat, ui.tabTasks].forEach((tab) => tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const next = tab === ui.tabChat ? ui.tabTasks : ui.tabChat;
        next.focus();
        next.click();
      }
    }));

    window.addEventListener('online', () => { if (!app.ws) connect(); });
    ui.signinRetry.addEventListener('click', retrySignIn);
    perms.wireNotifyToggle($('notify-toggle'));
    setInterval(pollSelectedStatus, STATUS_POLL_MS);
    setInterval(pollHive, STATUS_POLL_MS);
    setInterval(tickClock, 1000);
  }

  async function start() {
    wire();
    try {
      await loadBots();
    } catch (e) {
      if (e.status !== 401) showBanner('Could not load bots: ' + e.message);
    }
    if (!app.signedOut) connect();
  }

  start();
}());
