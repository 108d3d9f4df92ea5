// What the views share: live data by short polling, the role check for buttons, and
// small pieces of presentation (badges, short ids, times).
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, call, type Hold } from "./api";
import type { Session } from "./main";

export const POLL_MS = 2000;
/** How often a view asks again: a rollout is watched as it goes. */

export function usePoll<T>(
  session: Session,
  path: string,
  every = POLL_MS,
): { data: T | null; error: string; refresh: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const seq = useRef(0);
  const load = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const answer = await call<T>(session.token, "GET", path);
      if (mine === seq.current) {
        setData(answer);
        setError("");
      }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        session.signOut(`Signed out: ${err.message}.`);
        return;
      }
      if (mine === seq.current) setError(err instanceof Error ? err.message : String(err));
    }
  }, [session.token, path]);
  useEffect(() => {
    setData(null);
    load();
    // Only while the page is seen: a tab in the background costs the server nothing.
    const timer = setInterval(() => document.hidden || load(), every);
    return () => clearInterval(timer);
  }, [load, every]);
  return { data, error, refresh: load };
}

export function may(session: Session, action: string, stage = ""): boolean {
  if (!session.me.may.includes(action)) return false;
  const staged = action === "approve" || action === "reject";
  return !staged || !stage || session.me.stages.length === 0 || session.me.stages.includes(stage);
}

export function whyNot(session: Session, action: string, stage = ""): string | undefined {
  if (may(session, action, stage)) return undefined;
  return `${session.me.name} (${session.me.role}) may not ${action}${stage ? ` in ${stage}` : ""}`;
}

export const short = (id: string) => (id ? id.slice(0, 12) : "—");

/** ``host/path/name:tag@digest`` → ``name:tag`` (the full reference is the title). */
export function shortImage(image: string): string {
  const ref = image.split("@")[0];
  return ref.slice(ref.lastIndexOf("/") + 1);
}

const TONES: Record<string, string> = {
  Healthy: "good",
  Synced: "good",
  done: "good",
  passed: "good",
  Progressing: "busy",
  progressing: "busy",
  OutOfSync: "busy",
  waiting: "wait",
  Pending: "wait",
  Unknown: "wait",
  empty: "wait",
  Degraded: "bad",
  Failing: "bad",
  Unhealthy: "bad",
  Missing: "bad",
  failed: "bad",
  blocked: "bad",
};

export function Badge(props: { value: string; label?: string }) {
  return (
    <span class={`badge ${TONES[props.value] ?? "plain"}`} title={props.label}>
      {props.value || "—"}
    </span>
  );
}

export function holdFlags(holds: Hold[]): string[] {
  return holds.map((h) => {
    const kind = h.kind === "pin" ? "pinned" : "suspended";
    return h.stage ? `${kind} (${h.stage})` : kind;
  });
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** ``until`` from now, in words: "3m 20s", or "now" once passed. */
export function left(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((new Date(iso).getTime() - now) / 1000));
  if (s === 0) return "now";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
}

export function Failure(props: { error: string }) {
  return props.error ? (
    <p class="error" role="alert">
      {props.error}
    </p>
  ) : null;
}

/** Runs one action and says what came of it (status line, or the API's refusal). */
export function useAction(session: Session, after: () => void) {
  const [said, setSaid] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (path: string, body: unknown, done: (answer: never) => string) => {
    setBusy(true);
    try {
      const answer = await call<never>(session.token, "POST", path, body);
      setSaid({ ok: true, text: done(answer) });
      after();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) session.signOut(err.message);
      setSaid({ ok: false, text: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };
  const Said = () =>
    said ? (
      <p class={said.ok ? "said" : "error"} role={said.ok ? "status" : "alert"}>
        {said.text}
      </p>
    ) : null;
  return { run, busy, Said };
}

/** A table's head row: one column header per name. */
export function Head(props: { cols: string[] }) {
  return (
    <thead>
      <tr>
        {props.cols.map((c) => (
          <th scope="col" key={c}>
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}
