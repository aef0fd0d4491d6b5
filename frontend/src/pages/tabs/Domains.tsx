import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, appPath, del, get, post, type App, type Domain } from "../../api";
import { ConfirmButton, ErrorNote, Explain, FieldError, RelTime } from "../../components/ui";

/** Custom domains: POST/GET/DELETE /api/apps/{id}/domains. Until the API has them (404), the
 * generated hostname is shown and attaching is disabled with an explanation. */
export function Domains({ app }: { app: App }) {
  const [items, setItems] = useState<Domain[]>([]);
  const [available, setAvailable] = useState<boolean | null>(null);
  const [hostname, setHostname] = useState("");
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: Domain[] }>(appPath(app.id, "/domains"))).items);
      setAvailable(true);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setAvailable(false);
      else setError(e);
    }
  }, [app.id]);
  useEffect(() => {
    void load();
  }, [load]);

  const attach = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await post(appPath(app.id, "/domains"), { hostname: hostname.trim() });
      setHostname("");
      await load();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <div className="card">
        <h2>Generated hostname</h2>
        <p>
          <a href={app.url} target="_blank" rel="noreferrer">
            {app.generatedHostname}
          </a>
        </p>
        <Explain>Every app gets &lt;name&gt;.&lt;BERTH_DOMAIN&gt;. The proxy (Caddy) routes it to whichever of the app's two slots is healthy.</Explain>
      </div>
      {available && items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Domain</th>
              <th scope="col">Verified</th>
              <th scope="col">TLS</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((d) => (
              <tr key={d.id}>
                <td className="mono">{d.hostname}</td>
                <td>{d.verifiedAt ? <RelTime at={d.verifiedAt} /> : <span className="muted">not yet — point its DNS at {d.proxyTarget}</span>}</td>
                <td>{d.tlsStatus}</td>
                <td>
                  <ConfirmButton label="Detach" danger title={`Detach ${d.hostname}?`} onConfirm={async () => { await del(appPath(app.id, `/domains/${d.id}`)); await load(); }} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="card" onSubmit={attach} aria-labelledby="domain-title">
        <h2 id="domain-title">Attach a domain</h2>
        {available === false && <Explain>Custom domains (with automatic TLS) are coming in a later Berth release; this Berth's API does not offer them yet.</Explain>}
        <label htmlFor="domain-host">Hostname</label>
        <div className="row">
          <input id="domain-host" className="grow" value={hostname} placeholder="www.example.com" onChange={(e) => setHostname(e.target.value)} disabled={available !== true} />
          <button type="submit" className="primary" disabled={available !== true || !hostname.trim()}>
            Attach domain
          </button>
        </div>
        <FieldError error={error} field="hostname" />
        <ErrorNote error={error instanceof ApiError && error.details.length ? null : error} />
      </form>
    </>
  );
}
