// live.js - changes as they happen. One EventSource on /console/api/events
// (the server sends only requests this person may see); each `request`
// event calls onChange(event data). While the stream is down (the server
// refused it, or the connection dropped and EventSource is retrying) the
// page is refreshed every 10 s instead, and once more when the stream
// comes back, so nothing that happened in between is missed. A stream the
// server refused (a 502 while workers restart, a 503 too_many_streams) is
// not retried by the browser: it is opened again here, after 2 s, then
// twice as long each time up to 30 s, until it opens.

const FALLBACK_MS = 10000;
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 30000;

/** Start listening; onState('stream' | 'poll') says which way changes come.
 *  Returns a function that stops everything. */
export function live(onChange, onState = () => {}) {
  let es = null;
  let timer = null;
  let stopped = false;

  const poll = () => {
    if (!timer && !stopped) {
      timer = setInterval(() => onChange(null), FALLBACK_MS);
      onState('poll');
    }
  };
  const unpoll = () => {
    if (timer) clearInterval(timer);
    timer = null;
  };
  const fire = (ev) => {
    let d = null;
    try {
      d = JSON.parse(ev.data);
    } catch (e) {
      d = null;
    }
    onChange(d && typeof d === 'object' ? d : null);
  };

  let retry = RETRY_MIN_MS;
  let again = null;
  const connect = () => {
    again = null;
    if (stopped) return;
    try {
      const me = new EventSource('/console/api/events');
      es = me;
      me.addEventListener('request', fire);
      me.addEventListener('message', fire);
      // The server could not replay what was missed: fetch everything again.
      me.addEventListener('reset', () => onChange(null));
      me.addEventListener('open', () => {
        // Whatever changed before the stream was (re)opened is fetched once.
        retry = RETRY_MIN_MS;
        onState('stream');
        unpoll();
        onChange(null);
      });
      me.addEventListener('error', () => {
        poll();
        // A stream the server refused outright is not retried by the browser.
        if (me.readyState === EventSource.CLOSED && es === me && !stopped) {
          es = null;
          again = setTimeout(connect, retry);
          retry = Math.min(retry * 2, RETRY_MAX_MS);
        }
      });
    } catch (e) {
      poll();
    }
  };

  if (typeof EventSource === 'function') connect();
  else poll();
  return () => {
    stopped = true;
    unpoll();
    if (again) clearTimeout(again);
    if (es) es.close();
  };
}
