import { describe, expect, it } from "vitest";
import { ranContainer, runOutcome, scheduleLabel, triggerLabel } from "./cron";

describe("runOutcome", () => {
  it("reads exit codes, failures and the entries that never ran", () => {
    expect(runOutcome({ status: "exited", exitCode: 0 })).toEqual({ label: "exit 0", tone: "ok" });
    expect(runOutcome({ status: "exited", exitCode: 3 })).toEqual({ label: "exit 3", tone: "bad" });
    expect(runOutcome({ status: "timed_out", exitCode: null }).tone).toBe("bad");
    expect(runOutcome({ status: "running", exitCode: null }).tone).toBe("busy");
    expect(runOutcome({ status: "skipped", exitCode: null })).toEqual({ label: "skipped", tone: "idle" });
    expect(runOutcome({ status: "missed", exitCode: null, missedCount: 4 }).label).toBe("missed ×4");
    expect(runOutcome({ status: "missed", exitCode: null, missedCount: 1 }).label).toBe("missed");
  });

  it("links logs only for runs that had a container", () => {
    expect(ranContainer({ status: "exited" })).toBe(true);
    expect(ranContainer({ status: "skipped" })).toBe(false);
    expect(ranContainer({ status: "missed" })).toBe(false);
  });
});

describe("labels", () => {
  it("names the time zone of calendar schedules, not of intervals", () => {
    expect(scheduleLabel("0 3 * * *", "Europe/Paris")).toBe("0 3 * * * (Europe/Paris)");
    expect(scheduleLabel("@every 5s", "UTC")).toBe("@every 5s");
    expect(triggerLabel("catch_up")).toBe("catch-up");
    expect(triggerLabel("manual")).toBe("manual");
  });
});
