// params.js - the "approve with edits" form, generated from a request's
// params_schema (and its params): a field per property, typed as the schema
// says (string, number, integer, boolean, enum; anything else as JSON text),
// or, for a key without a schema, as its submitted value's JSON type.
// What the form shows is what is approved: read() gives the whole params
// object, every field; a field left empty (a boolean or enum "(not set)"
// too) is left out, and the server replaces the params with exactly this
// object. A number field that does not hold a number, or JSON text that
// does not parse, is refused here (read() throws) rather than sent as text;
// the schema is checked again on the server.

import {h, show} from './dom.js';

const UNSET = '';

function kind(prop) {
  if (!prop || typeof prop !== 'object') return 'json';
  if (Array.isArray(prop.enum)) return 'enum';
  const t = Array.isArray(prop.type) ? prop.type.find((x) => x !== 'null') : prop.type;
  return ['string', 'number', 'integer', 'boolean'].includes(t) ? t : 'json';
}

/** Build the form; returns {el, read()} where read() gives the params object. */
export function paramsForm(params, schema) {
  params = params && typeof params === 'object' && !Array.isArray(params) ? params : {};
  const props = schema && typeof schema === 'object' && schema.properties &&
      typeof schema.properties === 'object' ? schema.properties : {};
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const required = new Set(Array.isArray(schema?.required) ? schema.required.map(String) : []);
  const keys = [...Object.keys(props)];
  for (const k of Object.keys(params)) if (!keys.includes(k)) keys.push(k);

  const fields = [];
  const rows = keys.map((key, i) => {
    const prop = own(props, key) ? props[key] : undefined;
    const has = own(params, key);
    const cur = has ? params[key] : undefined;
    const k = prop ? kind(prop) : (typeof cur === 'boolean' ? 'boolean'
        : Number.isInteger(cur) ? 'integer' : typeof cur === 'number' ? 'number' : typeof cur === 'string' ? 'string' : 'json');
    const id = 'param-' + i;
    let input;
    if (k === 'enum') {
      const choices = prop.enum;
      input = h('select', {id, name: key},
          h('option', {value: UNSET}, '(not set)'),
          choices.map((c, j) => h('option', {value: String(j), selected: has && JSON.stringify(c) === JSON.stringify(cur)}, show(c))));
    } else if (k === 'boolean') {
      input = h('select', {id, name: key},
          h('option', {value: UNSET, selected: !has}, '(not set)'),
          h('option', {value: 'true', selected: has && cur === true}, 'true'),
          h('option', {value: 'false', selected: has && cur === false}, 'false'));
    } else if (k === 'json') {
      input = h('textarea', {id, name: key, rows: 2, spellcheck: 'false', value: has ? JSON.stringify(cur) : ''});
    } else if (k === 'integer' || k === 'number') {
      input = h('input', {id, name: key, type: 'number', autocomplete: 'off',
        step: k === 'integer' ? '1' : 'any',
        value: has && typeof cur === 'number' ? String(cur) : ''});
    } else {
      input = h('input', {id, name: key, type: 'text', autocomplete: 'off', spellcheck: 'false',
        value: has ? (typeof cur === 'string' ? cur : JSON.stringify(cur)) : ''});
    }
    fields.push({key, k, input, prop, has, cur});
    const hint = [];
    if (prop && prop.type) hint.push(Array.isArray(prop.type) ? prop.type.join('|') : String(prop.type));
    if (prop && prop.minimum !== undefined) hint.push('≥ ' + prop.minimum);
    if (prop && prop.maximum !== undefined) hint.push('≤ ' + prop.maximum);
    if (prop && prop.maxLength !== undefined) hint.push('at most ' + prop.maxLength + ' characters');
    if (prop && prop.pattern !== undefined) hint.push('pattern ' + prop.pattern);
    if (required.has(key)) hint.push('required');
    return h('div', {class: 'field'},
        h('label', {for: id}, key),
        input,
        prop && prop.description ? h('small', {class: 'muted'}, String(prop.description)) : null,
        hint.length ? h('small', {class: 'muted'}, hint.join(' · ')) : null);
  });

  const read = () => {
    // A key "__proto__" must be a key: no prototype to set.
    const out = Object.create(null);
    for (const f of fields) {
      const v = f.input.value;
      if (f.k === 'enum') {
        if (v !== UNSET) out[f.key] = f.prop.enum[Number(v)];
      } else if (f.k === 'boolean') {
        if (v !== UNSET) out[f.key] = v === 'true';
      } else if (f.k === 'integer' || f.k === 'number') {
        const t = v.trim();
        if (f.input.validity && f.input.validity.badInput) throw new Error(f.key + ' must be a number');
        if (t === '') continue;
        if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) throw new Error(f.key + ' must be a number');
        const n = Number(t);
        if (f.k === 'integer' && !Number.isInteger(n)) throw new Error(f.key + ' must be a whole number');
        out[f.key] = n;
      } else if (v === '' && !(f.has && f.cur === '')) {
        // left empty: absent
      } else if (f.k === 'string') {
        out[f.key] = v;
      } else {
        try {
          out[f.key] = JSON.parse(v);
        } catch (e) {
          throw new Error(f.key + ' is not valid JSON: ' + e.message);
        }
      }
    }
    return out;
  };
  return {el: h('div', {class: 'params-form'}, rows), read, empty: keys.length === 0};
}
