import { useCallback, useEffect, useState } from "react";
import { del, get, setUnauthorizedHandler } from "./api";
import { Link, navigate, usePath } from "./router";
import { SignIn } from "./pages/SignIn";
import { AppsList } from "./pages/AppsList";
import { AppPage } from "./pages/AppPage";
import { Tokens } from "./pages/Tokens";

type Session = { actor: string; scope?: string | null } | null | undefined; // undefined: still asking

export function Shell() {
  const path = usePath();
  const [session, setSession] = useState<Session>(undefined);

  const check = useCallback(async () => {
    try {
      const s = await get<{ signedIn: boolean; actor: string | null; scope?: string | null }>("/api/session");
      setSession(s.signedIn && s.actor ? { actor: s.actor, scope: s.scope } : null);
    } catch {
      setSession(null);
    }
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    void check();
  }, [check]);

  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={(s) => setSession(s)} />;

  const signOut = async () => {
    try {
      await del("/api/session");
    } finally {
      setSession(null);
      navigate("/", true);
    }
  };

  const m = path.match(/^\/apps\/([^/]+)(?:\/([a-z]+))?\/?$/);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          ⚓ Berth
        </Link>
        <nav aria-label="Main">
          <Link href="/">Apps</Link>
          {session.scope === "admin" && <Link href="/tokens">Tokens</Link>}
        </nav>
        <span className="spacer" />
        <span className="muted who">
          signed in as {session.actor}
          {session.scope && session.scope !== "admin" ? ` (${session.scope})` : ""}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main">
        {m ? (
          <AppPage name={decodeURIComponent(m[1])} tab={m[2] ?? "overview"} key={m[1]} />
        ) : /^\/tokens\/?$/.test(path) ? (
          <Tokens />
        ) : (
          <AppsList />
        )}
      </main>
    </>
  );
}
