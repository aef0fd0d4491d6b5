import { useCallback, useEffect, useState, type FormEvent } from "react";
import { ApiError, appPath, del, get, post, type App, type Domain } from "../../api";
import { Badge, ConfirmButton, ErrorNote, Explain, FieldError, useTick } from "../../components/ui";
import { describeDomain } from "../../domains";
import { exact } from "../../time";

const POLL_MS = 3000;

/** Custom domains: POST/GET/DELETE /api/apps/{id}/domains. Each shows where its DNS must point,
 * whether it was verified and its certificate's state; the list refreshes by itself while a
 * verification or a certificate is still pending. Until the API has domains (404), the
 * generated hostname is shown and attaching is disabled with an explanation. */
export function Domains({ app }: { app: App }) {
  const [items, setItems] = useState<Domain[]>([]);
  const [available, setAvailable] = useState<boolean | null>(null);
  const [hostname, setHostname] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  useTick(); // relative times stay true

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: Domain[] }>(appPath(app.id, "/domains"))).items);
      setAvailable(true);
      setLoadError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setAvailable(false);
      else setLoadError(e);
    }
  }, [app.id]);
  useEffect(() => {
    void load();
  }, [load]);

  const shown = items.map((d) => ({ d, view: describeDomain(d) }));
  const settling = shown.some((x) => x.view.settling);
  useEffect(() => {
    if (!settling) return;
    const t = setInterval(load, POLL_MS);
    return () => clearInterval(t);
  }, [settling, load]);

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
      <ErrorNote error={loadError} />
      {available && shown.length > 0 && (
        <div className="table-wrap">
          <table className="domains">
            <thead>
              <tr>
                <th scope="col">Domain</th>
                <th scope="col">DNS record</th>
                <th scope="col">Verification</th>
                <th scope="col">TLS</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map(({ d, view }) => (
                <tr key={d.id} data-domain={d.hostname}>
                  <td className="mono wrap-any">{d.hostname}</td>
                  <td className="dns">
                    <span className="mono wrap-any">
                      {view.dns.type} {view.dns.name} → {view.dns.target}
                    </span>
                  </td>
                  <td className="verification">
                    <span className={`tone-${view.verification.tone}`} title={d.verifiedAt ? exact(d.verifiedAt) : undefined}>
                      {view.verification.text}
                    </span>
                    {view.verification.checked && <div className="muted small">{view.verification.checked}</div>}
                  </td>
                  <td className="tls">
                    <Badge tone={view.tls.tone} data-tls={view.tls.badge}>
                      TLS {view.tls.badge}
                    </Badge>
                    {view.tls.issuer && <div className="muted small">by {view.tls.issuer}</div>}
                    {view.tls.reason && <p className="reason break">{view.tls.reason}</p>}
                  </td>
                  <td>
                    <ConfirmButton label="Detach" danger title={`Detach ${d.hostname}?`} onConfirm={async () => { await del(appPath(app.id, `/domains/${d.id}`)); await load(); }} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {available && shown.length > 0 && (
        <Explain>
          Point each name's DNS at {app.generatedHostname} with a CNAME record. Berth verifies that it does before asking a public CA (ACME) for a certificate; local names (*.test, *.localhost)
          need no verification and get one from Caddy's internal CA at once.{settling && " This list refreshes by itself while something is pending."}
        </Explain>
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
