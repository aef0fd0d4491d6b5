import type { HistoryEntry } from "./api";

/** What the Processes tab shows for one instance of a process type. */
export interface Instance {
  index: number;
  /** Its address on the app's network (from the agent; null when only the history is known). */
  address: string | null;
  /** Of the live release (false: an old release's instance, still draining). */
  live: boolean;
  /** running | exited | oom_killed | stopped (an expected stop) | waiting (no container yet) */
  state: string;
  slot: string | null;
  containerId: string | null;
  /** Starts after the first one: the agent's restarts after a death. */
  restarts: number;
  lastExitCode: number | null;
  lastExitAt: string | null;
  lastOomAt: string | null;
  since: string | null;
}

/** A process's container as the agent holds it (GET …/processes?instances=true). */
export interface HeldInstance {
  index: number;
  running: boolean;
  address: string | null;
  slot: string;
  containerId: string;
  releaseId: string;
  live: boolean;
}

const CONTAINER_KINDS = new Set(["container.started", "container.exited", "container.oom_killed"]);

function waiting(index: number): Instance {
  return { index, address: null, live: true, state: "waiting", slot: null, containerId: null, restarts: 0, lastExitCode: null, lastExitAt: null, lastOomAt: null, since: null };
}

/** One instance's history entries (any order) folded into what the tab shows. */
function fold(index: number, entries: readonly HistoryEntry[]): Instance {
  const inst = waiting(index);
  let starts = 0;
  for (const e of [...entries].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))) {
    const d = e.detail ?? {};
    inst.slot = (d.slot as string | undefined) ?? inst.slot;
    inst.containerId = (d.containerId as string | undefined) ?? inst.containerId;
    inst.since = e.at;
    if (e.kind === "container.started") {
      starts += 1;
      inst.state = "running";
    } else if (e.kind === "container.exited") {
      inst.lastExitCode = typeof d.exitCode === "number" ? d.exitCode : null;
      inst.lastExitAt = e.at;
      // An expected exit is Berth stopping it (a drain, a scale down); OOM stays OOM.
      if (inst.state !== "oom_killed" || d.expected) inst.state = d.expected ? "stopped" : "exited";
    } else {
      inst.lastOomAt = e.at;
      inst.state = "oom_killed";
    }
  }
  inst.restarts = Math.max(0, starts - 1);
  return inst;
}

function containerEntries(history: readonly HistoryEntry[]): HistoryEntry[] {
  return history.filter((h) => CONTAINER_KINDS.has(h.kind) && !h.detail?.runId);
}

/** The instances of ``process`` of ``releaseId`` from the app's history alone (container
 * started, exited and OOM-killed entries name their process and instance; ADR 0026): for when
 * the agent does not answer. Instances 0 .. count-1 are listed whether or not an event came yet;
 * one beyond the count only while it still runs (a scale down in progress). */
export function instancesOf(history: readonly HistoryEntry[], releaseId: string | null, process: string, count: number): Instance[] {
  const byIndex = new Map<number, HistoryEntry[]>();
  for (const h of containerEntries(history)) {
    const d = h.detail ?? {};
    if (!releaseId || h.releaseId !== releaseId || ((d.process as string | undefined) ?? "web") !== process) continue;
    const index = typeof d.index === "number" ? d.index : 0;
    byIndex.set(index, [...(byIndex.get(index) ?? []), h]);
  }
  const indexes = new Set<number>([...Array.from({ length: Math.max(0, count) }, (_, i) => i), ...byIndex.keys()]);
  return [...indexes]
    .sort((a, b) => a - b)
    .map((index) => fold(index, byIndex.get(index) ?? []))
    .filter((inst) => inst.index < count || inst.state === "running");
}

/** The instances as the agent holds them (its word on running, address and slot), with
 * restarts, last exit and OOM kill from the history entries of the same container; an index
 * below ``count`` with no live-release container yet reads "waiting". */
export function heldInstances(held: readonly HeldInstance[], history: readonly HistoryEntry[], count: number): Instance[] {
  const byContainer = new Map<string, HistoryEntry[]>();
  for (const h of containerEntries(history)) {
    const id = h.detail?.containerId;
    if (typeof id === "string") byContainer.set(id, [...(byContainer.get(id) ?? []), h]);
  }
  const out = held.map((c): Instance => {
    const past = fold(c.index, byContainer.get(c.containerId) ?? []);
    const state = c.running ? "running" : past.state === "waiting" || past.state === "running" ? "exited" : past.state;
    return { ...past, address: c.address, live: c.live, slot: c.slot, containerId: c.containerId, state };
  });
  for (let index = 0; index < count; index++) {
    if (!held.some((c) => c.live && c.index === index)) out.push(waiting(index));
  }
  return out.sort((a, b) => a.index - b.index || Number(b.live) - Number(a.live));
}

/** A process's command as one line (argv words quoted only where they need it). */
export function commandLine(command: readonly string[] | null): string {
  if (!command) return "";
  return command.map((w) => (w === "" || /[\s"'\\$`]/.test(w) ? `'${w.replaceAll("'", "'\\''")}'` : w)).join(" ");
}
