/*
 * deia dashboard: text from bots and tasks made safe to look at. Bidirectional control characters
 * would reorder what follows them ("abc\u202Egnp.exe" displays as "abcexe.png", the classic file
 * name spoof), so they are shown as visible escapes instead of taking effect. Used for every text a
 * bot or a task produced (chat, task previews, outputs and errors).
 */
'use strict';

window.deiaText = (function () {
  // U+200E/F (marks), U+202A-U+202E (embeddings, overrides), U+2066-U+2069 (isolates).
  const BIDI = /[\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

  return {
    /** The text with each bidi control replaced by a visible "<U+202E>"-style escape. */
    visible(text) {
      if (text === null || text === undefined) return '';
      return String(text).replace(BIDI, (c) => '<U+' + c.charCodeAt(0).toString(16).toUpperCase() + '>');
    }
  };
}());
