import { useCallback, useEffect, useState } from "react";
import { del, get, setUnauthorizedHandler } from "./api";
import { Link, navigate, usePath } from "./router";
import { SignIn } from "./pages/SignIn";
import { AppsList } from "./pages/AppsList";
import { AppPage } from "./pages/AppPage";

type Session = { actor: string } | null | undefined; // undefined: still asking

export function Shell() {
  const path = usePath();
  const [session, setSession] = useState<Session>(undefined);

  const check = useCallback(async () => {
    try {
      const s = await get<{ signedIn: boolean; actor: string | null }>("/api/session");
      setSession(s.signedIn && s.actor ? { actor: s.actor } : null);
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
        </nav>
        <span className="spacer" />
        <span className="muted who">signed in as {session.actor}</span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main">
        {m ? <AppPage name={decodeURIComponent(m[1])} tab={m[2] ?? "overview"} key={m[1]} /> : <AppsList />}
      </main>
    </>
  );
}
