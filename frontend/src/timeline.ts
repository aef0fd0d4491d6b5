import type { HistoryEntry, Release, Step } from "./api";

/** What each lifecycle step is, and why the platform does it (the timeline's teaching mode). */
export const STEP_INFO: Record<string, { title: string; why: string }> = {
  "command.published": {
    title: "Command published",
    why: "The API wrote the release and its command to the agent in one transaction; the moment it commits, Postgres wakes the outbox publisher, which hands the command to JetStream (stored durably, so it survives a crash).",
  },
  "command.received": {
    title: "Command received",
    why: "The runtime agent always keeps a pull request waiting on JetStream, so the command arrives as soon as it is stored. The agent now asks the API for the app's desired state and starts the rollout.",
  },
  "image.pulling": {
    title: "Pulling image",
    why: "The image is not on this host yet, so the Docker engine downloads its layers from the registry; progress is reported as it goes.",
  },
  "image.resolved": {
    title: "Image resolved",
    why: "The runtime agent looks the image up in the local Docker engine and pins its content digest, so this release (and any rollback to it) runs exactly these bytes.",
  },
  "network.ready": {
    title: "Network ready",
    why: "Each app gets its own Docker bridge network with a fixed /28 subnet: slot A and slot B have fixed addresses the proxy already knows, and apps cannot reach each other.",
  },
  "container.created": {
    title: "Container created",
    why: "A new container is created in the free blue/green slot, locked down: no capabilities, no new privileges, memory/CPU/pids limits, bounded logs, no host mounts or ports.",
  },
  "container.started": {
    title: "Container started",
    why: "The process starts. The old release keeps serving all traffic while the new one boots.",
  },
  "health.passed": {
    title: "First health check passed",
    why: "The agent asks the new container every few tens of milliseconds until it first answers HTTP on its port (within the deploy timeout). A release that never answers is failed and the old one keeps serving.",
  },
  "proxy.switched": {
    title: "Proxy routing switched",
    why: "The router's slot DNS now names the new slot, and Caddy looks it up again within 100 ms: every request from here on goes there, and the release is live. Caddy's configuration is not reloaded, so no request is dropped.",
  },
  "old.drained": {
    title: "Old slot drained",
    why: "After the release went live: new connections to the old slot are refused, and the requests still in flight there are allowed to finish (the app's next deploy waits for this).",
  },
  "old.stopped": {
    title: "Old slot stopped",
    why: "With no request left in flight, the old container gets SIGTERM and the app's stop timeout to exit cleanly, then it is removed.",
  },
  "container.restarted": {
    title: "Container restarted in place",
    why: "A hard restart: the live container is restarted where it is, with a short outage.",
  },
};

/** The steps a normal flip goes through, in order: shown greyed until they happen. */
export const FLIP_STEPS = [
  "image.resolved",
  "network.ready",
  "container.created",
  "container.started",
  "health.passed",
  "proxy.switched",
  "old.drained",
  "old.stopped",
];

export interface TimelineRow {
  step: string;
  title: string;
  why: string;
  state: "done" | "pending" | "skipped" | "failed";
  at: string | null;
  durationMs: number | null;
  slot: string;
  detail: string;
  sinceStartMs: number | null;
}

const TERMINAL_BAD = new Set(["failed", "superseded"]);

/** The timeline of one release: the steps that happened (deduplicated by step name, in time
 * order), then the ones still expected. A failed release ends with a "failed" row carrying its reason. */
export function buildTimeline(release: Pick<Release, "status" | "reason" | "createdAt" | "kind" | "finishedAt">, steps: readonly Step[]): TimelineRow[] {
  const byName = new Map<string, Step>();
  for (const s of [...steps].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))) {
    if (!byName.has(s.step)) byName.set(s.step, s);
  }
  const start = Date.parse(release.createdAt);
  const rows: TimelineRow[] = [];
  for (const s of byName.values()) {
    const info = STEP_INFO[s.step] ?? { title: s.step, why: "" };
    const at = Date.parse(s.at);
    rows.push({
      step: s.step,
      title: info.title,
      why: info.why,
      state: "done",
      at: s.at,
      durationMs: s.durationMs,
      slot: s.slot,
      detail: s.detail,
      sinceStartMs: Number.isNaN(start) || Number.isNaN(at) ? null : Math.max(0, at - start),
    });
  }
  const finished = release.status === "live" || TERMINAL_BAD.has(release.status);
  const inPlace = byName.has("container.restarted");
  if (!inPlace) {
    for (const name of FLIP_STEPS) {
      if (byName.has(name)) continue;
      const info = STEP_INFO[name];
      rows.push({
        step: name,
        title: info.title,
        why: info.why,
        state: finished ? "skipped" : "pending",
        at: null,
        durationMs: null,
        slot: "",
        detail: "",
        sinceStartMs: null,
      });
    }
  }
  if (release.status === "failed") {
    rows.push({
      step: "release.failed",
      title: "Release failed",
      why: "The platform stopped this rollout; the previous release kept serving.",
      state: "failed",
      at: release.finishedAt,
      durationMs: null,
      slot: "",
      detail: release.reason ?? "",
      sinceStartMs: null,
    });
  }
  // Some flips skip steps (no old slot on a first deploy): when done, don't show them as missing.
  return finished ? rows.filter((r) => r.state !== "skipped" || release.status !== "live") : rows;
}

/** One line describing a history entry. */
export function describeHistory(e: HistoryEntry): string {
  const d = (e.detail ?? {}) as Record<string, unknown>;
  const slot = d.slot ? ` in slot ${String(d.slot)}` : "";
  switch (e.kind) {
    case "container.started":
      return `Container started${slot}`;
    case "container.exited":
      return `Container exited${slot} with code ${String(d.exitCode ?? "?")}${d.expected ? " (stopped by Berth)" : ""}`;
    case "container.oom_killed":
      return `Container killed: out of memory${slot}`;
    case "app.crashed":
      return `App crashed: kept dying, Berth stopped restarting it`;
    default:
      return e.kind.replace(/[._]/g, " ");
  }
}

/** Merge keyed items (later wins), keeping the newest ``cap``. */
export function mergeKeyed<T extends { key?: string; at: string }>(old: readonly T[], add: readonly T[], cap = 1000): T[] {
  const map = new Map<string, T>();
  for (const item of [...old, ...add]) map.set(item.key ?? `${item.at}`, item);
  return [...map.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)).slice(-cap);
}
