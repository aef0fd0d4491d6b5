import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { appPath, get, type App, type LogLine, type ProcessInfo, type Release } from "../../api";
import { VirtualList, type VirtualListHandle } from "../../components/VirtualList";
import { Explain } from "../../components/ui";
import { subscribe } from "../../eventsource";
import { LogBuffer, STREAMS, firstLineOf, streamLabel } from "../../logbuffer";
import { clock, exact } from "../../time";

const ROW = 20;

/** The live tail (SSE, resumable) into a capped buffer, rendered by a virtualized list. New
 * lines are applied at most once per animation frame; "Pause" freezes the view (lines keep
 * arriving and are counted). Search and the stream filter (stdout, stderr, and the proxy's
 * lines about this app) apply to what is loaded. The app's records of Berth's own health probes
 * (lines with "Berth-Health/" in stdout/stderr) are left out by the API unless asked for. */
export function Logs({ app, releases }: { app: App; releases: Release[] }) {
  const buffer = useRef(new LogBuffer(100_000));
  const [version, setVersion] = useState(0);
  const [paused, setPaused] = useState(false);
  const [frozen, setFrozen] = useState<readonly LogLine[] | null>(null);
  const [q, setQ] = useState("");
  const [stream, setStream] = useState("");
  const [probes, setProbes] = useState(false);
  // Server-side filters (ADR 0026): one process type's lines, or one run's (the cron tab links here with ?run=).
  const [process, setProcess] = useState(() => new URLSearchParams(location.search).get("process") ?? "");
  const [run, setRun] = useState(() => new URLSearchParams(location.search).get("run") ?? "");
  const [processNames, setProcessNames] = useState<string[]>(["web"]);
  const [connected, setConnected] = useState(false);
  const [following, setFollowing] = useState(true);
  const [jumpNote, setJumpNote] = useState<string | null>(null);
  const [skipNote, setSkipNote] = useState<string | null>(null);
  const list = useRef<VirtualListHandle>(null);

  useEffect(() => {
    get<{ items: ProcessInfo[] }>(appPath(app.id, "/processes"))
      .then((r) => setProcessNames(r.items.map((p) => p.name)))
      .catch(() => {}); // the select then offers web and the one-off kinds
  }, [app.id]);

  useEffect(() => {
    const buf = buffer.current;
    buf.clear();
    setVersion((v) => v + 1);
    setSkipNote(null);
    const base = `/api/apps/${encodeURIComponent(app.id)}/logs?follow=1&limit=1000${probes ? "&probes=true" : ""}${process ? `&process=${encodeURIComponent(process)}` : ""}${run ? `&run=${encodeURIComponent(run)}` : ""}`;
    let pending: LogLine[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      if (buf.append(pending)) setVersion((v) => v + 1);
      pending = [];
    };
    const sub = subscribe((lastId) => (lastId ? `${base}&cursor=${encodeURIComponent(lastId)}` : base), {
      on: {
        message: (e) => {
          pending.push(JSON.parse(e.data) as LogLine);
          if (!frame) frame = requestAnimationFrame(flush);
        },
        // The API skips a client that fell more than 10,000 lines behind to the newest lines.
        skipped: (e) => setSkipNote((JSON.parse(e.data) as { reason?: string }).reason ?? "some lines were skipped"),
      },
      status: setConnected,
    });
    return () => {
      sub.close();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [app.id, probes, process, run]);

  const lines = useMemo(
    () => (paused && frozen ? frozen : buffer.current.view({ q, stream })),
    // version: recompute when lines arrive
    [version, q, stream, paused, frozen],
  );
  const clearRun = () => {
    setRun("");
    history.replaceState(null, "", location.pathname); // a reload then shows every run's lines too
  };
  const behind = paused && frozen ? buffer.current.length - frozen.length : 0;

  const togglePause = () => {
    if (paused) {
      setPaused(false);
      setFrozen(null);
    } else {
      setFrozen(buffer.current.view({ q, stream }).slice()); // a copy: the buffer keeps growing
      setPaused(true);
    }
  };

  const jump = (releaseId: string) => {
    if (!releaseId) return;
    const i = firstLineOf(lines, releaseId);
    const r = releases.find((x) => x.id === releaseId);
    if (i < 0) setJumpNote(`No loaded lines of v${r?.version ?? "?"}.`);
    else {
      setJumpNote(`First line of v${r?.version ?? "?"}.`);
      list.current?.scrollToIndex(i);
    }
  };
  const versionOf = useMemo(() => new Map(releases.map((r) => [r.id, r.version])), [releases]);
  const render = useCallback(
    (l: LogLine) => (
      <>
        <time dateTime={l.timestamp} title={exact(l.timestamp)} className="ts">
          {clock(l.timestamp)}
        </time>
        <span className={`stream stream-${l.stream}`}>{streamLabel(l.stream)}</span>
        <span className="rel">{l.releaseId ? `v${versionOf.get(l.releaseId) ?? "?"}` : ""}</span>
        <span className="proc" title={l.runId ? `run ${l.runId}` : undefined}>
          {l.process ?? ""}
        </span>
        <span className="msg">{l.message}</span>
      </>
    ),
    [versionOf],
  );

  return (
    <>
      <div className="row wrap logs-bar">
        <button type="button" onClick={togglePause} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
        <label className="sr-only" htmlFor="log-search">
          Search logs
        </label>
        <input id="log-search" type="search" placeholder="Search…" value={q} onChange={(e) => setQ(e.target.value)} />
        <label htmlFor="log-stream">Stream</label>
        <select id="log-stream" value={stream} onChange={(e) => setStream(e.target.value)}>
          <option value="">all</option>
          {STREAMS.map(([value, label]) => (
            <option key={value} value={value} title={label}>
              {value}
            </option>
          ))}
        </select>
        <label htmlFor="log-process">Process</label>
        <select id="log-process" value={process} onChange={(e) => setProcess(e.target.value)}>
          <option value="">all</option>
          {[...new Set([...processNames, "release", "cron", "run"])].map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
        {run && (
          <span className="badge badge-busy" data-testid="run-filter">
            run {run.slice(0, 8)}{" "}
            <button type="button" className="link" onClick={clearRun} aria-label="Show every run's lines">
              ×
            </button>
          </span>
        )}
        <label title="Lines the app wrote about Berth's own health probes (User-Agent: Berth-Health/…), hidden by default">
          <input type="checkbox" checked={probes} onChange={(e) => setProbes(e.target.checked)} /> Berth's probes
        </label>
        <label htmlFor="log-release">Jump to</label>
        <select id="log-release" value="" onChange={(e) => jump(e.target.value)}>
          <option value="">release…</option>
          {releases.map((r) => (
            <option key={r.id} value={r.id}>
              v{r.version} ({r.kind})
            </option>
          ))}
        </select>
        {!following && (
          <button type="button" onClick={() => list.current?.scrollToBottom()}>
            Follow newest
          </button>
        )}
        <span className="muted small" role="status">
          {connected ? "live" : "connecting…"} · {lines.length.toLocaleString()} lines
          {buffer.current.dropped > 0 && ` (oldest ${buffer.current.dropped.toLocaleString()} dropped)`}
          {behind > 0 && ` · ${behind.toLocaleString()} new while paused`}
          {jumpNote && ` · ${jumpNote}`}
          {skipNote && ` · gap: ${skipNote}`}
        </span>
      </div>
      {lines.length === 0 ? (
        <Explain>
          No log lines {q || stream || process || run ? "match" : "yet"}. Each container's stdout and stderr are collected by the runtime agent and appear here live, with the proxy's lines about
          this app (routing failures, TLS errors) as the "proxy" stream.
          {!probes && " Lines about Berth's own health probes (User-Agent: Berth-Health/…) are hidden; tick \"Berth's probes\" to see them."}
        </Explain>
      ) : null}
      <VirtualList items={lines} rowHeight={ROW} height={480} render={render} label="Log lines" handle={list} onFollowChange={setFollowing} />
    </>
  );
}
