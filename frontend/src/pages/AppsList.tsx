import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, appPath, get, post, type App, type HealthReport } from "../api";
import { hostnameOf } from "../hostname";
import { Link, navigate } from "../router";
import { ErrorNote, Explain, FieldError, RelTime, StatusBadge } from "../components/ui";

/** A rollback runs an image by its digest: show the first 12 hex digits of it. */
function shortImage(image: string): string {
  return image.replace(/(sha256:[0-9a-f]{12})[0-9a-f]{52}/, "$1…");
}

function HealthGlance({ app }: { app: App }) {
  const [report, setReport] = useState<HealthReport | null | "none">(null);
  useEffect(() => {
    let alive = true;
    const load = () =>
      get<HealthReport>(appPath(app.id, "/health?limit=1"))
        .then((r) => alive && setReport(r))
        .catch(() => alive && setReport("none"));
    void load();
    const t = setInterval(load, 10_000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [app.id, app.status]);
  if (report === null) return <span className="muted">…</span>;
  if (report === "none") return <span className="muted">—</span>;
  const up = report.uptime?.["24h"];
  return (
    <span title={report.reason ?? (report.livenessOnly ? "no check configured: GET / on its port every 10 s" : `checks ${report.config?.path}`)}>
      <StatusBadge status={report.state} />
      {up != null && <span className="muted small"> {(up * 100).toFixed(up === 1 ? 0 : 2)}% 24h</span>}
    </span>
  );
}

/** The platform's BERTH_DOMAIN, from the session (null until known). */
function usePlatformDomain(): string | null {
  const [domain, setDomain] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    get<{ domain?: string | null }>("/api/session")
      .then((s) => alive && setDomain(s.domain ?? null))
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, []);
  return domain;
}

function CreateApp({ onCreated }: { onCreated: (app: App) => void }) {
  const [name, setName] = useState("");
  const [port, setPort] = useState("8080");
  const [memory, setMemory] = useState("256");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const domain = usePlatformDomain();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const app = await post<App>("/api/apps", {
        name: name.trim(),
        port: Number(port),
        resources: { memoryMb: Number(memory), cpus: 0.5 },
      });
      setName("");
      onCreated(app);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const fieldNamed = error instanceof ApiError && error.details.length > 0;
  return (
    <form className="card create" onSubmit={submit} aria-labelledby="create-title" noValidate>
      <h2 id="create-title">Create an app</h2>
      <div className="fields">
        <div>
          <label htmlFor="app-name">Name</label>
          <input id="app-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="hello" aria-describedby="app-name-help" />
          <FieldError error={error} field="name" />
          <small id="app-name-help" className="muted">
            becomes the hostname: {hostnameOf(name.trim(), domain)}
          </small>
        </div>
        <div>
          <label htmlFor="app-port">Port</label>
          <input id="app-port" inputMode="numeric" value={port} onChange={(e) => setPort(e.target.value)} />
          <FieldError error={error} field="port" />
        </div>
        <div>
          <label htmlFor="app-memory">Memory (MB)</label>
          <input id="app-memory" inputMode="numeric" value={memory} onChange={(e) => setMemory(e.target.value)} />
          <FieldError error={error} field="resources.memoryMb" />
        </div>
      </div>
      {!fieldNamed && <ErrorNote error={error} />}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create app"}
      </button>
    </form>
  );
}

export function AppsList() {
  const [apps, setApps] = useState<App[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      setApps((await get<{ items: App[] }>("/api/apps")).items);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => {
    void load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [load]);
  return (
    <>
      <h1>Apps</h1>
      <ErrorNote error={error} />
      {apps && apps.length === 0 && (
        <Explain>No apps yet. Create one below, then deploy a Docker image to it: Berth starts it in a locked-down container, checks it answers and routes its hostname to it.</Explain>
      )}
      {apps && apps.length > 0 && (
        <div className="table-wrap">
          <table className="apps">
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Status</th>
                <th scope="col">Hostname</th>
                <th scope="col">Image</th>
                <th scope="col">Last deploy</th>
                <th scope="col">Health</th>
              </tr>
            </thead>
            <tbody>
              {apps.map((app) => (
                <tr key={app.id} data-app={app.name}>
                  <th scope="row">
                    <Link href={`/apps/${app.name}`}>{app.name}</Link>
                  </th>
                  <td>
                    <StatusBadge status={app.status} />
                  </td>
                  <td>
                    <a href={app.url} target="_blank" rel="noreferrer">
                      {app.generatedHostname}
                    </a>
                  </td>
                  <td className="mono" title={app.imageDigest ?? undefined}>
                    {app.image ? shortImage(app.image) : <span className="muted">none yet</span>}
                  </td>
                  <td>
                    <RelTime at={app.lastDeployedAt} />
                  </td>
                  <td>
                    <HealthGlance app={app} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CreateApp
        onCreated={(app) => {
          void load();
          navigate(`/apps/${app.name}`);
        }}
      />
    </>
  );
}
