// api.js - the console's JSON API client. Every call goes to /console/api/
// with the session cookie (same origin); every POST carries the session's
// CSRF token in X-CSRF-Token and a JSON body. A failure becomes an ApiError
// carrying the server's {"error":{"code","message"}}; a 401 tells the app
// the session is gone (onSignedOut).

let csrf = null;
let signedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Remember the CSRF token the server handed out with /login or /me. */
export function setCsrf(token) {
  csrf = typeof token === 'string' ? token : null;
}

/** Call `fn` when any API call answers 401 (no, expired or revoked session). */
export function onSignedOut(fn) {
  signedOut = fn;
}

async function call(method, path, body) {
  const headers = {Accept: 'application/json'};
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (csrf) headers['X-CSRF-Token'] = csrf;
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let r;
  try {
    r = await fetch('/console/api/' + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (!r.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(r.status, String(err.code || 'http_' + r.status),
        String(err.message || 'The server answered ' + r.status + '.'));
    if (r.status === 401 && path !== 'login') signedOut(e);
    throw e;
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
