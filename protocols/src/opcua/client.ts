/**
 * OPC UA session helpers shared by the agent's opcua input: browse-path resolution by browse
 * name (robust to namespace indexes and node ids that change between server restarts) and
 * conversion of DataValues into metrics and state texts.
 */
import {
  type BrowseDescriptionLike,
  BrowseDirection,
  browseAll,
  DataType,
  type DataValue,
  type LocalizedText,
  NodeClassMask,
  type NodeId,
  type QualifiedName,
  type ReferenceDescription,
  resolveNodeId,
} from 'node-opcua';
import { type BrowsePath, formatBrowsePath, formatSegment, segmentNamespace } from './browse-path.ts';

export const OBJECTS_FOLDER = 'i=85';
export const ROOT_FOLDER = 'i=84';

/** What resolution needs from a session (a node-opcua ClientSession satisfies it). */
export type BrowsingSession = Parameters<typeof browseAll>[0];

/** A browse path that does not lead to a node, with what was found at the step that failed. */
export class BrowsePathError extends Error {
  readonly browsePath: string;
  constructor(message: string, browsePath: string) {
    super(message);
    this.name = 'BrowsePathError';
    this.browsePath = browsePath;
  }
}

export interface ResolveContext {
  namespaceArray: readonly string[];
  aliases: Readonly<Record<string, string>>;
  /** Children per node, shared by the resolutions of one connection (one browse per node). */
  cache?: Map<string, ReferenceDescription[]>;
}

/** The hierarchical children (objects and variables) of a node, following continuation points. */
export async function browseChildren(
  session: BrowsingSession,
  nodeId: NodeId,
  cache?: Map<string, ReferenceDescription[]>,
): Promise<ReferenceDescription[]> {
  const key = nodeId.toString();
  const hit = cache?.get(key);
  if (hit) return hit;
  const desc: BrowseDescriptionLike = {
    nodeId,
    referenceTypeId: 'HierarchicalReferences',
    includeSubtypes: true,
    browseDirection: BrowseDirection.Forward,
    nodeClassMask: NodeClassMask.Object | NodeClassMask.Variable,
    resultMask: 0x3f,
  };
  const result = await browseAll(session, desc);
  if (result.statusCode.isNotGood())
    throw new Error(`browse of ${key} failed: ${result.statusCode.toString()}`);
  const refs = result.references ?? [];
  cache?.set(key, refs);
  return refs;
}

function qualified(q: QualifiedName): string {
  return q.namespaceIndex === 0 ? String(q.name) : `${q.namespaceIndex}:${q.name}`;
}

/**
 * Follows a browse path from `base` (or from the Root folder for an absolute path) by browse
 * names, step by step. Returns every node it leads to (several only with `*`). Throws a
 * BrowsePathError naming the step that failed and the children that were there instead.
 */
export async function resolveBrowsePath(
  session: BrowsingSession,
  path: BrowsePath,
  base: NodeId,
  ctx: ResolveContext,
): Promise<NodeId[]> {
  const text = formatBrowsePath(path);
  let frontier: NodeId[] = [path.absolute ? resolveNodeId(ROOT_FOLDER) : base];
  for (const [i, seg] of path.segments.entries()) {
    let want: { namespaceIndex: number | undefined; name: string } | undefined;
    if (seg.kind === 'name') {
      const ns = segmentNamespace(seg, ctx.namespaceArray, ctx.aliases);
      if (ns instanceof Error) throw new BrowsePathError(`browse path ${text}: ${ns.message}`, text);
      want = ns;
    }
    const next = new Map<string, NodeId>();
    const seen: string[] = [];
    for (const node of frontier) {
      for (const ref of await browseChildren(session, node, ctx.cache)) {
        const bn = ref.browseName;
        seen.push(qualified(bn));
        if (
          want === undefined ||
          (bn.name === want.name &&
            (want.namespaceIndex === undefined || bn.namespaceIndex === want.namespaceIndex))
        )
          next.set(ref.nodeId.toString(), ref.nodeId);
      }
    }
    if (next.size === 0) {
      const upTo = formatBrowsePath(path, i) || '(base)';
      const there = [...new Set(seen)].slice(0, 20).join(', ') || 'no children';
      throw new BrowsePathError(
        `browse path ${text}: no ${formatSegment(seg)} under ${upTo} (found: ${there})`,
        text,
      );
    }
    frontier = [...next.values()];
  }
  return frontier;
}

/** A DataValue as a number for a metric, or undefined when it is not numeric (or bad). */
export function dataValueNumber(dv: DataValue): number | undefined {
  if (dv.statusCode.isNotGood()) return undefined;
  const v = dv.value;
  if (!v || v.value === null || v.value === undefined) return undefined;
  const raw: unknown = v.value;
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'boolean') return raw ? 1 : 0;
  if (typeof raw === 'bigint') return Number(raw);
  // node-opcua carries Int64/UInt64 as [high, low] 32-bit words.
  if ((v.dataType === DataType.Int64 || v.dataType === DataType.UInt64) && Array.isArray(raw)) {
    const [hi, lo] = raw as [number, number];
    return hi * 2 ** 32 + lo;
  }
  return undefined;
}

/** A DataValue as text, for state machines and mapped enumerations (LocalizedText, String, …). */
export function dataValueText(dv: DataValue): string | undefined {
  if (dv.statusCode.isNotGood()) return undefined;
  const v = dv.value;
  if (!v || v.value === null || v.value === undefined) return undefined;
  switch (v.dataType) {
    case DataType.LocalizedText:
      return (v.value as LocalizedText).text ?? undefined;
    case DataType.QualifiedName:
      return String((v.value as QualifiedName).name);
    case DataType.String:
      return v.value as string;
    default: {
      const n = dataValueNumber(dv);
      return n === undefined ? undefined : String(n);
    }
  }
}
