import Mustache

/// Renders the console's pages: a page's own template, then the layout around it.
package struct ConsoleRenderer: Sendable {
    package struct NavItem: Sendable {
        let label: String
        let href: String
        let current: Bool
    }

    /// The signed-in identity in the header, with the token its sign-out form carries.
    package struct SignedIn: Sendable {
        let name: String
        let csrf: String

        package init(name: String, csrf: String) {
            self.name = name
            self.csrf = csrf
        }
    }

    private struct Layout: Sendable {
        let title: String
        let base: String
        let nav: [NavItem]
        let viewer: SignedIn?
        let content: String
    }

    private let library: MustacheLibrary
    /// The console's path (`/ui`), which every link starts with.
    package let base: String

    package init(base: String) throws {
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all { try library.register(text, named: name) }
        self.library = library
        self.base = base
    }

    /// The page `template` of `view`, in the layout; `section` names the navigation entry to mark as current.
    package func page(
        _ template: String, _ view: Any, title: String, section: String?, admin: Bool, viewer: SignedIn?
    ) -> String {
        let content = library.render(view, withTemplate: template) ?? ""
        var sections = [("Repositories", "repositories")]
        if admin {
            sections =
                [("Overview", "overview")] + sections + [("Audit", "audit"), ("Replication", "replication"), ("P2P", "p2p")]
        }
        let nav = sections.map { label, path in
            NavItem(label: label, href: path == "overview" ? "\(base)/" : "\(base)/\(path)", current: path == section)
        }
        return library.render(
            Layout(title: title, base: base, nav: nav, viewer: viewer, content: content), withTemplate: "layout") ?? ""
    }
}
