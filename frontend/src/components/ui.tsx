import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api";
import { exact, relative } from "../time";

/** Re-render every ``ms`` (relative times stay true). */
export function useTick(ms = 10_000): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), ms);
    return () => clearInterval(t);
  }, [ms]);
  return n;
}

export function RelTime({ at }: { at: string | null | undefined }) {
  useTick();
  if (!at) return <span className="muted">never</span>;
  return (
    <time dateTime={at} title={exact(at)}>
      {relative(at)}
    </time>
  );
}

const STATUS_TONE: Record<string, string> = {
  running: "ok",
  live: "ok",
  healthy: "ok",
  deploying: "busy",
  pending: "busy",
  starting: "busy",
  created: "idle",
  superseded: "idle",
  unknown: "idle",
  stopped: "idle",
  crashed: "bad",
  failed: "bad",
  unhealthy: "bad",
};

export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge badge-${STATUS_TONE[status] ?? "idle"}`} data-status={status}>
      {label ?? status}
    </span>
  );
}

/** A badge in one of the status tones (ok, busy, bad, idle) for anything that is not a status. */
export function Badge({ tone, children, ...rest }: { tone: string; children: ReactNode } & Record<`data-${string}`, string>) {
  return (
    <span className={`badge badge-${tone}`} {...rest}>
      {children}
    </span>
  );
}

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  return (
    <p className="error" role="alert">
      {message}
    </p>
  );
}

/** A button that asks first, in a modal dialog (Escape or "Cancel" closes it). */
export function ConfirmButton(props: {
  label: string;
  title: string;
  children?: ReactNode;
  confirmLabel?: string;
  danger?: boolean;
  disabled?: boolean;
  onConfirm: () => Promise<unknown> | void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const titleId = useId();
  const open = () => {
    setError(null);
    ref.current?.showModal();
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      ref.current?.close();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className={props.danger ? "danger" : ""} disabled={props.disabled} onClick={open}>
        {props.label}
      </button>
      <dialog ref={ref} aria-labelledby={titleId}>
        <h3 id={titleId}>{props.title}</h3>
        {props.children}
        <ErrorNote error={error} />
        <div className="row end">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="button" className={props.danger ? "danger" : "primary"} disabled={busy} onClick={confirm}>
            {busy ? "Working…" : (props.confirmLabel ?? props.label)}
          </button>
        </div>
      </dialog>
    </>
  );
}

export function Explain({ children }: { children: ReactNode }) {
  return <p className="explain">{children}</p>;
}

export function FieldError({ error, field }: { error: unknown; field: string }) {
  if (!(error instanceof ApiError)) return null;
  const message = error.field(field);
  return message ? (
    <span className="field-error" role="alert">
      {message}
    </span>
  ) : null;
}
