/*
 * deia dashboard: running a hive unattended. The hive's spend with its budget bar and a bar per
 * profile that has a budget (GET /api/costs), and the health of webhook deliveries: pending and dead,
 * with the dead list behind a button (GET /api/webhooks). Both are asked on the page's existing
 * 5-second poll. Server text goes into the page with textContent only, through safe().
 */
'use strict';

window.deiaOperations = function (ctx) {
  const { api, el, safe, fmtCost } = ctx;
  const $ = (id) => document.getElementById(id);
  const ui = {
    hiveSpend: $('hive-spend'), hiveSpendText: $('hive-spend-text'), hiveBudget: $('hive-budget'),
    hiveBudgetBar: $('hive-budget-bar'), hiveBudgetText: $('hive-budget-text'), profileBudgets: $('profile-budgets'),
    hooks: $('hooks'), hooksDialog: $('hooks-dialog'), hooksSummary: $('hooks-summary'), hooksDead: $('hooks-dead'),
    hooksEmpty: $('hooks-empty'), hooksClose: $('hooks-close')
  };

  function unknownTurns(c) {
    const n = c.unknown_cost_turns;
    return n > 0 ? ' (+' + n + ' turn' + (n === 1 ? '' : 's') + ' of unknown cost)' : '';
  }

  /**
   * How much of a budget is used: the cap closest to its limit, the day's or the total's; null when
   * no cap is set (then no bar is drawn at all). Unknown-cost turns never count, as on the server.
   */
  function budgetUse(c, budget) {
    if (!budget || typeof budget !== 'object') return null;
    let use = null;
    const consider = (spent, limit, period) => {
      if (limit === null || limit === undefined || !isFinite(limit)) return;
      const u = limit > 0 ? (Number(spent) || 0) / limit : 1;
      if (use === null || u > use.used) use = { used: u, label: fmtCost(spent || 0) + ' of ' + fmtCost(limit) + ' ' + period };
    };
    consider(c.today_usd, budget.usd_per_day, 'today');
    consider(c.total_usd, budget.usd_total, 'in all');
    return use;
  }

  function fillBar(box, bar, text, use, prefix) {
    box.hidden = use === null;
    if (use === null) return;
    bar.value = Math.min(1, use.used);
    text.textContent = prefix + use.label + (use.used >= 1 ? ' (reached)' : '');
    box.classList.toggle('over', use.used >= 1);
    box.dataset.used = String(Math.round(Math.min(1, use.used) * 100));
  }

  /** The hive's spend, its budget bar and one bar per profile with a budget. */
  function renderCosts(c) {
    if (!c || typeof c !== 'object') return;
    ui.hiveSpend.hidden = false;
    // Only turns nobody priced: the hive's cost is unknown, not $0.
    ui.hiveSpendText.textContent = c.unknown_cost_turns > 0 && !(c.total_usd > 0)
        ? 'Hive: cost unknown' + unknownTurns(c)
        : 'Hive: ' + fmtCost(c.today_usd) + ' today, ' + fmtCost(c.total_usd) + ' in all' + unknownTurns(c);
    fillBar(ui.hiveBudget, ui.hiveBudgetBar, ui.hiveBudgetText, budgetUse(c, c.budget), 'Budget: ');
    const rows = [];
    const profiles = c.profiles && typeof c.profiles === 'object' ? c.profiles : {};
    Object.keys(profiles).sort().forEach((name) => {
      const p = profiles[name];
      const use = p ? budgetUse(p, p.budget) : null;
      if (use === null) return;
      const row = el('div', 'budget-row profile-budget');
      row.dataset.profile = name;
      const bar = document.createElement('progress');
      bar.max = 1;
      const text = el('span', 'budget-text');
      bar.setAttribute('aria-label', 'Budget of profile ' + safe(name));
      row.append(bar, text);
      fillBar(row, bar, text, use, safe(name) + ': ');
      rows.push(row);
    });
    ui.profileBudgets.replaceChildren(...rows);
    ui.profileBudgets.hidden = rows.length === 0;
  }

  async function loadCosts() {
    try {
      renderCosts(await api('GET', '/api/costs'));
    } catch (e) {
      // A failed poll leaves the last figures; the next one asks again.
    }
  }

  /** The host of a webhook URL (the path may carry a token of the receiver's); the text itself when it is no URL. */
  function hostOf(url) {
    try {
      return new URL(url).host;
    } catch (e) {
      return String(url || '');
    }
  }

  /** The indicator in the top bar: shown while deliveries are pending or dead, hidden when all went out. */
  function renderHooks(w) {
    if (!w || typeof w !== 'object') return;
    const pending = Number(w.pending) || 0;
    const dead = Array.isArray(w.dead) ? w.dead : [];
    const deadTotal = Number(w.dead_total !== undefined ? w.dead_total : dead.length) || 0;
    ui.hooks.hidden = pending === 0 && deadTotal === 0;
    ui.hooks.dataset.state = deadTotal > 0 ? 'dead' : (pending > 0 ? 'pending' : 'ok');
    ui.hooks.dataset.pending = String(pending);
    ui.hooks.dataset.dead = String(deadTotal);
    const parts = [];
    if (pending > 0) parts.push(pending + ' pending');
    if (deadTotal > 0) parts.push(deadTotal + ' dead');
    ui.hooks.textContent = 'Webhooks: ' + parts.join(' · ');
    ui.hooksSummary.textContent = pending + ' pending, ' + deadTotal + ' dead; since serve started '
        + (Number(w.delivered_total) || 0) + ' delivered, ' + (Number(w.failed_total) || 0) + ' failed attempts.';
    ui.hooksEmpty.hidden = dead.length > 0;
    ui.hooksDead.hidden = dead.length === 0;
    const body = ui.hooksDead.tBodies[0];
    body.replaceChildren(...dead.map((d) => {
      const tr = el('tr', 'hook-dead');
      tr.dataset.eventId = safe(d.id);
      [d.type, d.bot_id, hostOf(d.url), d.attempts, d.last_error].forEach((v) => tr.appendChild(el('td', null, safe(v))));
      tr.children[2].title = safe(d.url);
      const at = d.dead_at ? new Date(d.dead_at) : null;
      tr.appendChild(el('td', null, at && !isNaN(at.getTime()) ? at.toLocaleString() : ''));
      return tr;
    }));
  }

  async function loadHooks() {
    try {
      renderHooks(await api('GET', '/api/webhooks'));
    } catch (e) {
      // As for costs: the last figures stay until a poll succeeds.
    }
  }

  ui.hooks.addEventListener('click', () => {
    loadHooks();
    ui.hooksDialog.showModal();
  });
  ui.hooksClose.addEventListener('click', () => ui.hooksDialog.close());

  return {
    /** Both figures at once, as one poll. */
    load() {
      return Promise.all([loadCosts(), loadHooks()]);
    }
  };
};
