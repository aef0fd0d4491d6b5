import { useState, type FormEvent } from "react";
import { post } from "../api";
import { ErrorNote } from "../components/ui";

/** Paste the admin token; the API answers with an HttpOnly session cookie. The token itself is
 * never kept by the page (not in storage, not in the URL). */
export function SignIn({ onSignedIn }: { onSignedIn: (s: { actor: string }) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await post<{ actor: string }>("/api/session", { token: token.trim() });
      setToken("");
      onSignedIn(session);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" className="signin">
      <form onSubmit={submit} className="card" aria-labelledby="signin-title">
        <h1 id="signin-title">⚓ Sign in to Berth</h1>
        <label htmlFor="token">Admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="current-password"
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoFocus
        />
        <p className="explain">
          <code>berth up</code> printed it at first start; it is also in <code>$BERTH_HOME/admin-token</code>. The
          dashboard exchanges it for a session cookie the page's scripts cannot read, and forgets it.
        </p>
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
