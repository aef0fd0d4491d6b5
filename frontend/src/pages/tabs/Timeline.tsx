import { useEffect, useState } from "react";
import type { App, HistoryEntry, Release, Step } from "../../api";
import { Explain, RelTime, StatusBadge } from "../../components/ui";
import { clock, duration, exact } from "../../time";
import { buildTimeline, describeHistory } from "../../timeline";

/** The internals of every release: each lifecycle step as it happens, with its time, its
 * duration and what the platform is doing and why. Fed live by the app's event stream. */
export function Timeline({ app, releases, steps, history }: { app: App; releases: Release[]; steps: Step[]; history: HistoryEntry[] }) {
  const wanted = new URLSearchParams(location.search).get("release");
  const [chosen, setChosen] = useState<string | null>(wanted);
  const newest = releases[0];
  // Follow the newest release unless the user picked one.
  useEffect(() => {
    if (!wanted) setChosen(null);
  }, [wanted]);
  const release = releases.find((r) => r.id === chosen) ?? newest;
  if (!release) {
    return <Explain>Nothing has happened yet. Deploy an image and watch each step of its rollout appear here as the platform does it.</Explain>;
  }
  const rows = buildTimeline(release, steps.filter((s) => s.releaseId === release.id));
  const entries = history.filter((h) => !h.releaseId || h.releaseId === release.id).slice(-50).reverse();
  return (
    <>
      <div className="row">
        <label htmlFor="timeline-release">Release</label>
        <select id="timeline-release" value={release.id} onChange={(e) => setChosen(e.target.value)}>
          {releases.map((r) => (
            <option key={r.id} value={r.id}>
              v{r.version} · {r.kind} · {r.image} · {r.status}
            </option>
          ))}
        </select>
        <StatusBadge status={release.status} />
        <span className="muted">
          created <RelTime at={release.createdAt} />
        </span>
      </div>
      {release.reason && <p className="reason">{release.reason}</p>}
      <ol className="timeline" aria-label={`Lifecycle of v${release.version}`} aria-live="polite">
        {rows.map((r) => (
          <li key={r.step} className={`tl tl-${r.state}`} data-step={r.step} data-state={r.state}>
            <div className="tl-mark" aria-hidden="true" />
            <div className="tl-body">
              <div className="tl-head">
                <strong>{r.title}</strong>
                {r.slot && <span className="badge badge-idle">slot {r.slot.toUpperCase()}</span>}
                {r.at && (
                  <time dateTime={r.at} title={exact(r.at)} className="mono small">
                    {clock(r.at)}
                  </time>
                )}
                {r.durationMs != null && <span className="small">took {duration(r.durationMs)}</span>}
                {r.sinceStartMs != null && <span className="muted small">+{duration(r.sinceStartMs)} from request</span>}
                {r.state === "pending" && <span className="muted small">waiting…</span>}
                {r.state === "skipped" && <span className="muted small">did not happen</span>}
              </div>
              {r.detail && <div className={r.state === "failed" ? "reason" : "mono small muted break"}>{r.detail}</div>}
              <p className="why">{r.why}</p>
            </div>
          </li>
        ))}
      </ol>
      <h2>Container history</h2>
      <Explain>What the Docker engine reported about {app.name}'s containers: starts, exits with their codes, out-of-memory kills, crashes.</Explain>
      {entries.length === 0 ? (
        <p className="muted">No container events for this release yet.</p>
      ) : (
        <ul className="history">
          {entries.map((h, i) => (
            <li key={h.key ?? i} data-kind={h.kind}>
              <time dateTime={h.at} title={exact(h.at)} className="mono small">
                {clock(h.at)}
              </time>{" "}
              {describeHistory(h)}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
