import { useEffect, useState, type FormEvent } from "react";
import { ApiError, appPath, patch, type App, type HistoryEntry, type ProcessInfo } from "../../api";
import { usePolled } from "../../poll";
import { Badge, ErrorNote, Explain, FieldError, RelTime, StatusBadge } from "../../components/ui";
import { commandLine, heldInstances, instancesOf, type Instance } from "../../processes";

const INSTANCE_TONE: Record<string, string> = { running: "ok", waiting: "busy", stopped: "idle", exited: "bad", oom_killed: "bad" };
const INSTANCE_LABEL: Record<string, string> = { oom_killed: "OOM-killed", waiting: "starting" };

function InstanceRows({ instances }: { instances: Instance[] }) {
  if (instances.length === 0) return <p className="muted small">No instances (count 0).</p>;
  return (
    <div className="table-wrap">
      <table className="instances">
        <thead>
          <tr>
            <th scope="col">Instance</th>
            <th scope="col">State</th>
            <th scope="col">Address / slot</th>
            <th scope="col">Restarts</th>
            <th scope="col">Last exit</th>
          </tr>
        </thead>
        <tbody>
          {instances.map((i) => (
            <tr key={`${i.index}-${i.containerId}`} data-instance={i.index} data-state={i.state} data-live={String(i.live)}>
              <th scope="row">
              #{i.index}
              {!i.live && <div className="muted small">old release, stopping</div>}
            </th>
              <td>
                <Badge tone={INSTANCE_TONE[i.state] ?? "idle"}>{INSTANCE_LABEL[i.state] ?? i.state}</Badge>{" "}
                {i.since && <RelTime at={i.since} />}
              </td>
              <td className="mono small">
                <span data-testid="instance-address">{i.address ?? "—"}</span>
                {i.slot && ` · slot ${i.slot}`}
                {i.containerId && <div className="muted">{i.containerId}</div>}
              </td>
              <td>{i.restarts}</td>
              <td>
                {i.lastOomAt && (
                  <div className="reason">
                    out of memory <RelTime at={i.lastOomAt} />
                  </div>
                )}
                {i.lastExitAt ? (
                  <>
                    code {i.lastExitCode ?? "?"}, <RelTime at={i.lastExitAt} />
                  </>
                ) : (
                  !i.lastOomAt && <span className="muted">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The count control: a number and "Scale"; 0 (stopping every instance) asks first. */
function ScaleForm({ app, process, onScaled }: { app: App; process: ProcessInfo; onScaled: () => Promise<void> }) {
  const [count, setCount] = useState(String(process.count));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [confirmZero, setConfirmZero] = useState(false);
  useEffect(() => setCount(String(process.count)), [process.count]);
  const send = async () => {
    setBusy(true);
    setError(null);
    try {
      await patch<{ items: ProcessInfo[] }>(appPath(app.id, `/processes/${encodeURIComponent(process.name)}`), { count: Number(count) });
      setConfirmZero(false);
      await onScaled(); // the listing again, with the agent's instances
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (count.trim() === "0" && process.count !== 0 && !confirmZero) setConfirmZero(true);
    else void send();
  };
  const id = `scale-${process.name}`;
  return (
    <form className="row wrap" onSubmit={submit} noValidate>
      <label htmlFor={id}>Instances of {process.name}</label>
      <input id={id} type="number" min={0} max={10} value={count} onChange={(e) => { setCount(e.target.value); setConfirmZero(false); }} className="narrow" />
      <button type="submit" className={confirmZero ? "danger" : "primary"} disabled={busy || count === String(process.count)}>
        {busy ? "Scaling…" : confirmZero ? `Stop every ${process.name} instance` : "Scale"}
      </button>
      {confirmZero && (
        <>
          <span className="reason" role="alert">
            Count 0 stops every {process.name} instance{process.routed ? ": the app's site answers 503 until you scale it up again" : ""}. Click again to confirm.
          </span>
          <button type="button" onClick={() => { setConfirmZero(false); setCount(String(process.count)); }}>
            Cancel
          </button>
        </>
      )}
      <FieldError error={error} field="count" />
      <ErrorNote error={error instanceof ApiError && error.field("count") ? null : error} />
    </form>
  );
}

/** Each process type of the live release: command, count (scalable here, without a release),
 * limits, and its instances from the app's live history (ADR 0026). */
export function Processes({ app, history }: { app: App; history: HistoryEntry[] }) {
  const { data, error, reload } = usePolled<{ items: ProcessInfo[] }>(appPath(app.id, "/processes?instances=true"));
  const items = data?.items;
  if (!items) return error ? <ErrorNote error={error} /> : <p className="loading">Loading processes…</p>;
  return (
    <>
      <ErrorNote error={error} />
      <Explain>
        Every process runs the live release's image with its env and the app's locked-down container settings. <strong>web</strong> is routed: the proxy balances across its
        instances; the others (workers) get no traffic. Scaling starts or stops instances of the live release without a new release; the next release keeps the count.
      </Explain>
      {!app.currentReleaseId && <p className="muted">Nothing runs until the first deploy goes live.</p>}
      {items.map((p) => (
        <section className="card" key={p.name} data-process={p.name} aria-label={`Process ${p.name}`}>
          <h2>
            {p.name} {p.routed && <Badge tone="ok">routed</Badge>} {p.scaled && <Badge tone="idle">scaled</Badge>} {p.crashed && <StatusBadge status="crashed" />}
          </h2>
          {p.crashed && <p className="reason">{p.crashed}</p>}
          <dl className="facts">
            <dt>Command</dt>
            <dd className="mono">{p.command?.length ? commandLine(p.command) : <span className="muted">the image's CMD</span>}</dd>
            <dt>Count</dt>
            <dd data-testid="process-count">{p.count}</dd>
            <dt>Limits</dt>
            <dd>
              {p.resources.memoryMb} MB memory, {p.resources.cpus} CPU each
            </dd>
          </dl>
          <ScaleForm app={app} process={p} onScaled={reload} />
          {p.instances === null && <p className="muted small">The runtime agent is not answering: instances as recent events left them.</p>}
          <InstanceRows instances={p.instances ? heldInstances(p.instances, history, p.count) : instancesOf(history, app.currentReleaseId, p.name, p.count)} />
        </section>
      ))}
    </>
  );
}
