import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, del, get, post, type Webhook } from "../../api";
import { ConfirmButton, ErrorNote, Explain, FieldError, RelTime } from "../../components/ui";

const EVENTS = ["health.unhealthy", "health.recovered", "deploy.failed", "deploy.succeeded", "app.crashed"];

/** Alert subscriptions (platform-wide): /api/webhooks. The signing secret is shown once. */
export function Webhooks() {
  const [items, setItems] = useState<Webhook[] | null>(null);
  const [missing, setMissing] = useState(false);
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["health.unhealthy", "health.recovered"]);
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: Webhook[] }>("/api/webhooks")).items);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setMissing(true);
      else setError(e);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

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
      <Explain>Webhooks are platform-wide: Berth POSTs a JSON alert, signed with HMAC-SHA256 (header X-Berth-Signature), to each URL for the events it subscribed to, retrying failures.</Explain>
      <ErrorNote error={error instanceof ApiError && error.details.length ? null : error} />
      {items && items.length > 0 && (
        <ul className="hooks">
          {items.map((w) => (
            <li key={w.id} className="card">
              <div className="row">
                <span className="mono grow break">{w.url}</span>
                <ConfirmButton label="Delete" danger title={`Delete the webhook to ${w.url}?`} onConfirm={async () => { await del(`/api/webhooks/${w.id}`); await load(); }} />
              </div>
              <div className="muted small">
                {w.events.join(", ")} · created <RelTime at={w.createdAt} />
              </div>
              {w.recentDeliveries.length > 0 && (
                <ul className="small">
                  {w.recentDeliveries.map((d) => (
                    <li key={d.id}>
                      {d.event}: {d.status} after {d.attempts} attempt(s), <RelTime at={d.createdAt} />
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
        <label htmlFor="hook-url">URL</label>
        <input id="hook-url" type="url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://example.com/berth" />
        <FieldError error={error} field="url" />
        <fieldset>
          <legend>Events</legend>
          {EVENTS.map((ev) => (
            <label key={ev} className="check">
              <input type="checkbox" checked={events.includes(ev)} onChange={(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))} /> {ev}
            </label>
          ))}
        </fieldset>
        <FieldError error={error} field="events" />
        <button type="submit" className="primary">
          Add webhook
        </button>
      </form>
    </>
  );
}
