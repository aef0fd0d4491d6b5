import { useEffect, useState } from "react";
import { appPath, get, post, type App, type CronJob, type Run } from "../../api";
import { usePolled } from "../../poll";
import { Link } from "../../router";
import { Badge, ErrorNote, Explain, RelTime } from "../../components/ui";
import { ranContainer, runOutcome, scheduleLabel, triggerLabel } from "../../cron";
import { commandLine } from "../../processes";
import { duration } from "../../time";

function History({ app, job, version }: { app: App; job: CronJob; version: number }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stop = false;
    get<{ items: Run[] }>(appPath(app.id, `/cron/${encodeURIComponent(job.name)}/runs?limit=20`))
      .then((r) => !stop && (setRuns(r.items), setError(null)))
      .catch((e) => !stop && setError(e));
    return () => {
      stop = true;
    };
  }, [app.id, job.name, version]);
  if (error) return <ErrorNote error={error} />;
  if (!runs) return <p className="loading">Loading history…</p>;
  if (runs.length === 0) return <p className="muted small">No runs yet.</p>;
  return (
    <div className="table-wrap">
      <table className="cron-runs" aria-label={`History of ${job.name}`}>
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">Trigger</th>
            <th scope="col">Result</th>
            <th scope="col">Duration</th>
            <th scope="col">
              <span className="sr-only">Logs</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => {
            const outcome = runOutcome(r);
            return (
              <tr key={r.id} data-run={r.id} data-trigger={r.trigger ?? ""} data-status={r.status}>
                <td>
                  <RelTime at={r.startedAt ?? r.dueAt ?? r.createdAt} />
                  {r.lateMs != null && r.lateMs >= 1000 && <div className="muted small">{duration(r.lateMs)} late</div>}
                </td>
                <td>{triggerLabel(r.trigger)}</td>
                <td>
                  <Badge tone={outcome.tone} data-exit-code={r.exitCode == null ? "" : String(r.exitCode)}>
                    {outcome.label}
                  </Badge>
                  {r.status === "missed" && r.firstDueAt && (
                    <div className="muted small">
                      due from <RelTime at={r.firstDueAt} /> to <RelTime at={r.dueAt} />
                    </div>
                  )}
                  {r.reason && <div className="reason">{r.reason}</div>}
                  {r.status !== "exited" && r.lastLines.length > 0 && <pre className="small last-lines">{r.lastLines.slice(-5).join("\n")}</pre>}
                </td>
                <td>{r.durationMs != null ? duration(r.durationMs) : r.status === "running" ? "running…" : "—"}</td>
                <td className="actions">{ranContainer(r) && <Link href={`/apps/${app.name}/logs?run=${r.id}`}>Logs</Link>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function RunNow({ app, job, onStarted }: { app: App; job: CronJob; onStarted: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await post<Run>(appPath(app.id, `/cron/${encodeURIComponent(job.name)}/runs`));
      onStarted();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <button type="button" className="primary" disabled={busy} onClick={run}>
        {busy ? "Starting…" : "Run now"}
      </button>
      <ErrorNote error={error} />
    </div>
  );
}

/** The live release's cron jobs: schedule and zone, command, concurrency, next run, the last
 * result, each job's history with links to a run's logs, and "Run now" (ADR 0026 §4). */
export function Cron({ app }: { app: App }) {
  const { data, error, reload } = usePolled<{ items: CronJob[] }>(appPath(app.id, "/cron"));
  const jobs = data?.items;
  // The histories reload with each new copy of the jobs.
  const [version, setVersion] = useState(0);
  useEffect(() => setVersion((v) => v + 1), [data]);
  if (!jobs) return error ? <ErrorNote error={error} /> : <p className="loading">Loading cron jobs…</p>;
  return (
    <>
      <ErrorNote error={error} />
      {jobs.length === 0 ? (
        <Explain>
          No cron jobs. State them in berth.toml (<code>[[cron]]</code>) or with <code>PUT /api/apps/{app.name}/formation</code>; Berth's scheduler starts each due run as a
          one-off container of the live release, exactly once per due time.
        </Explain>
      ) : (
        <Explain>
          Each run is a one-off container of the live release with its env and limits. A run due while the previous one still runs follows the job's concurrency: forbid skips it,
          allow runs up to 3 at once, replace stops the running one. Due times the scheduler could not start in time are recorded as missed.
        </Explain>
      )}
      {jobs.map((j) => {
        const last = j.lastRun ? runOutcome(j.lastRun) : null;
        return (
          <section className="card" key={j.name} data-job={j.name} aria-label={`Cron job ${j.name}`}>
            <div className="row wrap">
              <h2 className="grow">{j.name}</h2>
              <RunNow app={app} job={j} onStarted={reload} />
            </div>
            <dl className="facts">
              <dt>Schedule</dt>
              <dd className="mono">{scheduleLabel(j.schedule, j.timezone)}</dd>
              <dt>Command</dt>
              <dd className="mono">{commandLine(j.command)}</dd>
              <dt>Concurrency</dt>
              <dd>
                {j.concurrency}
                {j.catchUp && ", catches up one missed run"}, timeout {j.timeoutSeconds % 60 === 0 ? `${j.timeoutSeconds / 60} min` : `${j.timeoutSeconds} s`}
              </dd>
              <dt>Next run</dt>
              <dd data-testid="next-run">
                <RelTime at={j.nextRunAt} />
              </dd>
              <dt>Last result</dt>
              <dd>
                {last && j.lastRun ? (
                  <>
                    <Badge tone={last.tone}>{last.label}</Badge> <RelTime at={j.lastRun.startedAt ?? j.lastRun.createdAt} />
                  </>
                ) : (
                  <span className="muted">not run yet</span>
                )}
              </dd>
            </dl>
            <History app={app} job={j} version={version} />
          </section>
        );
      })}
    </>
  );
}
