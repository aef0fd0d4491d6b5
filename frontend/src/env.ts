import type { EnvItem } from "./api";

// The env tab's editable rows: the stored keys (values masked, "" = keep) and the new keys the
// user is adding.

export interface EnvRow {
  key: string;
  value: string; // the new value ("" = unchanged for an existing key)
  existing: boolean;
  remove: boolean;
}

/** Rows after the stored keys (re)load: one per stored key, then the new keys the user had
 * started that are not stored yet — a row added before the first load answered, or one a save
 * did not store, is kept; one the save stored is now an existing key. */
export function envRows(items: EnvItem[], current: EnvRow[]): EnvRow[] {
  const stored = new Set(items.map((i) => i.key));
  const drafts = current.filter((r) => !r.existing && !stored.has(r.key.trim()));
  return [...items.map((i) => ({ key: i.key, value: "", existing: true, remove: false })), ...drafts];
}
