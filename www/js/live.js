// live.js - changes as they happen. One EventSource on /console/api/events
// (the server sends only requests this person may see); each `request`
// event calls onChange(event data). While the stream is down (the server
// refused it, or the connection dropped and EventSource is retrying) the
// page is refreshed every 10 s instead, and once more when the stream
// comes back, so nothing that happened in between is missed.

const FALLBACK_MS = 10000;

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

  if (typeof EventSource === 'function') {
    try {
      es = new EventSource('/console/api/events');
      es.addEventListener('request', fire);
      es.addEventListener('message', fire);
      // The server could not replay what was missed: fetch everything again.
      es.addEventListener('reset', () => onChange(null));
      es.addEventListener('open', () => {
        // Whatever changed before the stream was (re)opened is fetched once.
        onState('stream');
        unpoll();
        onChange(null);
      });
      es.addEventListener('error', () => {
        poll();
        // A stream the server refused outright is not retried by the browser.
        if (es.readyState === EventSource.CLOSED) es = null;
      });
    } catch (e) {
      poll();
    }
  } else {
    poll();
  }
  return () => {
    stopped = true;
    unpoll();
    if (es) es.close();
  };
}
