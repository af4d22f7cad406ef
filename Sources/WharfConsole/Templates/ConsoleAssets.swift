/// The console's stylesheet and script, served by `wharf serve` itself: nothing to fetch from elsewhere. The script
/// only improves pages that work without it (the repository search filters as one types; pull commands select on
/// focus).
package enum ConsoleAssets {
    package static let stylesheet = """
        :root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0a58ca; --bad: #b42318; --good: #1a7f37; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 1rem/1.5 system-ui, sans-serif; color: var(--fg); background: #fff; }
        a { color: var(--accent); }
        a:focus, button:focus, input:focus, pre:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
        .skip { position: absolute; left: -10000px; }
        .skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
        header nav { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
        header ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; margin: 0; padding: 0; }
        header [aria-current] { font-weight: 700; text-decoration: none; }
        .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
        .signout { margin-left: auto; }
        main { padding: 1rem; max-width: 90rem; }
        h1 { font-size: 1.5rem; overflow-wrap: anywhere; }
        .scroll { overflow-x: auto; position: relative; }
        table { border-collapse: collapse; width: 100%; }
        caption { text-align: left; color: var(--muted); padding: .25rem 0; }
        th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
        thead th { border-bottom: 2px solid var(--line); overflow-wrap: normal; }
        code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
        pre.raw { background: #f6f8fa; padding: 1rem; overflow: auto; max-height: 40rem; white-space: pre-wrap; }
        .facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
        .facts dd { margin: 0; overflow-wrap: anywhere; }
        .filter { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: 1rem; }
        .filter.grid { display: grid; grid-template-columns: max-content minmax(0, 20rem); }
        .login { display: grid; gap: .5rem; max-width: 24rem; }
        input, button { font: inherit; padding: .3rem .5rem; max-width: 100%; }
        input.copy { width: 100%; font-family: ui-monospace, monospace; }
        td input.copy { min-width: 22rem; }
        button.danger, a.danger { color: var(--bad); }
        .error { color: var(--bad); font-weight: 600; }
        .ok { color: var(--good); font-weight: 600; }
        .tag { display: inline-block; border: 1px solid var(--line); border-radius: .25rem; padding: 0 .35rem; }
        ul.plain { list-style: none; padding: 0; }
        .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
        @media (max-width: 40rem) { .facts, .filter.grid { grid-template-columns: 1fr; } }
        """

    package static let script = """
        "use strict";
        document.addEventListener("DOMContentLoaded", () => {
          for (const input of document.querySelectorAll("input.copy")) {
            input.addEventListener("focus", () => input.select());
          }
          const search = document.querySelector("input[data-live-filter]");
          if (!search) return;
          const target = document.querySelector(search.dataset.liveFilter);
          let timer;
          search.addEventListener("input", () => {
            clearTimeout(timer);
            timer = setTimeout(async () => {
              const url = new URL(search.form.action);
              url.searchParams.set("q", search.value);
              const response = await fetch(url, { credentials: "same-origin" });
              if (!response.ok) return;
              const page = new DOMParser().parseFromString(await response.text(), "text/html");
              const fresh = page.querySelector(search.dataset.liveFilter);
              if (fresh && target) target.replaceChildren(...fresh.childNodes);
              history.replaceState(null, "", url);
            }, 200);
          });
        });
        """
}
