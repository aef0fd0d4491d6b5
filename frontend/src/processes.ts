import type { HistoryEntry } from "./api";

/** What the Processes tab shows for one instance of a process type of the live release. */
export interface Instance {
  index: number;
  /** running | exited | oom_killed | stopped (an expected stop) | waiting (no event yet) */
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

const CONTAINER_KINDS = new Set(["container.started", "container.exited", "container.oom_killed"]);

/** The instances of ``process`` of ``releaseId`` from the app's history (container started,
 * exited and OOM-killed entries name their process and instance; ADR 0026). Instances 0 ..
 * count-1 are listed whether or not an event came yet; one beyond the count only while it still
 * runs (a scale down in progress). One-off and cron run containers are left out. */
export function instancesOf(history: readonly HistoryEntry[], releaseId: string | null, process: string, count: number): Instance[] {
  const byIndex = new Map<number, HistoryEntry[]>();
  for (const h of history) {
    if (!CONTAINER_KINDS.has(h.kind) || !releaseId || h.releaseId !== releaseId) continue;
    const d = h.detail ?? {};
    if (d.runId) continue;
    if (((d.process as string | undefined) ?? "web") !== process) continue;
    const index = typeof d.index === "number" ? d.index : 0;
    const list = byIndex.get(index) ?? [];
    list.push(h);
    byIndex.set(index, list);
  }
  const out: Instance[] = [];
  const indexes = new Set<number>([...Array.from({ length: Math.max(0, count) }, (_, i) => i), ...byIndex.keys()]);
  for (const index of [...indexes].sort((a, b) => a - b)) {
    const entries = [...(byIndex.get(index) ?? [])].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const inst: Instance = { index, state: "waiting", slot: null, containerId: null, restarts: 0, lastExitCode: null, lastExitAt: null, lastOomAt: null, since: null };
    let starts = 0;
    for (const e of entries) {
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
    if (index >= count && inst.state !== "running") continue;
    out.push(inst);
  }
  return out;
}

/** A process's command as one line (argv words quoted only where they need it). */
export function commandLine(command: readonly string[] | null): string {
  if (!command) return "";
  return command.map((w) => (w === "" || /[\s"'\\$`]/.test(w) ? `'${w.replaceAll("'", "'\\''")}'` : w)).join(" ");
}
