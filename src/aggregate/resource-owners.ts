// Which member a resource URI belongs to, in one aggregate session. URIs are kept as the
// members list them (MCP Apps `ui://` URIs, which tools name in `_meta.ui.resourceUri`, must
// reach the host unchanged), so a read is routed by who listed the URI: in resources/list,
// in a resource template, or as a tool's UI resource. The first member to list a URI owns it.
export class ResourceOwners {
  private readonly exact = new Map<string, string>();
  private readonly templates: { member: string; pattern: RegExp }[] = [];
  private readonly templateSources = new Set<string>();

  listed(member: string, uri: string): void {
    if (!this.exact.has(uri)) this.exact.set(uri, member);
  }

  /** An RFC 6570 template: each `{…}` expression matches one or more characters. */
  template(member: string, uriTemplate: string): void {
    const key = `${member}\u0000${uriTemplate}`;
    if (this.templateSources.has(key) || this.templateSources.size >= 10_000) return;
    this.templateSources.add(key);
    // completion/complete names a template by its text.
    this.listed(member, uriTemplate);
    const body = uriTemplate
      .split(/(\{[^}]*\})/)
      .map((part) => (part.startsWith('{') && part.endsWith('}') ? (/^\{[+#]/.test(part) ? '.+' : '[^/]+') : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    this.templates.push({ member, pattern: new RegExp(`^${body}$`, 's') });
  }

  /** The UI resource a tool names (MCP Apps: `_meta.ui.resourceUri`, or the older `_meta["ui/resourceUri"]`). */
  fromTool(member: string, tool: Record<string, unknown>): void {
    const meta = tool._meta as Record<string, unknown> | undefined;
    if (!meta || typeof meta !== 'object') return;
    const ui = meta.ui as Record<string, unknown> | undefined;
    for (const uri of [ui && typeof ui === 'object' ? ui.resourceUri : undefined, meta['ui/resourceUri']]) if (typeof uri === 'string') this.listed(member, uri);
  }

  /** The member that listed `uri`; with none, the only member that has resources at all. */
  ownerOf(uri: string, withResources: readonly string[]): string | undefined {
    const hit = this.exact.get(uri) ?? this.templates.find((t) => t.pattern.test(uri))?.member;
    if (hit !== undefined) return hit;
    return withResources.length === 1 ? withResources[0] : undefined;
  }
}
