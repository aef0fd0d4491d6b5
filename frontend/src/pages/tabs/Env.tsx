import { useCallback, useEffect, useState } from "react";
import { ApiError, appPath, get, post, type App, type EnvItem } from "../../api";
import { ErrorNote, Explain, RelTime } from "../../components/ui";
import { envRows, type EnvRow } from "../../env";

export function Env({ app }: { app: App }) {
  const [items, setItems] = useState<EnvItem[]>([]);
  const [revealed, setRevealed] = useState<Record<string, string> | null>(null);
  const [rows, setRows] = useState<EnvRow[]>([]);
  const [deploy, setDeploy] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    const data = await get<{ items: EnvItem[] }>(appPath(app.id, "/env"));
    setItems(data.items);
    setRows((current) => envRows(data.items, current));
    setRevealed(null);
  }, [app.id]);

  useEffect(() => {
    load().catch(setError);
  }, [load]);

  const reveal = async () => {
    setError(null);
    try {
      const data = await get<{ items: EnvItem[] }>(appPath(app.id, "/env?reveal=true"));
      setRevealed(Object.fromEntries(data.items.map((i) => [i.key, i.value])));
    } catch (e) {
      setError(e);
    }
  };

  const update = (i: number, patch: Partial<EnvRow>) => setRows((rs) => rs.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const vars: Record<string, string> = {};
  const unset: string[] = [];
  for (const r of rows) {
    if (r.remove && r.existing) unset.push(r.key);
    else if (!r.remove && r.key.trim() && (r.value !== "" || !r.existing)) vars[r.key.trim()] = r.value;
  }
  const changes = Object.keys(vars).length + unset.length;

  const save = async () => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const res = await post<{ changed: { set: string[]; unset: string[] }; release: { version: number } | null }>(
        appPath(app.id, deploy ? "/env" : "/env?deploy=false"),
        { vars, unset },
      );
      const what = [...res.changed.set.map((k) => `set ${k}`), ...res.changed.unset.map((k) => `removed ${k}`)].join(", ") || "nothing changed";
      setNote(res.release ? `${what}; rolling out as release v${res.release.version}` : `${what}; applies at the next release`);
      await load();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const keyError = (key: string) => (error instanceof ApiError ? error.details.find((d) => d.field.endsWith(key))?.message : undefined);

  return (
    <>
      <Explain>
        Values are encrypted at rest (AES-256-GCM) and masked here. Revealing them is recorded in the audit log. Saving sets and removes keys in one change; with a
        release running, it rolls out as a zero-downtime <em>config</em> release.
      </Explain>
      <div className="row">
        <button type="button" onClick={revealed ? () => setRevealed(null) : reveal}>
          {revealed ? "Hide values" : "Reveal values"}
        </button>
      </div>
      <table className="env">
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Value</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="sr-only">Remove</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => {
            const item = items.find((x) => x.key === r.key);
            const problem = keyError(r.key);
            return (
              <tr key={i} className={r.remove ? "removed" : ""} data-key={r.key}>
                <td>
                  {r.existing ? (
                    <span className="mono">{r.key}</span>
                  ) : (
                    <input aria-label="New key" className="mono" value={r.key} onChange={(e) => update(i, { key: e.target.value })} placeholder="KEY" />
                  )}
                  {problem && <span className="field-error">{problem}</span>}
                </td>
                <td>
                  {r.existing && revealed && r.value === "" && <span className="mono value">{revealed[r.key]}</span>}
                  {r.existing && !revealed && r.value === "" && <span className="mono muted value">********</span>}
                  <input
                    aria-label={`Value of ${r.key || "new key"}`}
                    className="mono"
                    type={revealed ? "text" : "password"}
                    autoComplete="off"
                    placeholder={r.existing ? "new value (leave empty to keep)" : "value"}
                    value={r.value}
                    onChange={(e) => update(i, { value: e.target.value })}
                    disabled={r.remove}
                  />
                </td>
                <td>{item ? <RelTime at={item.updatedAt} /> : <span className="muted">new</span>}</td>
                <td>
                  {r.existing ? (
                    <button type="button" aria-pressed={r.remove} onClick={() => update(i, { remove: !r.remove })}>
                      {r.remove ? "Keep" : "Remove"}
                    </button>
                  ) : (
                    <button type="button" onClick={() => setRows((rs) => rs.filter((_, j) => j !== i))}>
                      Discard
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="row">
        <button type="button" onClick={() => setRows((rs) => [...rs, { key: "", value: "", existing: false, remove: false }])}>
          Add variable
        </button>
        <label className="check">
          <input type="checkbox" checked={deploy} onChange={(e) => setDeploy(e.target.checked)} /> roll out now
        </label>
        <button type="button" className="primary" disabled={busy || changes === 0} onClick={save}>
          {busy ? "Saving…" : `Save ${changes} change${changes === 1 ? "" : "s"}`}
        </button>
      </div>
      {note && <p className="note" role="status">{note}</p>}
      <ErrorNote error={error} />
    </>
  );
}
