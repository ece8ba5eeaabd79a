/*
 * deia dashboard: review of a project bot's task in the Tasks panel -- its branch and what changed,
 * the diff (file list and unified patch), Merge, Discard and Restore.
 * Same safety rule as app.js: file names and patch lines only ever reach the page through
 * textContent, and through deiaText.visible, so a bidi control in code or in a file name shows as
 * an escape instead of reordering what a reviewer reads.
 */
'use strict';

/**
 * Builds the review functions over what app.js shares with the Tasks panel.
 *
 * @param ctx {api, el, safe}
 */
window.deiaReview = function (ctx) {
  const { api, el, safe } = ctx;
  const MINUS = '\u2212';

  /** The change fields of a task response: flat in the task list, or under "change". */
  function changeOf(r) {
    const c = r && r.change && typeof r.change === 'object' ? r.change : r;
    if (!c || typeof c.branch !== 'string' || !c.branch) return null;
    return {
      project: c.project, branch: c.branch, base_commit: c.base_commit, commit: c.commit,
      files_changed: c.files_changed, insertions: c.insertions, deletions: c.deletions
    };
  }

  /** What the user did with one task in this page: kept per bot and task id across re-renders. */
  function stateOf(bot, taskId) {
    if (!bot.tasks.review) bot.tasks.review = new Map();
    let s = bot.tasks.review.get(taskId);
    if (!s) {
      s = {
        busy: null,          // 'diff' | 'merge' | 'discard' | 'restore' while a request runs
        diff: null,          // the last diff answer
        diffOpen: false,
        diffNode: null,      // the diff as built, so a re-render does not rebuild a 2 MiB patch
        merged: null,        // {base, commit, fast_forward, already}
        discarded: null,     // {kept_as}
        restored: false,
        missing: false,      // the server no longer knows the branch (discarded elsewhere): Restore may help
        error: null,         // {action, message, files}
        node: null,          // the block currently in the page
        response: null
      };
      bot.tasks.review.set(taskId, s);
    }
    return s;
  }

  function taskPath(bot, taskId, action) {
    return '/api/bot/' + encodeURIComponent(bot.id) + '/tasks/' + encodeURIComponent(taskId) + '/' + action;
  }

  function short(commit) {
    return commit ? String(commit).slice(0, 12) : '';
  }

  function plural(n, one, many) {
    return n + ' ' + (n === 1 ? one : many);
  }

  /** "2 files changed +10 −3", or "no changes" for a task that committed nothing. */
  function changeSummary(change) {
    if (!change.commit) return 'no changes';
    const files = Number(change.files_changed) || 0;
    return plural(files, 'file', 'files') + ' changed +' + (Number(change.insertions) || 0)
      + ' ' + MINUS + (Number(change.deletions) || 0);
  }

  /** The review block of a task response, or null when the task did not run on a project. */
  function render(bot, r) {
    const change = changeOf(r);
    if (!change || !r.task_id) return null;
    const s = stateOf(bot, r.task_id);
    s.response = r;
    s.node = build(bot, r.task_id, change, s);
    return s.node;
  }

  /** Rebuilds one task's block in place (after an action), keeping the keyboard where it was. */
  function refresh(bot, taskId) {
    const s = stateOf(bot, taskId);
    const old = s.node;
    const change = changeOf(s.response);
    if (!old || !old.parentNode || !change) return;
    const focused = old.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    s.node = build(bot, taskId, change, s);
    old.replaceWith(s.node);
    if (focused) {
      const same = s.node.querySelector('[data-action="' + focused + '"]');
      const target = same && !same.disabled ? same : s.node.querySelector('.review-note');
      if (target) target.focus();
    }
  }

  function build(bot, taskId, change, s) {
    const box = el('div', 'task-review');
    box.dataset.taskId = taskId;

    const line = el('p', 'task-change');
    if (change.project) line.appendChild(el('span', 'task-project', safe(change.project)));
    line.appendChild(el('code', 'task-branch', safe(change.branch)));
    line.appendChild(el('span', 'task-changes' + (change.commit ? '' : ' none'), changeSummary(change)));
    box.appendChild(line);

    const note = el('p', 'review-note');
    note.tabIndex = -1;
    note.setAttribute('role', 'status');
    if (s.busy) note.textContent = { diff: 'Loading the diff…', merge: 'Merging…', discard: 'Discarding…', restore: 'Restoring…' }[s.busy];
    else if (s.merged) note.textContent = s.merged.already ? 'Already merged into ' + safe(s.merged.base) + '.'
      : '✓ merged into ' + safe(s.merged.base) + (s.merged.fast_forward ? ' (fast-forward)' : ' (merge commit)')
        + (s.merged.commit ? ', ' + safe(s.merged.base) + ' is now at ' + short(s.merged.commit) : '') + '.';
    else if (s.discarded) note.textContent = 'Discarded: the branch is kept as ' + safe(s.discarded.kept_as)
      + ' for 30 days; Restore brings it back.';
    else if (s.restored) note.textContent = 'Restored: ' + safe(change.branch) + ' is back.';
    note.classList.toggle('merged', !!s.merged && !s.busy);
    note.hidden = !note.textContent;
    box.appendChild(note);

    if (s.error) box.appendChild(errorBlock(s.error));

    const actions = el('div', 'task-review-actions');
    const canReview = !!change.commit && !s.discarded && !s.missing;
    if (canReview) {
      actions.appendChild(button(s.diffOpen ? 'Hide diff' : 'Diff', 'diff', !!s.busy, () => toggleDiff(bot, taskId)));
    }
    if (canReview && !s.merged) {
      actions.appendChild(button('Merge', 'merge', !!s.busy, () => act(bot, taskId, 'merge')));
    }
    if (!s.discarded && !s.merged && !s.missing) {
      actions.appendChild(button('Discard', 'discard', !!s.busy, () => act(bot, taskId, 'discard'), 'danger'));
    }
    if (s.discarded || s.missing) {
      actions.appendChild(button('Restore', 'restore', !!s.busy, () => act(bot, taskId, 'restore')));
    }
    box.appendChild(actions);

    if (s.diffOpen && s.diff && canReview) {
      if (!s.diffNode) s.diffNode = diffView(s.diff);
      box.appendChild(s.diffNode);
    }
    return box;
  }

  function button(text, action, disabled, onClick, kind) {
    const b = el('button', 'btn small' + (kind ? ' ' + kind : ''), text);
    b.type = 'button';
    b.dataset.action = action;
    b.disabled = disabled;
    b.addEventListener('click', onClick);
    return b;
  }

  /** What the server refused and why; a refused merge names the files in the way. */
  function errorBlock(error) {
    const box = el('div', 'task-review-error');
    box.setAttribute('role', 'alert');
    const verb = { diff: 'Diff failed', merge: 'Merge refused', discard: 'Discard refused', restore: 'Restore refused' }[error.action];
    box.appendChild(el('p', 'review-error-text', verb + ': ' + safe(error.message)));
    if (error.files && error.files.length) {
      box.appendChild(el('p', 'review-error-files-title', 'Conflicting files:'));
      const list = el('ul', 'conflict-files');
      error.files.forEach((f) => list.appendChild(el('li', 'conflict-file', safe(f))));
      box.appendChild(list);
    }
    return box;
  }

  async function toggleDiff(bot, taskId) {
    const s = stateOf(bot, taskId);
    if (s.diffOpen) {
      s.diffOpen = false;
      refresh(bot, taskId);
      return;
    }
    s.busy = 'diff';
    s.error = null;
    refresh(bot, taskId);
    try {
      const diff = await api('GET', taskPath(bot, taskId, 'diff'));
      s.diff = diff || {};
      s.diffNode = null;
      s.diffOpen = true;
      // Nothing left between the task's commit and base: it is already on base.
      const change = changeOf(s.response);
      if (!s.merged && change && change.commit && s.diff.merge_base === change.commit
          && Array.isArray(s.diff.files) && !s.diff.files.length) {
        s.merged = { base: s.diff.base, already: true };
      }
    } catch (e) {
      failed(s, 'diff', e);
    } finally {
      s.busy = null;
    }
    refresh(bot, taskId);
  }

  /** Merge, Discard or Restore: a POST with an empty JSON body, the answer shown on the task. */
  async function act(bot, taskId, action) {
    const s = stateOf(bot, taskId);
    if (s.busy) return;
    s.busy = action;
    s.error = null;
    refresh(bot, taskId);
    try {
      const data = await api('POST', taskPath(bot, taskId, action), {}) || {};
      if (action === 'merge') {
        s.merged = { base: data.base, commit: data.commit, fast_forward: !!data.fast_forward, already: false };
      } else if (action === 'discard') {
        s.discarded = { kept_as: data.kept_as || ('refs/deia/discarded/' + bot.id + '/' + taskId) };
        s.restored = false;
      } else {
        s.discarded = null;
        s.restored = true;
      }
      s.missing = false;
      // The diff shown was of the branch before this action.
      s.diff = null;
      s.diffNode = null;
      s.diffOpen = false;
    } catch (e) {
      failed(s, action, e);
    } finally {
      s.busy = null;
    }
    refresh(bot, taskId);
  }

  /** The server's refusal, kept on the task; a branch it does not know (404) may have been discarded elsewhere. */
  function failed(s, action, e) {
    const files = e.details && Array.isArray(e.details.files) ? e.details.files.map(String) : null;
    s.error = { action: action, message: e.message + (e.code ? ' [' + e.code + ']' : ''), files: files };
    if (e.status === 404 && action !== 'restore') s.missing = true;
  }

  /** The file list and the patch, each patch line as its own element with a class for its kind. */
  function diffView(diff) {
    const box = el('div', 'task-diff');
    const files = Array.isArray(diff.files) ? diff.files : [];
    box.appendChild(el('p', 'diff-head', safe(diff.branch || '') + ' against ' + safe(diff.base || '')
      + (diff.merge_base ? ' (merge base ' + short(diff.merge_base) + ')' : '')));
    if (!files.length) {
      box.appendChild(el('p', 'diff-empty', 'No changes against ' + safe(diff.base || 'base') + '.'));
      return box;
    }
    const list = el('ul', 'diff-files');
    files.forEach((f) => {
      const li = el('li', 'diff-file');
      li.appendChild(el('span', 'diff-status status-' + String(f.status || 'modified').replace(/[^a-z_]/g, ''), f.status || '?'));
      li.appendChild(el('span', 'diff-path', safe(f.path)));
      const counts = f.binary || f.insertions === null || f.insertions === undefined
        ? 'binary' : '+' + f.insertions + ' ' + MINUS + (f.deletions || 0);
      li.appendChild(el('span', 'diff-counts', counts));
      list.appendChild(li);
    });
    box.appendChild(list);
    if (diff.truncated) {
      box.appendChild(el('p', 'diff-truncated', 'The patch is cut at 2 MiB (truncated): the file list above is complete, '
        + 'the patch below is not.'));
    }
    const scroll = el('div', 'diff-scroll');
    scroll.tabIndex = 0;
    scroll.setAttribute('role', 'region');
    scroll.setAttribute('aria-label', 'Patch of ' + safe(diff.branch || 'the task'));
    scroll.appendChild(patchView(String(diff.patch || '')));
    box.appendChild(scroll);
    return box;
  }

  /**
   * The patch in monospace, each run of lines of one kind (added, removed, hunk header, file
   * header, context) one element with a class for that kind: a 2 MiB patch of one new file is one
   * element, not a quarter of a million.
   */
  function patchView(patch) {
    const pre = el('pre', 'diff-patch');
    const fragment = document.createDocumentFragment();
    let header = false;
    let run = null;
    let runKind = null;
    const lines = patch.split('\n');
    if (lines.length && lines[lines.length - 1] === '') lines.pop();
    const flush = () => {
      // Each run ends with its newline, so the patch's text (copied, or read by a screen reader) is whole.
      if (run) fragment.appendChild(el('span', 'diff-line ' + runKind, safe(run.join('\n') + '\n')));
      run = null;
    };
    lines.forEach((line) => {
      let kind;
      if (line.startsWith('diff --git ')) { header = true; kind = 'diff-file-start'; }
      else if (header && line.startsWith('@@')) { header = false; kind = 'diff-hunk'; }
      else if (header) kind = 'diff-meta';
      else if (line.startsWith('@@')) kind = 'diff-hunk';
      else if (line.startsWith('+')) kind = 'diff-add';
      else if (line.startsWith('-')) kind = 'diff-del';
      else if (line.startsWith('\\')) kind = 'diff-meta';
      else kind = 'diff-ctx';
      // Each file header and each hunk header stands alone; other lines join the run of their kind.
      if (run && kind === runKind && kind !== 'diff-file-start' && kind !== 'diff-hunk') {
        run.push(line);
        return;
      }
      flush();
      run = [line];
      runKind = kind;
    });
    flush();
    pre.appendChild(fragment);
    return pre;
  }

  return { render: render, changeOf: changeOf };
};
