/*
 * deia dashboard: what the user typed and the controller has not confirmed yet, kept in
 * sessionStorage so that neither a lost connection, a rebuilt chat nor a page reload loses it.
 * Per tab (sessionStorage), never sent anywhere; a message leaves the outbox when the controller
 * acknowledges it (or its history shows it) or when the user discards it.
 */
'use strict';

window.deiaOutbox = (function () {
  const KEY = 'deia.outbox.v1';
  const DRAFTS = 'deia.drafts.v1';
  const MINE = 'deia.mine.v1';
  /** How many of this tab's own message ids are remembered, to label them "you" in the history. */
  const MINE_MAX = 500;

  function read(key, fallback) {
    try {
      const raw = window.sessionStorage.getItem(key);
      const value = raw ? JSON.parse(raw) : null;
      return value && typeof value === 'object' ? value : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function write(key, value) {
    try {
      window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      // Storage full or disabled: the page still holds the messages until it is closed.
    }
  }

  /** bot id -> [{ id, text, ts, error }] in the order they were typed. */
  const pending = read(KEY, {});
  const drafts = read(DRAFTS, {});
  const mine = Array.isArray(read(MINE, [])) ? read(MINE, []) : [];
  const mineSet = new Set(mine);

  return {
    /** The unsent messages of one bot (a copy). */
    list(botId) {
      return (pending[botId] || []).slice();
    },
    /** Every bot id with unsent messages. */
    bots() {
      return Object.keys(pending).filter((id) => pending[id].length > 0);
    },
    /** Keeps a message (or updates its error) until it is confirmed or discarded. */
    keep(botId, id, text, ts, error) {
      const list = pending[botId] || (pending[botId] = []);
      const found = list.find((m) => m.id === id);
      if (found) found.error = error || null;
      else list.push({ id: id, text: text, ts: ts, error: error || null });
      write(KEY, pending);
      if (!mineSet.has(id)) {
        mineSet.add(id);
        mine.push(id);
        while (mine.length > MINE_MAX) mineSet.delete(mine.shift());
        write(MINE, mine);
      }
    },
    /** Drops a message: confirmed by the controller, or discarded by the user. */
    drop(botId, id) {
      const list = pending[botId];
      if (!list) return;
      const next = list.filter((m) => m.id !== id);
      if (next.length === list.length) return;
      if (next.length) pending[botId] = next;
      else delete pending[botId];
      write(KEY, pending);
    },
    has(botId, id) {
      return (pending[botId] || []).some((m) => m.id === id);
    },
    /** Whether this tab sent the message with this id. */
    isMine(id) {
      return mineSet.has(id);
    },
    draft(botId) {
      return drafts[botId] || '';
    },
    saveDraft(botId, text) {
      if (text) drafts[botId] = text;
      else delete drafts[botId];
      write(DRAFTS, drafts);
    }
  };
}());
