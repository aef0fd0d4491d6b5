import { useEffect, useRef, useState } from "react";
import type { App, HistoryEntry, Release, Step } from "./api";
import { subscribe } from "./eventsource";
import { mergeKeyed } from "./timeline";

export interface AppLive {
  app: App | null;
  releases: Release[];
  steps: Step[];
  history: HistoryEntry[];
  connected: boolean;
  gone: boolean;
}

/** The app's live state from GET /api/apps/{id}/events?follow=1 (SSE). A reconnect (the
 * browser's own, or ours after an HTTP error: see eventsource.ts) resumes after the last
 * event's id, so the API sends exactly the steps and history entries missed meanwhile; entries
 * are still merged by key. Updates are applied in batches, once per animation frame. */
export function useAppStream(appId: string | null): AppLive {
  const [state, setState] = useState<AppLive>({ app: null, releases: [], steps: [], history: [], connected: false, gone: false });
  const pending = useRef<{ app?: App; releases: Release[]; steps: Step[]; history: HistoryEntry[] }>({ releases: [], steps: [], history: [] });
  useEffect(() => {
    if (!appId) return;
    setState({ app: null, releases: [], steps: [], history: [], connected: false, gone: false });
    const base = `/api/apps/${encodeURIComponent(appId)}/events?follow=1`;
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
    const apply = (fn: (data: unknown) => void) => (e: MessageEvent<string>) => {
      fn(JSON.parse(e.data));
      schedule();
    };
    const sub = subscribe((lastId) => (lastId ? `${base}&since=${encodeURIComponent(lastId)}` : base), {
      on: {
        app: apply((d) => (pending.current.app = d as App)),
        release: apply((d) => pending.current.releases.push(d as Release)),
        step: apply((d) => pending.current.steps.push(d as Step)),
        history: apply((d) => pending.current.history.push(d as HistoryEntry)),
        gone: () => {
          sub.close();
          setState((s) => ({ ...s, gone: true, connected: false }));
        },
      },
      status: (connected) => setState((s) => ({ ...s, connected })),
    });
    return () => {
      sub.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [appId]);
  return state;
}
