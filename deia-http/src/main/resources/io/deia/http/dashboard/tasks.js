/*
 * deia dashboard: the Tasks panel of the selected bot (running task, queue, responses, submit).
 * Same safety rule as app.js: text from tasks only ever goes into the page through textContent
 * (and through deiaText.visible, so bidi controls cannot reorder it).
 */
'use strict';

/**
 * Builds the panel's functions over what app.js shares with it.
 *
 * @param ctx {ui, api, el, safe, fmtTime, fmtCost, isSelected(bot), selectedBot(), renderDetail()}
 */
window.deiaTasks = function (ctx) {
  const { ui, api, el, safe, fmtTime, fmtCost } = ctx;
  /** Branch, diff, Merge and Discard of a project bot's tasks (review.js). */
  const review = window.deiaReview({ api: api, el: el, safe: safe });
  /** The responses list as last built, so a re-render with nothing new keeps the page as it is. */
  let shown = { botId: null, key: null };

  async function loadTasks(bot) {
    try {
      const data = await api('GET', '/api/bot/' + encodeURIComponent(bot.id) + '/tasks');
      bot.tasks.pending = data && data.pending ? data.pending : [];
      bot.tasks.responses = data && data.responses ? data.responses : [];
      bot.tasks.outcomes = data && data.outcomes ? data.outcomes : null;
      bot.tasks.error = null;
    } catch (e) {
      bot.tasks.error = e.message;
    }
    if (ctx.isSelected(bot)) ctx.renderDetail();
  }

  function scheduleTaskReload(bot) {
    // Other bots reload their tasks when selected.
    if (!ctx.isSelected(bot)) return;
    clearTimeout(bot.tasks.reloadTimer);
    bot.tasks.reloadTimer = setTimeout(() => loadTasks(bot), 250);
  }

  function renderTasks(bot) {
    const running = bot.info.current_task;
    ui.taskRunning.textContent = running ? safe(running) : (bot.tasks.error ? 'Could not load tasks: ' + bot.tasks.error : '—');
    ui.taskRunning.classList.toggle('is-running', !!running);

    ui.taskPending.textContent = '';
    bot.tasks.pending.forEach((t) => {
      const li = el('li', 'task-item');
      li.appendChild(el('span', 'task-id', safe(t.task_id || t.id || t.file || '?')));
      const bits = [];
      if (t.priority !== undefined && t.priority !== null) bits.push('P' + t.priority);
      if (t.state) bits.push(t.state);
      if (t.created_at) bits.push(fmtTime(t.created_at));
      if (bits.length) li.appendChild(el('span', 'task-meta', bits.join(' · ')));
      const preview = t.prompt || t.title;
      if (preview) li.appendChild(el('span', 'task-preview', safe(String(preview).slice(0, 160))));
      ui.taskPending.appendChild(li);
    });
    if (!bot.tasks.pending.length) ui.taskPending.appendChild(el('li', 'task-empty', 'Queue is empty.'));
    ui.pendingCount.textContent = bot.tasks.pending.length ? '(' + bot.tasks.pending.length + ')' : '';

    const responses = bot.tasks.responses.slice().sort((a, b) =>
      String(b.finished_at || '').localeCompare(String(a.finished_at || '')));
    const key = JSON.stringify(responses);
    // Status polls and events re-render the detail every few seconds: rebuilding an unchanged list
    // would reset an open diff's scroll position (and rebuild a patch of up to 2 MiB each time).
    if (shown.botId !== bot.id || shown.key !== key) {
      shown = { botId: bot.id, key: key };
      renderResponses(bot, responses);
    }
    ui.responsesCount.textContent = responses.length ? '(' + responses.length + ')' : '';
    const open = bot.tasks.pending.length + (running ? 1 : 0);
    ui.tabTasksCount.textContent = open ? '(' + open + ')' : '';
  }

  function renderResponses(bot, responses) {
    ui.taskResponses.textContent = '';
    responses.forEach((r) => {
      const li = el('li', 'task-item response status-' + (r.status || 'unknown'));
      li.dataset.taskId = r.task_id || '';
      const details = document.createElement('details');
      // A task event re-renders this list: keep what the user opened open.
      details.open = bot.tasks.open.has(r.task_id);
      details.addEventListener('toggle', () => {
        if (details.open) bot.tasks.open.add(r.task_id);
        else bot.tasks.open.delete(r.task_id);
      });
      const summary = el('summary', 'task-summary');
      summary.appendChild(el('span', 'task-id', safe(r.task_id || '?')));
      summary.appendChild(el('span', 'task-status', r.status || '?'));
      const bits = [];
      if (r.duration_ms !== undefined && r.duration_ms !== null) bits.push((r.duration_ms / 1000).toFixed(1) + ' s');
      if (r.attempt) bits.push('attempt ' + r.attempt);
      if (r.cost_usd !== undefined && r.cost_usd !== null) bits.push(fmtCost(r.cost_usd));
      if (r.finished_at) bits.push(fmtTime(r.finished_at));
      summary.appendChild(el('span', 'task-meta', bits.join(' · ')));
      details.appendChild(summary);
      details.appendChild(el('pre', 'task-output', r.output ? safe(r.output) : '(no output)'));
      if (r.error) details.appendChild(el('pre', 'task-error', safe(r.error)));
      li.appendChild(details);
      // A project task: its branch and changes stay in view, with the diff and the review buttons.
      const block = review.render(bot, r);
      if (block) {
        li.classList.add('project-task');
        li.appendChild(block);
      }
      ui.taskResponses.appendChild(li);
    });
    if (!responses.length) ui.taskResponses.appendChild(el('li', 'task-empty', 'No responses yet.'));
  }

  async function submitTask() {
    const bot = ctx.selectedBot();
    if (!bot) return;
    let body = ui.taskText.value;
    const file = ui.taskFile.files && ui.taskFile.files[0];
    if (file) body = await file.text();
    if (!body.trim()) {
      ui.taskMsg.textContent = 'Write a task or choose a file first.';
      ui.taskMsg.className = 'form-msg error';
      return;
    }
    ui.taskSubmit.disabled = true;
    ui.taskMsg.textContent = 'Submitting…';
    ui.taskMsg.className = 'form-msg';
    try {
      // JSON like every POST of this page (the controller takes the task file as "task").
      const data = await api('POST', '/api/bot/' + encodeURIComponent(bot.id) + '/tasks', { task: body });
      ui.taskMsg.textContent = 'Submitted task ' + (data && data.task_id ? data.task_id : '') + '.';
      ui.taskText.value = '';
      ui.taskFile.value = '';
      loadTasks(bot);
    } catch (e) {
      ui.taskMsg.textContent = 'Task refused: ' + e.message;
      ui.taskMsg.className = 'form-msg error';
    } finally {
      ui.taskSubmit.disabled = bot.gone;
    }
  }

  return { load: loadTasks, scheduleReload: scheduleTaskReload, render: renderTasks, submit: submitTask };
};
