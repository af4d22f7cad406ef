/// The console's pages, as Mustache templates. `{{…}}` escapes for HTML (quotes included, so values are safe inside
/// attributes too); the only `{{{…}}}` is the layout's content, which its own template has escaped already.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "layout": layout, "login": login, "repositories": repositories, "repository": repository, "manifest": manifest,
        "confirm": confirm, "audit": audit, "replication": replication, "p2p": p2p, "overview": overview, "error": error,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Wharf</title>
        <link rel="stylesheet" href="{{base}}/static/console.css">
        <script src="{{base}}/static/console.js" defer></script>
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
        <nav aria-label="Console">
        <a class="brand" href="{{base}}/">Wharf</a>
        <ul>{{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>{{/nav}}</ul>
        {{#viewer}}<form class="signout" method="post" action="{{base}}/logout"><input type="hidden" name="csrf" value="{{csrf}}"><span>{{name}}</span> <button type="submit">Sign out</button></form>{{/viewer}}
        </nav>
        </header>
        <main id="main">
        <h1>{{title}}</h1>
        {{{content}}}
        </main>
        </body>
        </html>
        """

    static let login = """
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        <form class="login" method="post" action="{{base}}/login">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <input type="hidden" name="next" value="{{next}}">
        <label for="user">User or robot</label>
        <input id="user" name="user" autocomplete="username" required value="{{user}}">
        <label for="password">Password or secret</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit">Sign in</button>
        </form>
        """

    static let repositories = """
        <form class="filter" method="get" action="{{base}}/repositories" role="search">
        <label for="q">Search repositories</label>
        <input id="q" name="q" type="search" value="{{search}}" data-live-filter="#repository-list">
        <button type="submit">Search</button>
        </form>
        <div id="repository-list">
        {{^empty(rows)}}
        <div class="scroll"><table>
        <caption>Repositories you may pull{{#search}} matching “{{search}}”{{/search}}</caption>
        <thead><tr><th scope="col">Repository</th><th scope="col">Tags</th><th scope="col">Manifests</th><th scope="col">Size</th><th scope="col">Shared with others</th><th scope="col">Last push</th></tr></thead>
        <tbody>
        {{#rows}}<tr><th scope="row"><a href="{{base}}/repositories/{{name}}">{{name}}</a></th><td>{{tags}}</td><td>{{manifests}}</td><td>{{size}}</td><td>{{shared}}</td><td>{{lastPush}}</td></tr>
        {{/rows}}
        </tbody></table></div>
        {{/empty(rows)}}
        {{^rows}}<p>No repositories{{#search}} match “{{search}}”{{/search}}.</p>{{/rows}}
        {{#next}}<p><a rel="next" href="{{next}}">Next page</a></p>{{/next}}
        </div>
        """

    static let repository = """
        <p><a href="{{base}}/repositories">All repositories</a></p>
        {{^empty(rows)}}
        <div class="scroll"><table>
        <caption>Tags of {{name}}</caption>
        <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col">Type</th><th scope="col">Size</th><th scope="col">Platforms</th><th scope="col">Pushed</th><th scope="col">Pull</th>{{#canDelete}}<th scope="col"><span class="visually-hidden">Actions</span></th>{{/canDelete}}</tr></thead>
        <tbody>
        {{#rows}}<tr>
        <th scope="row">{{tag}}</th>
        <td><a href="{{base}}/repositories/{{name}}/-/manifests/{{digest}}"><code title="{{digest}}">{{short}}</code></a></td>
        <td>{{kind}}</td><td>{{size}}</td><td>{{platforms}}</td><td>{{pushed}}</td>
        <td><input class="copy" readonly aria-label="Pull command for {{tag}}" value="{{pull}}"></td>
        {{#canDelete}}<td><a class="danger" href="{{base}}/repositories/{{name}}/-/tags/{{tag}}/delete">Delete tag</a></td>{{/canDelete}}
        </tr>
        {{/rows}}
        </tbody></table></div>
        {{/empty(rows)}}
        {{^rows}}<p>This repository has no tags.</p>{{/rows}}
        {{#next}}<p><a rel="next" href="{{next}}">Next page</a></p>{{/next}}
        """

    static let manifest = """
        <p><a href="{{base}}/repositories/{{name}}">Back to {{name}}</a></p>
        <dl class="facts">
        <dt>Digest</dt><dd><code>{{digest}}</code></dd>
        <dt>Type</dt><dd>{{kind}}</dd>
        <dt>Media type</dt><dd><code>{{mediaType}}</code></dd>
        {{#artifactType}}<dt>Artifact type</dt><dd><code>{{artifactType}}</code></dd>{{/artifactType}}
        <dt>Size</dt><dd>{{size}} (with everything it references: {{totalSize}})</dd>
        <dt>Stored</dt><dd>{{created}}</dd>
        <dt>Tags</dt><dd>{{#tags}}<span class="tag">{{.}}</span> {{/tags}}{{^tags}}none{{/tags}}</dd>
        {{#subject}}<dt>Refers to</dt><dd><a href="{{base}}/repositories/{{name}}/-/manifests/{{subject}}"><code>{{subject}}</code></a></dd>{{/subject}}
        </dl>
        {{^empty(pulls)}}<h2>Pull</h2><ul class="plain">{{#pulls}}<li><input class="copy" readonly aria-label="Pull command" value="{{.}}"></li>{{/pulls}}</ul>{{/empty(pulls)}}
        {{^empty(children)}}
        <h2>Platforms</h2>
        <div class="scroll"><table><thead><tr><th scope="col">Platform</th><th scope="col">Manifest</th><th scope="col">Size</th></tr></thead><tbody>
        {{#children}}<tr><th scope="row">{{platform}}</th><td><a href="{{base}}/repositories/{{name}}/-/manifests/{{digest}}"><code title="{{digest}}">{{short}}</code></a></td><td>{{size}}</td></tr>
        {{/children}}</tbody></table></div>
        {{/empty(children)}}
        {{#config}}<h2>Config</h2><p><code>{{digest}}</code> · <code>{{mediaType}}</code> · {{size}}</p>{{/config}}
        {{^empty(layers)}}
        <h2>Layers</h2>
        <div class="scroll"><table><thead><tr><th scope="col">#</th><th scope="col">Digest</th><th scope="col">Media type</th><th scope="col">Size</th></tr></thead><tbody>
        {{#layers}}<tr><td>{{number}}</td><td><code title="{{digest}}">{{short}}</code></td><td><code>{{mediaType}}</code></td><td>{{size}}</td></tr>
        {{/layers}}</tbody></table></div>
        {{/empty(layers)}}
        <h2>Referrers</h2>
        {{#referrers}}<h3><code>{{artifactType}}</code></h3><ul>{{#manifests}}<li><a href="{{base}}/repositories/{{name}}/-/manifests/{{digest}}"><code>{{digest}}</code></a> · {{size}}</li>{{/manifests}}</ul>
        {{/referrers}}
        {{^referrers}}<p>No signatures, SBOMs or other artifacts refer to this manifest.</p>{{/referrers}}
        {{^empty(parents)}}<h2>Listed by</h2><ul>{{#parents}}<li><a href="{{base}}/repositories/{{name}}/-/manifests/{{.}}"><code>{{.}}</code></a></li>{{/parents}}</ul>{{/empty(parents)}}
        {{^empty(annotations)}}
        <h2>Annotations</h2>
        <dl class="facts">{{#annotations}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/annotations}}</dl>
        {{/empty(annotations)}}
        <h2>Manifest</h2>
        <pre class="raw" tabindex="0"><code>{{raw}}</code></pre>
        {{#canDelete}}<p><a class="danger" href="{{base}}/repositories/{{name}}/-/manifests/{{digest}}/delete">Delete this manifest</a></p>{{/canDelete}}
        """

    static let confirm = """
        <p>{{question}}</p>
        <form method="post" action="{{action}}">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button class="danger" type="submit">{{button}}</button>
        <a href="{{back}}">Cancel</a>
        </form>
        """

    static let audit = """
        <section aria-labelledby="chain">
        <h2 id="chain">Chain</h2>
        {{#chain}}<p class="{{#intact}}ok{{/intact}}{{^intact}}error{{/intact}}" id="chain-status">{{#intact}}Intact: {{records}} records verified{{/intact}}{{^intact}}Damaged: {{records}} records checked{{/intact}} at {{at}}.</p>
        {{^empty(problems)}}<ul>{{#problems}}<li>{{.}}</li>{{/problems}}</ul>{{/empty(problems)}}{{/chain}}
        {{^chain}}<p id="chain-status">Verification is running; reload in a moment.</p>{{/chain}}
        </section>
        <form class="filter grid" method="get" action="{{base}}/audit">
        <label for="since">From (UTC)</label><input id="since" name="since" value="{{since}}" placeholder="2026-12-01T00:00:00Z">
        <label for="until">Until (UTC)</label><input id="until" name="until" value="{{until}}" placeholder="2026-12-08">
        <label for="actor">Actor</label><input id="actor" name="actor" value="{{actor}}">
        <label for="repository">Repository</label><input id="repository" name="repository" value="{{repository}}">
        <label for="action">Action</label><input id="action" name="action" value="{{action}}" list="actions">
        <datalist id="actions">{{#actions}}<option value="{{.}}">{{/actions}}</datalist>
        <label for="status">Result</label><input id="status" name="status" value="{{status}}" placeholder="4xx or 404">
        <button type="submit">Filter</button>
        <a href="{{exportHref}}" download>Export as JSON lines</a>
        </form>
        {{^empty(rows)}}
        <div class="scroll"><table>
        <caption>Audit records, newest first</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Repository</th><th scope="col">Reference</th><th scope="col">Result</th><th scope="col">Client</th><th scope="col">User agent</th><th scope="col">Detail</th></tr></thead>
        <tbody>
        {{#rows}}<tr><td>{{time}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{repository}}</td><td>{{reference}}</td><td>{{status}}</td><td>{{client}}</td><td>{{userAgent}}</td><td>{{detail}}</td></tr>
        {{/rows}}
        </tbody></table></div>
        {{/empty(rows)}}
        {{^rows}}<p>No records match.</p>{{/rows}}
        {{#next}}<p><a rel="next" href="{{next}}">Older records</a></p>{{/next}}
        """

    static let replication = """
        <p>Worker pool: {{poolSize}} workers (between {{poolMin}} and {{poolMax}}).</p>
        {{^empty(rules)}}
        <div class="scroll"><table>
        <caption>Replication rules</caption>
        <thead><tr><th scope="col">Rule</th><th scope="col">Direction</th><th scope="col">Remote</th><th scope="col">Lag (p50 / p99)</th><th scope="col">Queued</th><th scope="col">Running</th><th scope="col">Failed</th><th scope="col">Done</th><th scope="col">Copied</th><th scope="col">Last success</th><th scope="col">Workers</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
        {{#rules}}<tr><th scope="row">{{name}}{{^enabled}} (disabled){{/enabled}}</th><td>{{direction}}</td><td>{{remote}}</td><td>{{lag}}</td><td>{{queued}}</td><td>{{running}}</td><td>{{failed}}</td><td>{{done}}</td><td>{{copied}}</td><td>{{lastSuccess}}</td><td>{{workers}}</td>
        <td><form method="post" action="{{base}}/replication/{{name}}/run"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Run now</button></form></td></tr>
        {{/rules}}
        </tbody></table></div>
        {{#rules}}{{^empty(failures)}}<h2>Recent failures of {{name}}</h2><ul>{{#failures}}<li>{{repository}} {{reference}}: {{error}} ({{attempts}} attempts, {{at}})</li>{{/failures}}</ul>{{/empty(failures)}}{{/rules}}
        {{/empty(rules)}}
        {{^rules}}<p>No replication rules are configured.</p>{{/rules}}
        {{#message}}<p class="ok" role="status">{{message}}</p>{{/message}}
        """

    static let p2p = """
        <p>Agents fetched {{originBytes}} from the origin and {{peerBytes}} from one another ({{peerShare}} from peers).</p>
        {{^empty(swarms)}}
        <div class="scroll"><table>
        <caption>Swarms, one per blob</caption>
        <thead><tr><th scope="col">Blob</th><th scope="col">Pieces</th><th scope="col">Peers</th><th scope="col">Complete</th><th scope="col">Distrusted</th><th scope="col">From origin</th><th scope="col">From peers</th></tr></thead>
        <tbody>
        {{#swarms}}<tr><th scope="row"><code title="{{digest}}">{{short}}</code></th><td>{{pieces}}</td><td>{{peers}}</td><td>{{seeds}}</td><td>{{untrusted}}</td><td>{{originBytes}}</td><td>{{peerBytes}}</td></tr>
        {{/swarms}}
        </tbody></table></div>
        {{/empty(swarms)}}
        {{^swarms}}<p>No agent is fetching or sharing a blob right now.</p>{{/swarms}}
        """

    static let overview = """
        <dl class="facts">
        <dt>Repositories</dt><dd>{{repositories}}</dd>
        <dt>Tags</dt><dd>{{tags}}</dd>
        <dt>Manifests</dt><dd>{{manifests}}</dd>
        <dt>Blobs stored</dt><dd>{{blobs}}, {{storedBytes}}</dd>
        <dt>Saved by sharing</dt><dd>{{savedBytes}} ({{savedShare}} of {{linkedBytes}} that the repositories hold together)</dd>
        <dt>Last garbage collection</dt><dd>{{#lastCollection}}{{at}}: {{blobs}} blobs, {{bytes}} freed{{/lastCollection}}{{^lastCollection}}none since this instance started{{/lastCollection}}</dd>
        <dt>Encryption</dt><dd>{{#activeKey}}on; active master key <code>{{activeKey}}</code> of {{keyCount}}{{/activeKey}}{{^activeKey}}off{{/activeKey}}</dd>
        </dl>
        """

    static let error = """
        <p class="error" role="alert">{{message}}</p>
        <p><a href="{{base}}/">Back to the console</a></p>
        """
}
