// Promotion pipelines: per app, its stages left to right with their clusters and the
// release each runs, and every gate that holds the desired release back: soak time
// left, the next window, approvals (with approve and reject buttons for those who may),
// one-at-a-time progress, a failure that stops the pipeline; held-back images and holds.
import { app as appPath, type AppSummary, type Gate, type Stage } from "./api";
import type { Session } from "./main";
import { Badge, Failure, holdFlags, left, short, useAction, usePoll, when, whyNot } from "./util";

const GATE_NAMES: Record<string, string> = {
  after: "after stage",
  soak: "soak",
  approval: "approval",
  window: "window",
  oneAtATime: "one at a time",
  health: "health",
  clusters: "clusters",
};

export function PipelinesView(props: { session: Session }) {
  const { data, error, refresh } = usePoll<{ apps: AppSummary[] }>(props.session, "apps");
  const piped = (data?.apps ?? []).filter((a) => a.stages.length > 0);
  return (
    <section aria-labelledby="pipelines-title">
      <h1 id="pipelines-title">Pipelines</h1>
      <Failure error={error} />
      {data && piped.length === 0 && (
        <p>No app has a pipeline with a release on its way (config: pipelines).</p>
      )}
      {piped.map((a) => (
        <Pipeline key={a.name} session={props.session} app={a} after={refresh} />
      ))}
    </section>
  );
}

function Pipeline(props: { session: Session; app: AppSummary; after: () => void }) {
  const a = props.app;
  const heldBack = a.warnings.filter((w) => w.includes("held back"));
  const { run, busy, Said } = useAction(props.session, props.after);
  return (
    <article class="pipeline" aria-labelledby={`p-${a.name}`} data-pipeline={a.name}>
      <h2 id={`p-${a.name}`}>
        <a href={`#/${appPath(a.name)}`}>{a.name}</a> <Badge value={a.status} />
        {holdFlags(a.holds).map((f) => (
          <span class="flag" key={f}>
            {f}
          </span>
        ))}
      </h2>
      <ol class="stages">
        {a.stages.map((s) => (
          <StageCard
            key={s.name}
            stage={s}
            session={props.session}
            busy={busy}
            decide={(action) =>
              run(`${appPath(a.name)}/${action}`, { stage: s.name }, () =>
                action === "approve"
                  ? `Promotion into ${s.name} approved.`
                  : `Release rejected for ${s.name}: it goes no further.`,
              )
            }
          />
        ))}
      </ol>
      {heldBack.length > 0 && (
        <div class="held" role="note" aria-label="Held-back images">
          <h3>Held-back images</h3>
          <ul>
            {heldBack.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
      <Said />
    </article>
  );
}

function StageCard(props: {
  stage: Stage;
  session: Session;
  busy: boolean;
  decide: (action: "approve" | "reject") => void;
}) {
  const s = props.stage;
  const approval = s.gates.find((g) => g.gate === "approval" && g.state === "waiting");
  return (
    <li class={`stage ${s.phase}`} data-stage={s.name}>
      <h3>
        {s.name} <Badge value={s.phase} />
      </h3>
      <ul class="clusters" aria-label={`Clusters of ${s.name}`}>
        {s.clusters.map((c) => (
          <li key={c.name} data-cluster={c.name}>
            <span>{c.name}</span> runs <code>{short(c.running)}</code>
            {c.state && <span class="detail"> ({c.state})</span>}
          </li>
        ))}
      </ul>
      {s.gates.length > 0 && (
        <ul class="gates" aria-label={`Gates of ${s.name}`}>
          {s.gates.map((g) => (
            <GateLine key={g.gate} gate={g} />
          ))}
        </ul>
      )}
      {s.message && !s.gates.some((g) => g.message === s.message) && (
        <p class="detail">{s.message}</p>
      )}
      {approval && (
        <div class="decide" role="group" aria-label={`Approval for ${s.name}`}>
          {(["approve", "reject"] as const).map((action) => {
            const why = whyNot(props.session, action, s.name);
            return (
              <button
                type="button"
                key={action}
                class={action === "reject" ? "danger" : undefined}
                disabled={props.busy || !!why}
                title={why}
                onClick={() => props.decide(action)}
              >
                {action === "approve" ? `Approve ${s.name}` : `Reject ${s.name}`}
              </button>
            );
          })}
        </div>
      )}
    </li>
  );
}

function GateLine(props: { gate: Gate }) {
  const g = props.gate;
  let time = "";
  if (g.until && g.state !== "passed") {
    time = g.gate === "window" ? `opens ${when(g.until)}` : `${left(g.until)} left`;
  }
  return (
    <li class={`gate ${g.state}`} data-gate={g.gate}>
      <Badge value={g.state} /> <strong>{GATE_NAMES[g.gate] ?? g.gate}</strong>
      {time && <span class="time"> · {time}</span>}
      {g.state !== "passed" && <span class="detail"> {g.message}</span>}
    </li>
  );
}
