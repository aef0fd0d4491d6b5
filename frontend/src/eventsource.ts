/** A Server-Sent Events subscription that outlives an API restart.
 *
 * The browser's EventSource reconnects by itself after a network error and sends Last-Event-ID,
 * so the stream resumes where it was. But it gives up for good when a reconnect is answered
 * with an HTTP error (say a 503 while the API or a service behind it is still starting). Then a
 * new EventSource is opened after a backoff; since it cannot send the header, the last event id
 * goes into the URL (``url(lastId)``), which the API reads the same way. */

export interface StreamHandlers {
  /** Named events ("message" for unnamed ones); each gets the parsed event. */
  on: Record<string, (e: MessageEvent<string>) => void>;
  /** Connected (open) or not (reconnecting). */
  status?: (connected: boolean) => void;
}

export interface Subscription {
  close(): void;
  /** The id of the last event received (what a resume starts after). */
  readonly lastId: string | null;
}

type Source = Pick<EventSource, "addEventListener" | "close" | "readyState"> & {
  onopen: ((e: Event) => unknown) | null;
  onerror: ((e: Event) => unknown) | null;
};
export type SourceFactory = (url: string) => Source;

const CLOSED = 2; // EventSource.CLOSED (also where EventSource does not exist, as in unit tests)

/** Delay before the ``failures``-th reopening: 0.5 s doubling up to 10 s. */
export function reopenDelay(failures: number): number {
  return Math.min(10_000, 500 * 2 ** Math.max(0, failures - 1));
}

export function subscribe(
  url: (lastId: string | null) => string,
  handlers: StreamHandlers,
  open: SourceFactory = (u) => new EventSource(u),
  schedule: (fn: () => void, ms: number) => unknown = (fn, ms) => setTimeout(fn, ms),
  cancel: (timer: unknown) => void = (t) => clearTimeout(t as number),
): Subscription {
  let source: Source | null = null;
  let lastId: string | null = null;
  let closed = false;
  let timer: unknown = null;
  let failures = 0;

  const connect = () => {
    timer = null;
    if (closed) return;
    const s = open(url(lastId));
    source = s;
    for (const [name, handle] of Object.entries(handlers.on)) {
      s.addEventListener(name, (e: Event) => {
        const m = e as MessageEvent<string>;
        if (m.lastEventId) lastId = m.lastEventId;
        if (!closed) handle(m);
      });
    }
    s.onopen = () => {
      failures = 0;
      handlers.status?.(true);
    };
    s.onerror = () => {
      if (closed) return;
      handlers.status?.(false);
      if (s.readyState === CLOSED && timer === null) {
        failures++;
        timer = schedule(connect, reopenDelay(failures));
      }
    };
  };
  connect();

  return {
    close() {
      closed = true;
      if (timer !== null) cancel(timer);
      source?.close();
    },
    get lastId() {
      return lastId;
    },
  };
}
