// dom.js - the only way the console builds its page: elements made with
// createElement, text put in with textContent (through text nodes), never
// HTML parsed from a string. Whatever an agent sent (message, metadata,
// labels, params) goes through here as text, so it can never become markup
// or script. Text put in the page this way shows bidi controls (U+202A-
// U+202E, U+2066-U+2069) and zero-width characters (U+200B-U+200F, U+FEFF)
// as visible markers such as ⟨U+202E⟩ instead of letting them reorder or
// hide what is shown: "\u202egnigats" must not read as "staging". Values
// (form fields, what is sent back) are never changed. An href can only be a route inside the console ("#/...") or a
// fixed API path ("/console/api/..."), built by the caller from constants
// and enc() (encodeURIComponent and more), never a URL taken from data.

/** Build an element: h('p', {class: 'x'}, 'text', child, [more]). */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'href') el.setAttribute('href', safeHref(v));
    else if (/^on/i.test(k) || k === 'style' || k === 'srcdoc' || k === 'src') {
      throw new Error('dom: refused attribute ' + k);
    } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' ||
               k === 'hidden' || k === 'required') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(visible(String(k))));
  }
}

const HIDDEN = /[\u0085\u200B-\u200F\u2028-\u202E\u2066-\u2069\uFEFF]/g;

/** `s` with every bidi control, zero-width character and line or paragraph separator (NEL, U+2028, U+2029: a break that is no line break) shown as ⟨U+XXXX⟩. */
export function visible(s) {
  return s.replace(HIDDEN, (c) => '⟨U+' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0') + '⟩');
}

/** The href itself if it is a console route or a console API path; throws otherwise. */
export function safeHref(v) {
  const s = String(v);
  if (/^#\/[A-Za-z0-9_\-/?=&%.~]*$/.test(s) || /^\/console\/api\/[A-Za-z0-9_\-/?=&%.]*$/.test(s)) return s;
  throw new Error('dom: refused href');
}

/** `v` as one URL component: encodeURIComponent, and ! ' ( ) * too, so safeHref takes it. */
export function enc(v) {
  return encodeURIComponent(String(v)).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The route of one request: ids are encoded, never trusted as they come. */
export function requestHref(id) {
  return '#/requests/' + enc(id);
}

/** Replace every child of `el` with `kids`. */
export function replace(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
  return el;
}

/** A value of agent data as one line of text (objects as JSON). */
export function show(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** A timestamp in the reader's local time ("—" when absent). */
export function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  return d.toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'medium'});
}

/** "in 4 min", "2 h ago": a timestamp relative to now. */
export function ago(ts) {
  const d = new Date(ts).getTime();
  if (!ts || Number.isNaN(d)) return '';
  let s = Math.round((d - Date.now()) / 1000);
  const future = s > 0;
  s = Math.abs(s);
  const t = s < 60 ? s + ' s' : s < 3600 ? Math.round(s / 60) + ' min'
      : s < 172800 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' days';
  return future ? 'in ' + t : t + ' ago';
}
