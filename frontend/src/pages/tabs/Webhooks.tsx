import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, del, get, post, type App, type Webhook } from "../../api";
import { Badge, ConfirmButton, ErrorNote, Explain, FieldError, RelTime } from "../../components/ui";
import { deliveryOutcome } from "../../alerts";

const EVENTS = ["health.unhealthy", "health.recovered", "deploy.failed", "deploy.succeeded", "app.crashed"];
const POLL_MS = 3000;
const DELIVERY_TONE: Record<string, string> = { delivered: "ok", pending: "busy", failed: "bad" };

/** Alert subscriptions (platform-wide): /api/webhooks. The signing secret is shown once. The
 * list, with each webhook's recent deliveries, refreshes by itself while the tab is open. */
export function Webhooks({ app }: { app: App }) {
  const [items, setItems] = useState<Webhook[] | null>(null);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const [missing, setMissing] = useState(false);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["health.unhealthy", "health.recovered"]);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadError, setLoadError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: Webhook[] }>("/api/webhooks?deliveries=10")).items);
      setLoadError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setMissing(true);
      else setLoadError(e);
    }
  }, []);
  useEffect(() => {
    void load();
    const t = setInterval(load, POLL_MS);
    return () => clearInterval(t);
  }, [load]);
  // Deliveries name apps by id: show their names.
  const appIds = (items ?? []).flatMap((w) => w.recentDeliveries.map((d) => d.appId)).filter((id) => !names.has(id));
  const unknownApps = [...new Set(appIds)].sort().join(",");
  useEffect(() => {
    if (!unknownApps) return;
    get<{ items: App[] }>("/api/apps")
      .then((r) => setNames(new Map(r.items.map((a) => [a.id, a.name]))))
      .catch(() => {});
  }, [unknownApps]);
  const appName = (id: string) => (id === app.id ? `${app.name} (this app)` : (names.get(id) ?? `a deleted app (${id.slice(0, 8)})`));

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const hook = await post<Webhook>("/api/webhooks", { url: url.trim(), events });
      setSecret(hook.secret ?? null);
      setUrl("");
      await load();
    } catch (err) {
      setError(err);
    }
  };

  if (missing) return <Explain>Webhooks are not available on this Berth yet.</Explain>;
  return (
    <>
      <Explain>Webhooks are platform-wide: Berth POSTs a JSON alert, signed with HMAC-SHA256 (header X-Berth-Signature), to each URL for the events it subscribed to, retrying failures (6 attempts, backing off from 2 s).</Explain>
      <ErrorNote error={loadError} />
      {items && items.length === 0 && <p className="muted">No webhooks yet.</p>}
      {items && items.length > 0 && (
        <ul className="hooks" aria-label="Webhooks">
          {items.map((w) => (
            <li key={w.id} className="card" data-url={w.url}>
              <div className="row">
                <span className="mono grow break">{w.url}</span>
                <ConfirmButton
                  label="Delete"
                  danger
                  title={`Delete the webhook to ${w.url}?`}
                  onConfirm={async () => {
                    await del(`/api/webhooks/${w.id}`);
                    await load();
                  }}
                />
              </div>
              <div className="muted small">
                {w.events.join(", ")} · created <RelTime at={w.createdAt} />
              </div>
              {w.recentDeliveries.length === 0 ? (
                <p className="muted small">No deliveries yet: one is sent when a subscribed event happens to any app.</p>
              ) : (
                <ul className="deliveries small" aria-label={`Recent deliveries to ${w.url}`}>
                  {w.recentDeliveries.map((d) => (
                    <li key={d.id} data-event={d.event} data-status={d.status}>
                      <Badge tone={DELIVERY_TONE[d.status] ?? "idle"}>{d.status}</Badge>
                      <strong>{d.event}</strong>
                      <span>{appName(d.appId)}</span>
                      <span className="muted">{deliveryOutcome(d)}</span>
                      <RelTime at={d.deliveredAt ?? d.createdAt} />
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
      {secret && (
        <p className="note" role="status">
          Signing secret (shown once): <code className="break">{secret}</code>
        </p>
      )}
      <form className="card" onSubmit={create} aria-labelledby="hook-title" noValidate>
        <h2 id="hook-title">Add a webhook</h2>
        <div className="fields">
          <div>
            <label htmlFor="hook-url">URL</label>
            <input id="hook-url" type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/berth" />
            <FieldError error={error} field="url" />
          </div>
        </div>
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((ev) => (
            <label key={ev} className="check">
              <input type="checkbox" checked={events.includes(ev)} onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))} /> {ev}
            </label>
          ))}
        </fieldset>
        <FieldError error={error} field="events" />
        <ErrorNote error={error instanceof ApiError && error.details.length ? null : error} />
        <button type="submit" className="primary">
          Add webhook
        </button>
      </form>
    </>
  );
}
