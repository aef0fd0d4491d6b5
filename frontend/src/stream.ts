import { useEffect, useRef, useState } from "react";
import type { App, HistoryEntry, Release, Step } from "./api";
import { mergeKeyed } from "./timeline";

export interface AppLive {
  app: App | null;
  releases: Release[];
  steps: Step[];
  history: HistoryEntry[];
  connected: boolean;
  gone: boolean;
}

/** The app's live state from GET /api/apps/{id}/events?follow=1 (SSE). EventSource
 * reconnects by itself and sends Last-Event-ID; the stream resends recent entries and we
 * deduplicate by key. Updates are applied in batches, once per animation frame. */
export function useAppStream(appId: string | null): AppLive {
  const [state, setState] = useState<AppLive>({ app: null, releases: [], steps: [], history: [], connected: false, gone: false });
  const pending = useRef<{ app?: App; releases: Release[]; steps: Step[]; history: HistoryEntry[] }>({ releases: [], steps: [], history: [] });
  useEffect(() => {
    if (!appId) return;
    setState({ app: null, releases: [], steps: [], history: [], connected: false, gone: false });
    const source = new EventSource(`/api/apps/${encodeURIComponent(appId)}/events?follow=1`);
    let frame = 0;
    const flush = () => {
      frame = 0;
      const p = pending.current;
      pending.current = { releases: [], steps: [], history: [] };
      setState((s) => {
        const releases = new Map(s.releases.map((r) => [r.id, r]));
        for (const r of p.releases) releases.set(r.id, r);
        return {
          ...s,
          app: p.app ?? s.app,
          releases: [...releases.values()].sort((a, b) => b.version - a.version),
          steps: p.steps.length ? mergeKeyed(s.steps, p.steps, 5000) : s.steps,
          history: p.history.length ? mergeKeyed(s.history, p.history, 1000) : s.history,
        };
      });
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(flush);
    };
    const on = (name: string, apply: (data: unknown) => void) =>
      source.addEventListener(name, (e) => {
        apply(JSON.parse((e as MessageEvent<string>).data));
        schedule();
      });
    on("app", (d) => (pending.current.app = d as App));
    on("release", (d) => pending.current.releases.push(d as Release));
    on("step", (d) => pending.current.steps.push(d as Step));
    on("history", (d) => pending.current.history.push(d as HistoryEntry));
    source.addEventListener("gone", () => {
      source.close();
      setState((s) => ({ ...s, gone: true, connected: false }));
    });
    source.onopen = () => setState((s) => ({ ...s, connected: true }));
    source.onerror = () => setState((s) => ({ ...s, connected: false }));
    return () => {
      source.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [appId]);
  return state;
}
