import type { LogLine } from "./api";

/** The lines a log view holds: appended in batches, capped (oldest dropped), without
 * duplicates (a reconnecting stream may resend), and filtered for display without copying
 * when no filter is set. */
export class LogBuffer {
  private lines: LogLine[] = [];
  private lastId = 0;
  dropped = 0;

  constructor(readonly capacity = 100_000) {}

  get length(): number {
    return this.lines.length;
  }

  get newestId(): number {
    return this.lastId;
  }

  /** Add lines (oldest first); ones at or before the newest id already held are ignored.
   * Returns how many were added. */
  append(batch: readonly LogLine[]): number {
    let added = 0;
    for (const line of batch) {
      if (line.id <= this.lastId) continue;
      this.lines.push(line);
      this.lastId = line.id;
      added++;
    }
    const over = this.lines.length - this.capacity;
    if (over > 0) {
      this.lines.splice(0, over);
      this.dropped += over;
    }
    return added;
  }

  clear(): void {
    this.lines = [];
    this.lastId = 0;
    this.dropped = 0;
  }

  all(): readonly LogLine[] {
    return this.lines;
  }

  /** The lines matching a case-insensitive substring and stream (all when both are empty). */
  view(filter: { q?: string; stream?: string }): readonly LogLine[] {
    const q = (filter.q ?? "").toLowerCase();
    const stream = filter.stream ?? "";
    if (!q && !stream) return this.lines;
    return this.lines.filter(
      (l) => (!stream || l.stream === stream) && (!q || l.message.toLowerCase().includes(q)),
    );
  }
}

/** The streams a line can come from, with what each is. */
export const STREAMS: readonly [string, string][] = [
  ["stdout", "the app's standard output"],
  ["stderr", "the app's standard error"],
  ["proxy", "the proxy's lines about this app: routing failures, TLS errors"],
];

/** The short tag shown in front of a line. */
export function streamLabel(stream: string): string {
  return stream === "stdout" ? "out" : stream === "stderr" ? "err" : stream;
}

/** Index of the first line of a release in ``lines``, or -1. */
export function firstLineOf(lines: readonly LogLine[], releaseId: string): number {
  return lines.findIndex((l) => l.releaseId === releaseId);
}

export interface Window {
  start: number; // first row to render
  end: number; // one past the last row to render
  offset: number; // pixels from the top of the list to the first rendered row
  total: number; // height of the whole list in pixels
}

/** Which rows of a fixed-row-height list are visible (plus ``overscan`` rows on each side). */
export function visibleWindow(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 10,
): Window {
  const total = count * rowHeight;
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0, total };
  const top = Math.max(0, Math.min(scrollTop, Math.max(0, total - viewport)));
  const first = Math.floor(top / rowHeight);
  const visible = Math.ceil(viewport / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end, offset: start * rowHeight, total };
}

/** Whether a scroll position is (within a row of) the bottom: new lines then keep it there. */
export function atBottom(scrollTop: number, viewport: number, total: number, rowHeight: number): boolean {
  return scrollTop + viewport >= total - rowHeight;
}
