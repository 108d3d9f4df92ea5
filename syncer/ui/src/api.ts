// The JSON API of the controller serving this page (/api/v1, syncer/server/api.py):
// every call carries the user's token in an Authorization header, never a cookie, so a
// page of another site cannot make the browser act in the user's name (no CSRF).

export type Me = { name: string; role: string; stages: string[]; may: string[] };

export type ClusterEntry = {
  cluster: string;
  release: string;
  healthy: boolean;
  health: string;
  commit: string;
  images: string[];
  lastAppliedAt: string | null;
  error?: string;
  lastHealthyRelease?: string;
};

export type Gate = { gate: string; state: string; message: string; until?: string | null };
export type StageCluster = {
  name: string;
  release: string;
  state: string;
  running: string;
  current: boolean;
};
export type Stage = {
  name: string;
  phase: string;
  message: string;
  clusters: StageCluster[];
  gates: Gate[];
};
export type Hold = {
  stage: string;
  kind: string;
  release: string;
  by: string;
  at: string;
  message: string;
};
export type AppSummary = {
  name: string;
  status: string;
  sync: string;
  release: string;
  releases: string[];
  healthy: boolean;
  clusters: ClusterEntry[];
  message: string;
  errors: { cluster: string; stage: string; message: string; since: string }[];
  waiting: string[];
  stages: Stage[];
  warnings: string[];
  holds: Hold[];
  tenant?: string;
  origin?: string;
  owner?: string;
  shard?: number;
};
export type Approval = {
  stage: string;
  release: string;
  requestedAt: string;
  approvedAt: string | null;
  approvedBy: string | null;
};
export type AppStatus = AppSummary & {
  desiredRelease: string;
  approvals: Approval[];
  pipelineStages: string[];
};
export type Event = {
  id: number;
  at: string;
  kind: string;
  release: string;
  cluster: string;
  message: string;
};
export type Release = {
  id: string;
  commit: string;
  images: { repository?: string; tag?: string; image?: string }[];
  createdAt: string;
};
export type ObjectPlan = {
  object: { kind: string; name: string; namespace?: string };
  action: string;
  diff: string;
  health?: string;
  note?: string;
};
export type ClusterPlan = {
  cluster: string;
  reachable: boolean;
  missing: string;
  diff: string;
  objects: ObjectPlan[];
  error: string;
  gate: string;
  changes: boolean;
};
export type Plan = {
  app: string;
  commit: string;
  release: string;
  clusters: ClusterPlan[];
  error: string;
  notes?: string[];
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = "syncer.token";

export function savedToken(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function saveToken(token: string): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function call<T>(
  token: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(`api/v1/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  let data: unknown = null;
  try {
    data = await answer.json();
  } catch {
    data = null;
  }
  if (!answer.ok) {
    const message =
      data && typeof data === "object" && "error" in data
        ? String((data as { error: unknown }).error)
        : `${answer.status} ${answer.statusText}`;
    throw new ApiError(answer.status, message);
  }
  return data as T;
}

export const app = (name: string) => `apps/${encodeURIComponent(name)}`;
