import { useState } from "react";
import { appPath, post, type App, type Release } from "../../api";
import { navigate } from "../../router";
import { ConfirmButton, Explain, RelTime, StatusBadge } from "../../components/ui";

export function Overview({ app, releases }: { app: App; releases: Release[] }) {
  const [image, setImage] = useState(app.image ?? "");
  const [hard, setHard] = useState(false);
  const current = releases.find((r) => r.id === app.currentReleaseId);
  const inFlight = releases.find((r) => r.status === "pending" || r.status === "starting");
  const canRollback = releases.some((r) => r.id !== app.currentReleaseId && r.imageDigest && r.status === "superseded");
  return (
    <div className="grid">
      <div className="card">
        <h2>Status</h2>
        <dl className="facts">
          <dt>Status</dt>
          <dd>
            <StatusBadge status={app.status} /> {app.statusReason && <span className="muted">{app.statusReason}</span>}
          </dd>
          <dt>Release</dt>
          <dd>{current ? `v${current.version} (${current.kind}), live since ` : "none live yet"}{current && <RelTime at={current.liveAt} />}</dd>
          {inFlight && (
            <>
              <dt>In flight</dt>
              <dd>
                v{inFlight.version} <StatusBadge status={inFlight.status} />{" "}
                <a href={`/apps/${app.name}/timeline`} onClick={(e) => { e.preventDefault(); navigate(`/apps/${app.name}/timeline`); }}>
                  watch the timeline
                </a>
              </dd>
            </>
          )}
          <dt>Image</dt>
          <dd className="mono">{app.image ?? "—"}</dd>
          <dt>Digest</dt>
          <dd className="mono small break">{app.imageDigest ?? "—"}</dd>
          <dt>Resources</dt>
          <dd>
            {app.resources.memoryMb} MB memory, {app.resources.cpus} CPU, port {app.port}
          </dd>
          <dt>Hostname</dt>
          <dd>
            <a href={app.url} target="_blank" rel="noreferrer" data-testid="app-link">
              {app.generatedHostname}
            </a>
          </dd>
          <dt>Last deploy</dt>
          <dd>
            <RelTime at={app.lastDeployedAt} />
          </dd>
        </dl>
      </div>
      <div className="card">
        <h2>Actions</h2>
        <label htmlFor="deploy-image">Image to deploy</label>
        <div className="row">
          <input id="deploy-image" className="mono grow" value={image} onChange={(e) => setImage(e.target.value)} placeholder="hello:v1" />
          <ConfirmButton
            label="Deploy"
            title={`Deploy ${image || "an image"} to ${app.name}?`}
            disabled={!image.trim()}
            onConfirm={async () => {
              await post(appPath(app.id, "/deploy"), { image: image.trim() });
              navigate(`/apps/${app.name}/timeline`);
            }}
          >
            <Explain>The new release starts in the free slot while the current one keeps serving; traffic moves only once it answers.</Explain>
          </ConfirmButton>
        </div>
        <div className="row">
          <ConfirmButton
            label="Restart"
            title={`Restart ${app.name}?`}
            disabled={!app.currentReleaseId}
            onConfirm={() => post(appPath(app.id, hard ? "/restart?hard=true" : "/restart"))}
          >
            <Explain>
              A normal restart is a zero-downtime flip to a fresh container of the live release. A hard restart restarts the live container in place (a short outage).
            </Explain>
            <label className="check">
              <input type="checkbox" checked={hard} onChange={(e) => setHard(e.target.checked)} /> hard restart (in place)
            </label>
          </ConfirmButton>
          <ConfirmButton
            label="Roll back"
            title={`Roll ${app.name} back to the previous image?`}
            disabled={!canRollback}
            danger
            onConfirm={async () => {
              await post(appPath(app.id, "/rollback"), {});
              navigate(`/apps/${app.name}/timeline`);
            }}
          >
            <Explain>Deploys the last live release with a different image again, by its digest, as a new “rollback” release.</Explain>
          </ConfirmButton>
        </div>
      </div>
    </div>
  );
}
