import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, appPath, get, put, type App, type CheckResult, type HealthReport } from "../../api";
import { ErrorNote, Explain, FieldError, RelTime, StatusBadge } from "../../components/ui";
import { clock, exact } from "../../time";

const W = 640;
const H = 180;
const PAD = 28;
const LEFT = 44; // room for the latency labels

/** Latency over time (a line) with each check's outcome (green/red dots). */
export function HealthChart({ items }: { items: CheckResult[] }) {
  const points = [...items].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  if (points.length === 0) return <p className="muted">No checks yet.</p>;
  const t0 = Date.parse(points[0].timestamp);
  const t1 = Math.max(t0 + 1000, Date.parse(points[points.length - 1].timestamp));
  const maxLatency = Math.max(10, ...points.map((p) => p.latencyMs ?? 0));
  const x = (t: string) => LEFT + ((Date.parse(t) - t0) / (t1 - t0)) * (W - LEFT - PAD);
  const y = (ms: number | null) => H - PAD - ((ms ?? 0) / maxLatency) * (H - 2 * PAD);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.timestamp).toFixed(1)},${y(p.latencyMs).toFixed(1)}`).join(" ");
  const failed = points.filter((p) => !p.ok).length;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Latency of the last ${points.length} checks, ${failed} failed; highest ${Math.round(maxLatency)} ms`}>
        <line x1={LEFT} y1={H - PAD} x2={W - PAD} y2={H - PAD} className="axis" />
        <line x1={LEFT} y1={PAD} x2={LEFT} y2={H - PAD} className="axis" />
        <text x={LEFT - 4} y={PAD + 4} textAnchor="end" className="tick">
          {Math.round(maxLatency)} ms
        </text>
        <text x={LEFT - 4} y={H - PAD} textAnchor="end" className="tick">
          0
        </text>
        <text x={LEFT} y={H - 8} className="tick">
          {clock(points[0].timestamp).slice(0, 8)}
        </text>
        <text x={W - PAD} y={H - 8} textAnchor="end" className="tick">
          {clock(points[points.length - 1].timestamp).slice(0, 8)}
        </text>
        <path d={path} className="latency" />
        {points.map((p) => (
          <circle key={p.id} cx={x(p.timestamp)} cy={y(p.latencyMs)} r={3} className={p.ok ? "dot-ok" : "dot-bad"}>
            <title>
              {exact(p.timestamp)}: {p.ok ? "passed" : "failed"} {p.statusCode ?? p.error ?? ""} in {p.latencyMs ?? "?"} ms
            </title>
          </circle>
        ))}
      </svg>
      <figcaption className="muted small">Latency (ms) of each check; red dots failed.</figcaption>
    </figure>
  );
}

function pct(v: number | null | undefined): string {
  return v == null ? "—" : `${(v * 100).toFixed(v === 1 ? 0 : 2)}%`;
}

export function Health({ app }: { app: App }) {
  const [report, setReport] = useState<HealthReport | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [form, setForm] = useState({ path: "/", intervalSeconds: "10", timeoutSeconds: "5", unhealthyThreshold: "3", expectedStatus: "" });
  const [formError, setFormError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const load = useCallback(async () => {
    try {
      setReport(await get<HealthReport>(appPath(app.id, "/health?limit=200")));
      setMissing(false);
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setMissing(true);
      else setError(e);
    }
  }, [app.id]);

  useEffect(() => {
    void load();
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, [load]);

  useEffect(() => {
    const c = app.healthCheck;
    if (c)
      setForm({
        path: c.path,
        intervalSeconds: String(c.intervalSeconds),
        timeoutSeconds: String(c.timeoutSeconds),
        unhealthyThreshold: String(c.unhealthyThreshold),
        expectedStatus: c.expectedStatus == null ? "" : String(c.expectedStatus),
      });
  }, [app.healthCheck]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFormError(null);
    setSaved(false);
    const expected = form.expectedStatus.trim();
    try {
      await put(appPath(app.id, "/health"), {
        path: form.path,
        intervalSeconds: Number(form.intervalSeconds),
        timeoutSeconds: Number(form.timeoutSeconds),
        unhealthyThreshold: Number(form.unhealthyThreshold),
        expectedStatus: expected === "" ? null : /^\d+$/.test(expected) ? Number(expected) : expected,
      });
      setSaved(true);
      void load();
    } catch (err) {
      setFormError(err);
    }
  };

  if (missing) return <Explain>Health checks are not available on this Berth yet.</Explain>;
  const field = (name: keyof typeof form, label: string) => (
    <div>
      <label htmlFor={`hc-${name}`}>{label}</label>
      <input id={`hc-${name}`} value={form[name]} onChange={(e) => setForm({ ...form, [name]: e.target.value })} />
      <FieldError error={formError} field={name} />
    </div>
  );
  return (
    <>
      <ErrorNote error={error} />
      {report && (
        <div className="grid">
          <div className="card">
            <h2>
              Now <StatusBadge status={report.state} />
            </h2>
            {report.reason && <p className="reason">{report.reason}</p>}
            <dl className="facts">
              <dt>Checking</dt>
              <dd>
                {report.livenessOnly
                  ? "no check configured: Berth checks that the app answers GET / on its port (a 2xx or 3xx status) every 10 s, as the deploy gate does; set a path below for your own check"
                  : `GET ${report.config?.path} every ${report.config?.intervalSeconds} s`}
              </dd>
              <dt>Since</dt>
              <dd>
                <RelTime at={report.since} />
              </dd>
              <dt>Last check</dt>
              <dd>
                {report.lastCheck ? (
                  <>
                    {report.lastCheck.ok ? "passed" : "failed"} ({report.lastCheck.statusCode ?? report.lastCheck.error}) in {report.lastCheck.latencyMs} ms, <RelTime at={report.lastCheck.timestamp} />
                  </>
                ) : (
                  "none yet"
                )}
              </dd>
              <dt>Automatic restarts</dt>
              <dd>{report.automaticRestarts}</dd>
            </dl>
            <div className="uptime">
              {(["1h", "24h", "7d"] as const).map((k) => (
                <div key={k}>
                  <div className="big">{pct(report.uptime[k])}</div>
                  <div className="muted small">uptime {k}</div>
                </div>
              ))}
            </div>
          </div>
          <div className="card">
            <h2>Latency and status</h2>
            <HealthChart items={report.history.items} />
          </div>
        </div>
      )}
      <form className="card" onSubmit={submit} aria-labelledby="hc-title" noValidate>
        <h2 id="hc-title">Health check</h2>
        <Explain>
          The health service requests this path on the live container at each interval. After the given number of failures in a row the app is marked unhealthy (and, after a
          while, restarted); one success marks it healthy again. The same path gates deploys: traffic moves only once it answers.
        </Explain>
        <div className="fields">
          {field("path", "Path")}
          {field("intervalSeconds", "Interval (s)")}
          {field("timeoutSeconds", "Timeout (s)")}
          {field("unhealthyThreshold", "Failures before unhealthy")}
          {field("expectedStatus", "Expected status (empty: 2xx/3xx)")}
        </div>
        <ErrorNote error={formError instanceof ApiError && formError.details.length ? null : formError} />
        {saved && <p role="status" className="note">Saved.</p>}
        <button type="submit" className="primary">
          Save health check
        </button>
      </form>
    </>
  );
}
