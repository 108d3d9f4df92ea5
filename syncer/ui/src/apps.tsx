// The apps list: every app's health, sync state, holds, and per cluster the image tags
// and commit running there; search and filters. Only the rows in view are in the DOM
// (a fixed row height and two spacer rows), so 1,000 apps scroll as fast as ten.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { app as appPath, type AppSummary } from "./api";
import type { Session } from "./main";
import { Badge, Failure, holdFlags, short, shortImage, usePoll } from "./util";

const ROW = 44;
/** Pixels per row (CSS .apps tbody tr keeps it). */
const SPARE = 8;
/** Rows rendered above and below the visible ones, so a fast scroll shows no gap. */
const LIST_POLL_MS = 3000;
/** Every app's summary is ~2 KiB: with many apps, the list asks less often than a detail. */
const HEALTHS = ["Healthy", "Progressing", "Degraded", "Failing", "Unhealthy", "Pending"];
const SYNCS = ["Synced", "OutOfSync", "Unknown"];

function matches(a: AppSummary, text: string): boolean {
  if (!text) return true;
  const t = text.toLowerCase();
  return (
    a.name.toLowerCase().includes(t) ||
    a.clusters.some(
      (c) =>
        c.cluster.toLowerCase().includes(t) ||
        c.commit.startsWith(t) ||
        c.images.some((i) => i.toLowerCase().includes(t)),
    )
  );
}

export function AppsView(props: { session: Session }) {
  const { data, error } = usePoll<{ apps: AppSummary[] }>(props.session, "apps", LIST_POLL_MS);
  const [text, setText] = useState("");
  const [health, setHealth] = useState("");
  const [sync, setSync] = useState("");
  const [held, setHeld] = useState(false);
  const [top, setTop] = useState(0);
  const [height, setHeight] = useState(600);

  const apps = data?.apps ?? [];
  const clusters = useMemo(
    // Clusters that run something, and those a pipeline stage will take the app to.
    () =>
      [
        ...new Set(
          apps.flatMap((a) => [
            ...a.clusters.map((c) => c.cluster),
            ...a.stages.flatMap((s) => s.clusters.map((c) => c.name)),
          ]),
        ),
      ].sort(),
    [data],
  );
  const shown = useMemo(
    () =>
      apps.filter(
        (a) =>
          (!health || a.status === health) &&
          (!sync || a.sync === sync) &&
          (!held || a.holds.length > 0) &&
          matches(a, text),
      ),
    [data, text, health, sync, held],
  );
  const scroller = useRef<HTMLDivElement>(null);
  useEffect(() => {
    // A new search or filter starts at the top of its list.
    if (scroller.current) scroller.current.scrollTop = 0;
    setTop(0);
  }, [text, health, sync, held]);
  // Until the browser reports the scroll, a list that shrank is not scrolled past its end.
  const seen = Math.min(top, Math.max(0, shown.length * ROW - height));
  const first = Math.max(0, Math.floor(seen / ROW) - SPARE);
  const last = Math.min(shown.length, Math.ceil((seen + height) / ROW) + SPARE);

  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">Apps</h1>
      <div class="filters" role="search">
        <label>
          Search
          <input
            type="search"
            placeholder="name, cluster, image or commit"
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
        </label>
        <Choice label="Health" value={health} set={setHealth} options={HEALTHS} />
        <Choice label="Sync" value={sync} set={setSync} options={SYNCS} />
        <label class="check">
          <input
            type="checkbox"
            checked={held}
            onChange={(e) => setHeld((e.target as HTMLInputElement).checked)}
          />
          Suspended or pinned only
        </label>
        <span class="count" aria-live="polite" data-testid="count">
          {data ? `${shown.length} of ${apps.length} apps` : "Loading…"}
        </span>
      </div>
      <Failure error={error} />
      <div
        class="scroller"
        tabIndex={0}
        aria-label="Apps table, scrollable"
        ref={(el) => {
          scroller.current = el;
          if (el && el.clientHeight && el.clientHeight !== height) setHeight(el.clientHeight);
        }}
        onScroll={(e) => setTop((e.target as HTMLElement).scrollTop)}
      >
        <table class="apps" aria-rowcount={shown.length + 1}>
          <thead>
            <tr aria-rowindex={1}>
              <th scope="col">App</th>
              <th scope="col">Health</th>
              <th scope="col">Sync</th>
              <th scope="col">Flags</th>
              {clusters.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {first > 0 && <tr aria-hidden="true" class="spacer" style={{ height: `${first * ROW}px` }} />}
            {shown.slice(first, last).map((a, i) => (
              <AppRow key={a.name} app={a} clusters={clusters} index={first + i + 2} />
            ))}
            {last < shown.length && (
              <tr
                aria-hidden="true"
                class="spacer"
                style={{ height: `${(shown.length - last) * ROW}px` }}
              />
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function AppRow(props: { app: AppSummary; clusters: string[]; index: number }) {
  const a = props.app;
  const by = new Map(a.clusters.map((c) => [c.cluster, c]));
  return (
    <tr aria-rowindex={props.index} data-app={a.name}>
      <th scope="row">
        <a href={`#/${appPath(a.name)}`}>{a.name}</a>
      </th>
      <td>
        <Badge value={a.status} label={a.message} />
      </td>
      <td>
        <Badge value={a.sync} />
      </td>
      <td>
        {holdFlags(a.holds).map((f) => (
          <span class="flag" key={f}>
            {f}
          </span>
        ))}
      </td>
      {props.clusters.map((name) => {
        const c = by.get(name);
        if (!c)
          return (
            <td key={name} class="none">
              —
            </td>
          );
        return (
          <td key={name} data-cluster={name} title={c.images.join(", ")}>
            <span class={`dot ${c.healthy ? "good" : "bad"}`} aria-label={c.health} role="img" />
            <span class="images">{c.images.map(shortImage).join(", ") || "no images"}</span>
            <code class="commit">{short(c.commit).slice(0, 8)}</code>
          </td>
        );
      })}
    </tr>
  );
}

function Choice(props: {
  label: string;
  value: string;
  set: (value: string) => void;
  options: string[];
}) {
  return (
    <label>
      {props.label}
      <select
        value={props.value}
        onChange={(e) => props.set((e.target as HTMLSelectElement).value)}
      >
        <option value="">any</option>
        {props.options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </label>
  );
}
