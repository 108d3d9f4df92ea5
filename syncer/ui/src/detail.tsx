// One app: what runs in each cluster, its objects there with health and drift and the
// diff between Git and live (from the plan: a server-side dry run, Secrets masked by the
// API), its history (who did what, and why), and the actions sync, rollback to a chosen
// release, suspend and resume, each enabled only for roles that may use it.
import { useState } from "preact/hooks";
import {
  app as appPath,
  type AppStatus,
  type Event as HistoryEvent,
  type Plan,
  type Release,
} from "./api";
import type { Session } from "./main";
import {
  Badge,
  Failure,
  Head,
  holdFlags,
  short,
  shortImage,
  useAction,
  usePoll,
  when,
  whyNot,
} from "./util";

export function AppDetail(props: { session: Session; name: string }) {
  const { session, name } = props;
  const base = appPath(name);
  const status = usePoll<AppStatus>(session, base);
  const history = usePoll<{ history: HistoryEvent[] }>(session, `${base}/history?limit=50`);
  const releases = usePoll<{ releases: Release[] }>(session, `${base}/releases`, 10000);
  const refresh = () => {
    status.refresh();
    history.refresh();
    releases.refresh();
  };
  const s = status.data;
  return (
    <section aria-labelledby="app-title">
      <p>
        <a href="#/apps">← All apps</a>
      </p>
      <h1 id="app-title">{name}</h1>
      <Failure error={status.error} />
      {s && (
        <>
          <p class="summary">
            <Badge value={s.status} /> <Badge value={s.sync} />{" "}
            {holdFlags(s.holds).map((f) => (
              <span class="flag" key={f}>
                {f}
              </span>
            ))}{" "}
            {!s.waiting.includes(s.message) && <span data-testid="message">{s.message}</span>}
          </p>
          {(s.tenant || s.owner !== undefined) && (
            <p class="detail" data-testid="where">
              {s.tenant && (
                <span>
                  Tenant {s.tenant}
                  {s.origin && (
                    <>
                      , defined in <code>{s.origin}</code>
                    </>
                  )}
                  .{" "}
                </span>
              )}
              {s.owner !== undefined && (
                <span>
                  Shard {s.shard}: {s.owner ? `held by ${s.owner}` : "held by no replica now"}.
                </span>
              )}
            </p>
          )}
          {s.waiting.length > 0 && (
            <ul class="waits" aria-label="Waiting for">
              {s.waiting.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          )}
          <Actions
            session={session}
            status={s}
            releases={releases.data?.releases ?? []}
            after={refresh}
          />
          <h2>Clusters</h2>
          <table class="grid" data-testid="clusters">
            <Head cols={["Cluster", "Health", "Release", "Images", "Commit", "Applied"]} />
            <tbody>
              {s.clusters.map((c) => (
                <tr key={c.cluster} data-cluster={c.cluster}>
                  <th scope="row">{c.cluster}</th>
                  <td>
                    <Badge value={c.health} label={c.error} />
                    {c.error && <span class="detail">{c.error}</span>}
                  </td>
                  <td>
                    <code>{short(c.release)}</code>
                  </td>
                  <td class="images" title={c.images.join(", ")}>
                    {c.images.map(shortImage).join(", ") || "—"}
                  </td>
                  <td>
                    <code>{short(c.commit)}</code>
                  </td>
                  <td>{when(c.lastAppliedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Objects session={session} name={name} />
        </>
      )}
      <h2>History</h2>
      <Failure error={history.error} />
      <table class="grid" data-testid="history">
        <Head cols={["When", "What", "Cluster", "Release", "Who and why"]} />
        <tbody>
          {(history.data?.history ?? []).map((e) => (
            <tr key={e.id}>
              <td>{when(e.at)}</td>
              <td>{e.kind}</td>
              <td>{e.cluster || "—"}</td>
              <td>
                <code>{short(e.release)}</code>
              </td>
              <td>{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Actions(props: {
  session: Session;
  status: AppStatus;
  releases: Release[];
  after: () => void;
}) {
  const { session, status } = props;
  const { run, busy, Said } = useAction(session, props.after);
  const [to, setTo] = useState("");
  const [stage, setStage] = useState("");
  const base = appPath(status.name);
  const body = stage ? { stage } : {};
  const button = (action: string, label: string, go: () => void) => {
    const why = whyNot(session, action);
    return (
      <button type="button" disabled={busy || !!why} title={why} onClick={go}>
        {label}
      </button>
    );
  };
  return (
    <div class="actions" role="group" aria-label="Actions">
      {status.pipelineStages.length > 0 && (
        <label>
          Stage
          <select value={stage} onChange={(e) => setStage((e.target as HTMLSelectElement).value)}>
            <option value="">whole app</option>
            {status.pipelineStages.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      )}
      {button("sync", "Sync now", () =>
        run(`${base}/sync`, {}, () => `Sync of ${status.name} scheduled.`),
      )}
      <label>
        Roll back to
        <select value={to} onChange={(e) => setTo((e.target as HTMLSelectElement).value)}>
          <option value="">the last healthy release</option>
          {props.releases.map((r) => (
            <option key={r.id} value={r.id}>
              {short(r.id)} · {short(r.commit).slice(0, 8)} ·{" "}
              {r.images.map((i) => shortImage(i.image ?? `${i.repository}:${i.tag}`)).join(", ") ||
                "no images"}{" "}
              · {when(r.createdAt)}
            </option>
          ))}
        </select>
      </label>
      {button("rollback", "Roll back", () =>
        run(`${base}/rollback`, { ...body, ...(to ? { to } : {}) }, (a: { to: string }) =>
          `Rollback to ${short(a.to)} scheduled; the app stays pinned there until resumed.`,
        ),
      )}
      {button("suspend", "Suspend", () =>
        run(`${base}/suspend`, body, () => `Suspended${stage ? ` in ${stage}` : ""}.`),
      )}
      {button("resume", "Resume", () =>
        run(`${base}/resume`, body, (a: { resumed: unknown[] }) =>
          a.resumed.length ? `Resumed (${a.resumed.length} hold(s) lifted).` : "Nothing was held.",
        ),
      )}
      <Said />
    </div>
  );
}

function Objects(props: { session: Session; name: string }) {
  // A plan polls Git and the registry and dry-runs against every cluster: asked for
  // once on opening and then only on demand, not on every poll.
  const plan = usePoll<Plan>(props.session, `${appPath(props.name)}/plan`, 60000);
  const p = plan.data;
  return (
    <>
      <h2>
        Objects and drift{" "}
        <button type="button" class="secondary" onClick={plan.refresh}>
          Compare again
        </button>
      </h2>
      <Failure error={plan.error || p?.error || ""} />
      {!p && !plan.error && <p class="loading">Comparing Git with the clusters…</p>}
      {p?.notes?.map((n) => (
        <p class="detail" key={n}>
          {n}
        </p>
      ))}
      {p?.clusters.map((c) => (
        <section key={c.cluster} aria-label={`Objects in ${c.cluster}`} data-plan={c.cluster}>
          <h3>
            {c.cluster}{" "}
            {c.changes ? <Badge value="OutOfSync" /> : <Badge value="Synced" />}
          </h3>
          {(c.missing || c.error || c.gate) && (
            <p class="detail">{c.missing || c.error || c.gate}</p>
          )}
          <table class="grid">
            <Head cols={["Kind", "Name", "Health", "Drift", "Git vs live"]} />
            <tbody>
              {c.objects.map((o) => {
                // A cluster that cannot be reached lists the objects it would get, as rendered.
                const raw = o as unknown as { kind?: string; metadata?: { name?: string } };
                const kind = o.object?.kind ?? raw.kind ?? "";
                const name = o.object?.name ?? raw.metadata?.name ?? "";
                return (
                  <tr key={`${kind}/${name}`}>
                    <td>{kind}</td>
                    <td>{name}</td>
                    <td>
                      <Badge value={o.health ?? ""} />
                    </td>
                    <td>{o.action === "unchanged" ? "in sync" : o.action}</td>
                    <td>
                      {o.diff ? (
                        <details>
                          <summary>diff</summary>
                          <pre class="diff">{o.diff}</pre>
                        </details>
                      ) : (
                        "—"
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}
