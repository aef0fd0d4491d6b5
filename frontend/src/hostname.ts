/** The hostname an app gets: `<name>.<BERTH_DOMAIN>` (what the create form shows as you type). */
export function hostnameOf(name: string, domain: string | null): string {
  return `${name || "name"}.${domain || "…"}`;
}
