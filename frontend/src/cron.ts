import type { Run } from "./api";

/** How a cron history row reads: a short outcome and its tone (the badge colours). */
export function runOutcome(run: Pick<Run, "status" | "exitCode"> & { missedCount?: number | null }): { label: string; tone: string } {
  switch (run.status) {
    case "pending":
      return { label: "starting", tone: "busy" };
    case "running":
      return { label: "running", tone: "busy" };
    case "exited":
      return run.exitCode === 0 ? { label: "exit 0", tone: "ok" } : { label: `exit ${run.exitCode ?? "?"}`, tone: "bad" };
    case "timed_out":
      return { label: "timed out", tone: "bad" };
    case "failed_to_start":
      return { label: "failed to start", tone: "bad" };
    case "lost":
      return { label: "lost", tone: "bad" };
    case "stopped":
      return { label: "stopped", tone: "idle" };
    case "skipped":
      return { label: "skipped", tone: "idle" };
    case "missed": {
      const n = run.missedCount ?? 1;
      return { label: n === 1 ? "missed" : `missed ×${n}`, tone: "bad" };
    }
    default:
      return { label: run.status, tone: "idle" };
  }
}

/** Whether the row is a run that had a container (so it has logs); skipped/missed rows never ran. */
export function ranContainer(run: Pick<Run, "status">): boolean {
  return run.status !== "skipped" && run.status !== "missed" && run.status !== "pending";
}

const TRIGGERS: Record<string, string> = { schedule: "schedule", manual: "manual", catch_up: "catch-up" };

export function triggerLabel(trigger: string | null): string {
  return trigger ? (TRIGGERS[trigger] ?? trigger) : "";
}

/** A schedule with its time zone, as a user reads it: "0 3 * * * (Europe/Paris)"; an interval
 * ("@every 5s") counts from the previous due time, so no zone applies to it. */
export function scheduleLabel(schedule: string, timezone: string): string {
  return schedule.startsWith("@every") ? schedule : `${schedule} (${timezone})`;
}
