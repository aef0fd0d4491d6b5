import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, del, get, post, type Token } from "../api";
import { Badge, ConfirmButton, ErrorNote, Explain, FieldError, RelTime } from "../components/ui";
import { EXPIRY_DAYS, SCOPES, SCOPE_HELP, expiryText, tokenReach, tokenRequest, type Scope } from "../tokens";

const SCOPE_TONE: Record<string, string> = { read: "idle", deploy: "busy", admin: "bad" };

/** A token value shown once, with a copy button. */
function ShownOnce({ label, value, children }: { label: string; value: string; children?: ReactNode }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="card" role="status" aria-label={label}>
      <p className="note">{label} — shown this once; store it now.</p>
      <div className="row">
        <code className="break grow" data-testid="token-value">
          {value}
        </code>
        <button type="button" onClick={copy}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
      {children}
    </div>
  );
}

function CreateToken({ onCreated }: { onCreated: (t: Token) => void }) {
  const [name, setName] = useState("");
  const [scope, setScope] = useState<Scope>("read");
  const [apps, setApps] = useState("");
  const [expiresInDays, setExpiresInDays] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const token = await post<Token>("/api/tokens", tokenRequest({ name, scope, apps, expiresInDays }, new Date()));
      setName("");
      setApps("");
      onCreated(token);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="token-title" noValidate>
      <h2 id="token-title">Create a token</h2>
      <div className="fields">
        <div>
          <label htmlFor="token-name">Name</label>
          <input id="token-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-deploy" />
          <FieldError error={error} field="name" />
        </div>
        <div>
          <label htmlFor="token-scope">Scope</label>
          <select id="token-scope" value={scope} onChange={(e) => setScope(e.target.value as Scope)}>
            {SCOPES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
          <span className="muted small">{SCOPE_HELP[scope]}</span>
        </div>
        {scope === "deploy" && (
          <div>
            <label htmlFor="token-apps">Apps (empty: every app)</label>
            <input id="token-apps" value={apps} onChange={(e) => setApps(e.target.value)} placeholder="shop, blog" />
            <FieldError error={error} field="apps" />
            <FieldError error={error} field="apps[0]" />
          </div>
        )}
        <div>
          <label htmlFor="token-expiry">Expires</label>
          <select id="token-expiry" value={expiresInDays} onChange={(e) => setExpiresInDays(Number(e.target.value))}>
            {EXPIRY_DAYS.map((d) => (
              <option key={d} value={d}>
                {d === 0 ? "never" : `in ${d} day${d === 1 ? "" : "s"}`}
              </option>
            ))}
          </select>
          <FieldError error={error} field="expiresAt" />
        </div>
      </div>
      <ErrorNote error={error instanceof ApiError && error.details.length ? null : error} />
      <button type="submit" className="primary" disabled={busy || !name.trim()}>
        {busy ? "Creating…" : "Create token"}
      </button>
    </form>
  );
}

/** Named API tokens (admin only): list, create (value shown once), revoke, rotate the admin token. */
export function Tokens() {
  const [items, setItems] = useState<Token[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [created, setCreated] = useState<Token | null>(null);
  const [rotated, setRotated] = useState<Token | null>(null);
  const [signInError, setSignInError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setItems((await get<{ items: Token[] }>("/api/tokens")).items);
      setLoadError(null);
    } catch (e) {
      setLoadError(e);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);

  // Rotation ends every session, this one too: sign in again with the new value before
  // anything else asks the API (a 401 would show the sign-in page and lose the value).
  const signInAgain = async () => {
    if (!rotated?.token) return;
    setSignInError(null);
    try {
      await post("/api/session", { token: rotated.token });
      setRotated(null);
      await load();
    } catch (e) {
      setSignInError(e);
    }
  };

  if (rotated?.token) {
    return (
      <>
        <h1>Tokens</h1>
        <ShownOnce label="The new admin token" value={rotated.token}>
          <p className="muted small">
            The old admin token no longer works and every dashboard session ended ({rotated.sessionsRevoked ?? 0}), this one
            included. Update <code>$BERTH_HOME/admin-token</code> and your CLI login (<code>berth login</code>) if they held
            the old one.
          </p>
          <ErrorNote error={signInError} />
          <button type="button" className="primary" onClick={signInAgain}>
            Continue signed in with the new token
          </button>
        </ShownOnce>
      </>
    );
  }
  const now = new Date();
  return (
    <>
      <h1>Tokens</h1>
      <Explain>
        API tokens for scripts, CI and people: <strong>read</strong> sees everything but secret values, <strong>deploy</strong> also
        deploys, restarts and rolls back (its listed apps, or all), <strong>admin</strong> may do everything. Only a hash of each
        value is stored; every action in the audit log names its token.
      </Explain>
      <ErrorNote error={loadError} />
      {created?.token && (
        <ShownOnce label={`Token ${created.name}`} value={created.token}>
          <button type="button" onClick={() => setCreated(null)}>
            Done
          </button>
        </ShownOnce>
      )}
      {items && (
        <div className="table-wrap">
          <table className="tokens" aria-label="Tokens">
            <thead>
              <tr>
                <th>Name</th>
                <th>Scope</th>
                <th>May</th>
                <th>Created</th>
                <th>Last used</th>
                <th>Expires</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((t) => (
                <tr key={t.id} data-token={t.name}>
                  <td>
                    <strong>{t.name}</strong>
                    {t.root && <span className="muted small"> (the admin token)</span>}
                  </td>
                  <td>
                    <Badge tone={SCOPE_TONE[t.scope] ?? "idle"}>{t.scope}</Badge>
                  </td>
                  <td>{tokenReach(t)}</td>
                  <td>
                    <RelTime at={t.createdAt} />
                  </td>
                  <td>
                    <RelTime at={t.lastUsedAt} />
                  </td>
                  <td>{expiryText(t, now)}</td>
                  <td>
                    {t.root ? (
                      <ConfirmButton
                        label="Rotate"
                        danger
                        title="Rotate the admin token?"
                        confirmLabel="Rotate it"
                        onConfirm={async () => setRotated(await post<Token>("/api/tokens/rotate"))}
                      >
                        <p>
                          A new admin token is made and shown once. The old one stops working at once, everywhere, and every
                          dashboard session ends — yours too.
                        </p>
                      </ConfirmButton>
                    ) : (
                      <ConfirmButton
                        label="Revoke"
                        danger
                        title={`Revoke the token ${t.name}?`}
                        onConfirm={async () => {
                          await del(`/api/tokens/${t.id}`);
                          await load();
                        }}
                      >
                        <p>It stops working at once, and dashboard sessions signed in with it end.</p>
                      </ConfirmButton>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CreateToken
        onCreated={async (t) => {
          setCreated(t);
          await load();
        }}
      />
    </>
  );
}
