import { useEffect, useState } from "react";
import { ApiError, appPath, get, type App } from "../api";
import { Link } from "../router";
import { useAppStream } from "../stream";
import { ErrorNote, StatusBadge } from "../components/ui";
import { Overview } from "./tabs/Overview";
import { Releases } from "./tabs/Releases";
import { Timeline } from "./tabs/Timeline";
import { Env } from "./tabs/Env";
import { Logs } from "./tabs/Logs";
import { Health } from "./tabs/Health";
import { Domains } from "./tabs/Domains";
import { Webhooks } from "./tabs/Webhooks";
import { Processes } from "./tabs/Processes";
import { Cron } from "./tabs/Cron";

const TABS: [string, string][] = [
  ["overview", "Overview"],
  ["timeline", "Internals"],
  ["releases", "Releases"],
  ["processes", "Processes"],
  ["cron", "Cron"],
  ["env", "Env vars"],
  ["logs", "Logs"],
  ["health", "Health"],
  ["domains", "Domains"],
  ["webhooks", "Webhooks"],
];

export function AppPage({ name, tab }: { name: string; tab: string }) {
  const [appId, setAppId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<App>(appPath(name))
      .then((a) => setAppId(a.id))
      .catch(setError);
  }, [name]);
  const live = useAppStream(appId);
  if (error) {
    return (
      <>
        <h1>{name}</h1>
        {error instanceof ApiError && error.status === 404 ? <p>No app named {name}.</p> : <ErrorNote error={error} />}
        <Link href="/">Back to apps</Link>
      </>
    );
  }
  const app = live.app;
  if (!app) return <p className="loading">Loading {name}…</p>;
  const base = `/apps/${app.name}`;
  return (
    <>
      <div className="app-head">
        <h1>{app.name}</h1>
        <StatusBadge status={app.status} />
        <span className={live.connected ? "live-dot on" : "live-dot"} title={live.connected ? "live updates connected" : "reconnecting…"}>
          {live.connected ? "live" : "reconnecting"}
        </span>
      </div>
      {live.gone && <p className="error">This app was deleted.</p>}
      <nav className="tabs" aria-label="App sections">
        {TABS.map(([id, label]) => (
          <Link key={id} href={id === "overview" ? base : `${base}/${id}`} aria-current={tab === id ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      <section className="tab-body" aria-label={TABS.find(([id]) => id === tab)?.[1] ?? "Overview"}>
        {tab === "overview" && <Overview app={app} releases={live.releases} />}
        {tab === "timeline" && <Timeline app={app} releases={live.releases} steps={live.steps} history={live.history} />}
        {tab === "releases" && <Releases app={app} releases={live.releases} />}
        {tab === "processes" && <Processes app={app} history={live.history} />}
        {tab === "cron" && <Cron app={app} />}
        {tab === "env" && <Env app={app} />}
        {tab === "logs" && <Logs app={app} releases={live.releases} />}
        {tab === "health" && <Health app={app} />}
        {tab === "domains" && <Domains app={app} />}
        {tab === "webhooks" && <Webhooks app={app} />}
      </section>
    </>
  );
}
