/**
 * Browse paths as written in agent configs and OPC UA profiles, e.g.
 *   `machinery:MachineryBuildingBlocks/machinery:MachineryItemState/CurrentState`
 *
 * Segments are browse names separated by `/`. A segment may carry a namespace prefix, either a
 * namespace index (`2:Power`) or an alias of a namespace URI (`machinery:Machines`); aliases are
 * resolved against the server's NamespaceArray on every connect, because namespace indexes are
 * per server and may change when a server restarts. A segment without a prefix matches that name in
 * any namespace. `*` matches every child. A leading `/` starts at the Root folder; otherwise the
 * path is relative to a base node (the configured root, by default the Objects folder).
 *
 * This module is pure (no node-opcua import) so configs can be checked without a server.
 */

/** Well-known namespace URIs, usable as prefixes in every browse path. */
export const NAMESPACE_ALIASES: Readonly<Record<string, string>> = {
  ua: 'http://opcfoundation.org/UA/',
  di: 'http://opcfoundation.org/UA/DI/',
  machinery: 'http://opcfoundation.org/UA/Machinery/',
  lads: 'http://opcfoundation.org/UA/LADS/',
};

export type BrowseSegment =
  | { kind: 'name'; name: string /** index or alias as written, absent for any namespace */; prefix?: string }
  | { kind: 'any' };

export interface BrowsePath {
  /** True when the path starts with `/` (from the Root folder, not from the base node). */
  absolute: boolean;
  segments: BrowseSegment[];
}

const PREFIX = /^([A-Za-z_][A-Za-z0-9_.-]*|\d+):(.+)$/;

/** Parses a browse path; throws an Error naming the problem (empty path, empty segment). */
export function parseBrowsePath(text: string): BrowsePath {
  const trimmed = text.trim();
  const absolute = trimmed.startsWith('/');
  const body = absolute ? trimmed.slice(1) : trimmed;
  if (body === '') throw new Error('browse path is empty');
  const segments = body.split('/').map((raw, i): BrowseSegment => {
    const seg = raw.trim();
    if (seg === '') throw new Error(`browse path ${JSON.stringify(text)}: segment ${i + 1} is empty`);
    if (seg === '*') return { kind: 'any' };
    const m = PREFIX.exec(seg);
    if (m) return { kind: 'name', prefix: m[1]!, name: m[2]! };
    return { kind: 'name', name: seg };
  });
  return { absolute, segments };
}

export function formatSegment(seg: BrowseSegment): string {
  if (seg.kind === 'any') return '*';
  return seg.prefix === undefined ? seg.name : `${seg.prefix}:${seg.name}`;
}

export function formatBrowsePath(path: BrowsePath, upTo = path.segments.length): string {
  return (path.absolute ? '/' : '') + path.segments.slice(0, upTo).map(formatSegment).join('/');
}

export function hasWildcard(path: BrowsePath): boolean {
  return path.segments.some((s) => s.kind === 'any');
}

/**
 * The namespace a segment must match on a given server: a number, `undefined` for any namespace,
 * or an Error when an alias is unknown or its URI is not on this server. A prefix that is neither
 * a number nor a known alias is taken as part of the name (browse names may contain `:`).
 */
export function segmentNamespace(
  seg: { name: string; prefix?: string },
  namespaceArray: readonly string[],
  aliases: Readonly<Record<string, string>>,
): { namespaceIndex: number | undefined; name: string } | Error {
  if (seg.prefix === undefined) return { namespaceIndex: undefined, name: seg.name };
  if (/^\d+$/.test(seg.prefix)) return { namespaceIndex: Number(seg.prefix), name: seg.name };
  const uri = aliases[seg.prefix] ?? NAMESPACE_ALIASES[seg.prefix];
  if (uri === undefined) return { namespaceIndex: undefined, name: `${seg.prefix}:${seg.name}` };
  const index = namespaceArray.indexOf(uri);
  if (index < 0)
    return new Error(`namespace ${uri} (prefix ${seg.prefix}:) is not in the server's NamespaceArray`);
  return { namespaceIndex: index, name: seg.name };
}
