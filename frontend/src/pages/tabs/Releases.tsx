import { appPath, post, type App, type Release } from "../../api";
import { navigate } from "../../router";
import { ConfirmButton, RelTime, StatusBadge } from "../../components/ui";

export function Releases({ app, releases }: { app: App; releases: Release[] }) {
  if (releases.length === 0) return <p className="muted">No releases yet: deploy an image from the overview.</p>;
  return (
    <div className="table-wrap">
      <table className="releases">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Kind</th>
            <th scope="col">Image</th>
            <th scope="col">Status</th>
            <th scope="col">Created</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {releases.map((r) => (
            <tr key={r.id} data-version={r.version}>
              <th scope="row">v{r.version}</th>
              <td>
                {r.kind}
                {r.envChanges && (r.envChanges.set.length > 0 || r.envChanges.unset.length > 0) && (
                  <div className="muted small">
                    env: {[...r.envChanges.set.map((k) => "+" + k), ...r.envChanges.unset.map((k) => "−" + k)].join(" ")}
                  </div>
                )}
              </td>
              <td className="mono small">
                {r.image}
                {r.imageDigest && <div className="muted break">{r.imageDigest}</div>}
                {r.imageAvailable === false && (
                  <div className="reason">image no longer on this host: deploy {r.image} again to run it</div>
                )}
              </td>
              <td>
                <StatusBadge status={r.status} />
                {r.id === app.currentReleaseId && <span className="badge badge-ok">current</span>}
                {r.reason && <div className="reason">{r.reason}</div>}
              </td>
              <td>
                <RelTime at={r.createdAt} />
              </td>
              <td className="actions">
                <button type="button" onClick={() => navigate(`/apps/${app.name}/timeline?release=${r.id}`)}>
                  Timeline
                </button>
                {r.imageDigest && r.id !== app.currentReleaseId && r.status !== "failed" && r.imageAvailable !== false && (
                  <ConfirmButton
                    label="Roll back to this"
                    title={`Roll back to v${r.version} (${r.image})?`}
                    onConfirm={async () => {
                      await post(appPath(app.id, "/rollback"), { releaseId: r.id });
                      navigate(`/apps/${app.name}/timeline`);
                    }}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
