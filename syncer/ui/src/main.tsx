// The web UI's shell: login with an API user's token, the navigation, and the route
// (#/apps, #/apps/NAME, #/pipelines) to one of the three views. Everything it shows
// and does goes through the JSON API (api.ts) with the user's role deciding which
// buttons are enabled; the API checks the role again on every call.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, type Me, saveToken, savedToken } from "./api";
import { AppDetail } from "./detail";
import { AppsView } from "./apps";
import { PipelinesView } from "./pipelines";
import "./style.css";

type Route = { view: "apps" } | { view: "app"; name: string } | { view: "pipelines" };

function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  if (path.startsWith("apps/")) return { view: "app", name: decodeURIComponent(path.slice(5)) };
  if (path === "pipelines") return { view: "pipelines" };
  return { view: "apps" };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const changed = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  return route;
}

export type Session = { token: string; me: Me; signOut: (why?: string) => void };

function Login(props: { onIn: (token: string, me: Me) => void; notice: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const me = await call<Me>(token.trim(), "GET", "me");
      props.onIn(token.trim(), me);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="content" class="login">
      <h1>syncer</h1>
      <form onSubmit={submit} aria-describedby="login-help">
        <p id="login-help">
          Sign in with your API token (a <code>server.users</code> entry or a line of{" "}
          <code>server.tokenFile</code>). It is kept for this tab only.
        </p>
        {props.notice && <p class="notice" role="status">{props.notice}</p>}
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Shell() {
  const route = useRoute();
  const [session, setSession] = useState<{ token: string; me: Me } | null>(null);
  const [checked, setChecked] = useState(false);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    // A token kept from earlier in this tab, or none (when the server allows anonymous
    // reads, a viewer needs no token).
    const token = savedToken();
    call<Me>(token, "GET", "me")
      .then((me) => setSession({ token, me }))
      .catch(() => saveToken(""))
      .finally(() => setChecked(true));
  }, []);

  if (!checked) return <p class="loading">Loading…</p>;
  const signOut = (why = "") => {
    saveToken("");
    setSession(null);
    setNotice(why);
  };
  if (!session)
    return (
      <Login
        notice={notice}
        onIn={(token, me) => {
          saveToken(token);
          setNotice("");
          setSession({ token, me });
        }}
      />
    );
  const s: Session = { ...session, signOut };
  const here = route.view === "pipelines" ? "pipelines" : "apps";
  return (
    <>
      <a class="skip" href="#content" onClick={skipToContent}>
        Skip to content
      </a>
      <header>
        <span class="brand">syncer</span>
        <nav aria-label="Views">
          <a href="#/apps" aria-current={here === "apps" ? "page" : undefined}>
            Apps
          </a>
          <a href="#/pipelines" aria-current={here === "pipelines" ? "page" : undefined}>
            Pipelines
          </a>
        </nav>
        <span class="who" data-testid="who">
          {s.me.name} ({s.me.role})
        </span>
        {s.token && (
          <button type="button" class="secondary" onClick={() => signOut("Signed out.")}>
            Sign out
          </button>
        )}
      </header>
      <main id="content" tabIndex={-1}>
        {route.view === "apps" && <AppsView session={s} />}
        {route.view === "app" && <AppDetail session={s} name={route.name} />}
        {route.view === "pipelines" && <PipelinesView session={s} />}
      </main>
    </>
  );
}

function skipToContent(e: Event) {
  // The hash routes views: move focus without changing it.
  e.preventDefault();
  document.getElementById("content")?.focus();
}

render(<Shell />, document.getElementById("root")!);
