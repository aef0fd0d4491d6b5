import { useCallback, useEffect, useState } from "react";
import { get } from "./api";

/** GET ``path`` now and every ``ms`` while mounted (for data the app's event stream does not
 * carry). ``error`` is the last failure (cleared by the next success); ``reload`` asks again now
 * (e.g. after a change). */
export function usePolled<T>(path: string, ms = 3000): { data: T | null; error: unknown; reload: () => Promise<void> } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(async () => {
    try {
      setData(await get<T>(path));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [path]);
  useEffect(() => {
    setData(null);
    void reload();
    const t = setInterval(reload, ms);
    return () => clearInterval(t);
  }, [reload, ms]);
  return { data, error, reload };
}
