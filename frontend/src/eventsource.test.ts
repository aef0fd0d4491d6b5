import { describe, expect, it } from "vitest";
import { reopenDelay, subscribe, type SourceFactory } from "./eventsource";

class FakeSource {
  readyState = 0;
  closed = false;
  onopen: ((e: Event) => unknown) | null = null;
  onerror: ((e: Event) => unknown) | null = null;
  listeners = new Map<string, ((e: Event) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(name: string, fn: (e: Event) => void) {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(name: string, data: string, lastEventId = "") {
    for (const fn of this.listeners.get(name) ?? []) fn({ data, lastEventId } as unknown as Event);
  }
  fail(readyState: number) {
    this.readyState = readyState;
    this.onerror?.(new Event("error"));
  }
}

function harness() {
  const sources: FakeSource[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const open: SourceFactory = (url) => {
    const s = new FakeSource(url);
    sources.push(s);
    return s as unknown as ReturnType<SourceFactory>;
  };
  const received: string[] = [];
  const status: boolean[] = [];
  const sub = subscribe(
    (lastId) => (lastId ? `/stream?since=${lastId}` : "/stream"),
    { on: { step: (e) => received.push(e.data) }, status: (c) => status.push(c) },
    open,
    (fn, ms) => timers.push({ fn, ms }),
    () => {},
  );
  return { sources, timers, received, status, sub };
}

describe("subscribe", () => {
  it("leaves network errors to the browser's own reconnect (it sends Last-Event-ID)", () => {
    const h = harness();
    h.sources[0].onopen?.(new Event("open"));
    h.sources[0].emit("step", "a", "cursor-1");
    h.sources[0].fail(0); // CONNECTING: the browser retries by itself
    expect(h.timers).toHaveLength(0);
    expect(h.sources).toHaveLength(1);
    expect(h.status).toEqual([true, false]);
    expect(h.received).toEqual(["a"]);
  });

  it("reopens after an HTTP error, resuming after the last event id, with backoff", () => {
    const h = harness();
    h.sources[0].emit("step", "a", "cursor-1");
    h.sources[0].fail(2); // CLOSED: e.g. a 503 while the API restarts
    expect(h.timers.map((t) => t.ms)).toEqual([500]);
    h.timers[0].fn();
    expect(h.sources[1].url).toBe("/stream?since=cursor-1");
    h.sources[1].fail(2);
    expect(h.timers.map((t) => t.ms)).toEqual([500, 1000]);
    h.timers[1].fn();
    h.sources[2].onopen?.(new Event("open"));
    h.sources[2].emit("step", "b", "cursor-2");
    expect(h.received).toEqual(["a", "b"]);
    expect(h.sub.lastId).toBe("cursor-2");
  });

  it("stops for good when closed: no reopening, no more events", () => {
    const h = harness();
    h.sub.close();
    expect(h.sources[0].closed).toBe(true);
    h.sources[0].emit("step", "late");
    h.sources[0].fail(2);
    expect(h.received).toEqual([]);
    expect(h.timers).toHaveLength(0);
  });

  it("backs off from 0.5 s doubling up to 10 s", () => {
    expect([1, 2, 3, 4, 5, 6, 10].map(reopenDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});
