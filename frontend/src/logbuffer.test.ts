import { describe, expect, it } from "vitest";
import type { LogLine } from "./api";
import { LogBuffer, STREAMS, atBottom, firstLineOf, streamLabel, visibleWindow } from "./logbuffer";

const line = (id: number, extra: Partial<LogLine> = {}): LogLine => ({
  id,
  timestamp: "2024-01-01T00:00:00Z",
  stream: id % 2 ? "stdout" : "stderr",
  releaseId: id <= 50_000 ? "r1" : "r2",
  message: `request ${id} ${id % 1000 === 0 ? "ERROR boom" : "ok"}`,
  ...extra,
});

describe("LogBuffer", () => {
  it("holds 100,000 lines, drops the oldest beyond its capacity and ignores resent lines", () => {
    const buf = new LogBuffer(100_000);
    const batch = Array.from({ length: 120_000 }, (_, i) => line(i + 1));
    expect(buf.append(batch)).toBe(120_000);
    expect(buf.length).toBe(100_000);
    expect(buf.dropped).toBe(20_000);
    expect(buf.all()[0].id).toBe(20_001);
    // A reconnect resends the last lines: nothing doubles.
    expect(buf.append(batch.slice(-500))).toBe(0);
    expect(buf.length).toBe(100_000);
    expect(buf.newestId).toBe(120_000);
  });

  it("filters by stream and case-insensitive text, and returns the same array unfiltered", () => {
    const buf = new LogBuffer();
    buf.append(Array.from({ length: 10_000 }, (_, i) => line(i + 1)));
    expect(buf.view({})).toBe(buf.all());
    const errors = buf.view({ q: "error" });
    expect(errors.map((l) => l.id)).toEqual([1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000]);
    expect(buf.view({ stream: "stderr" }).length).toBe(5000);
    expect(buf.view({ stream: "stdout", q: "ERROR" }).length).toBe(0);
  });

  it("filters the proxy's lines about the app as a third stream", () => {
    const buf = new LogBuffer();
    buf.append([line(1), line(2), line(3, { stream: "proxy", message: "dial tcp 10.241.0.2:8080: connect: connection refused" })]);
    expect(buf.view({ stream: "proxy" }).map((l) => l.id)).toEqual([3]);
    expect(buf.view({ stream: "stdout" }).map((l) => l.id)).toEqual([1]);
    expect(STREAMS.map(([s]) => s)).toEqual(["stdout", "stderr", "proxy"]);
    expect(["stdout", "stderr", "proxy"].map(streamLabel)).toEqual(["out", "err", "proxy"]);
  });

  it("finds the first line of a release to jump to", () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => line(i + 1));
    expect(firstLineOf(lines, "r2")).toBe(50_000);
    expect(firstLineOf(lines, "nope")).toBe(-1);
  });
});

describe("visibleWindow", () => {
  it("renders only the rows in view plus overscan, whatever the list's length", () => {
    const w = visibleWindow(2_000_000, 400, 20, 100_000, 10);
    expect(w.total).toBe(2_000_000);
    expect(w.start).toBe(99_970);
    expect(w.end).toBe(100_000);
    expect(w.end - w.start).toBeLessThanOrEqual(400 / 20 + 1 + 20);
    const top = visibleWindow(0, 400, 20, 100_000, 10);
    expect(top).toEqual({ start: 0, end: 31, offset: 0, total: 2_000_000 });
    const middle = visibleWindow(1_000_000, 400, 20, 100_000, 10);
    expect(middle.start).toBe(49_990);
    expect(middle.offset).toBe(49_990 * 20);
  });

  it("copes with empty lists and short lists", () => {
    expect(visibleWindow(0, 400, 20, 0)).toEqual({ start: 0, end: 0, offset: 0, total: 0 });
    expect(visibleWindow(500, 400, 20, 5)).toEqual({ start: 0, end: 5, offset: 0, total: 100 });
  });

  it("knows when the view is at the bottom (to keep following new lines)", () => {
    expect(atBottom(1600, 400, 2000, 20)).toBe(true);
    expect(atBottom(1590, 400, 2000, 20)).toBe(true);
    expect(atBottom(1000, 400, 2000, 20)).toBe(false);
  });
});
