import { createHash, timingSafeEqual } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { findStoredKey } from '../access/api-keys.ts';
import type { CollectorConfig, Role } from '../config.ts';
import { ApiError } from './errors.ts';

/** What a route needs; each role is granted a set of these (SPEC "REST API" roles). */
export const PERMISSIONS = [
  'read',
  'registry:write',
  'bookings:write',
  'alerts:ack',
  'alerts:report',
  'reports:read',
  'agents:register',
  'notifications:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  platform: ['read', 'registry:write', 'bookings:write', 'alerts:report'],
  manager: ['read', 'alerts:ack', 'alerts:report'],
  auditor: ['read', 'reports:read'],
  technician: ['read', 'agents:register', 'alerts:report'],
  admin: PERMISSIONS,
};

export interface ApiPrincipal {
  name: string;
  role: Role;
  /** The org the key is confined to (`apiKeys[].org`), null for a key that sees every org. */
  org: string | null;
}

interface StoredKey extends ApiPrincipal {
  digest: Buffer;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Keys are kept only as SHA-256 digests once loaded, and a presented key is compared with every
 * configured digest in constant time, so neither timing nor a heap dump gives a key away. Keys
 * made with `dayi apikey create` live in the store (`api_keys`) and are looked up by digest at
 * every request, so one made or revoked while the collector runs counts at once.
 */
export function createKeyring(apiKeys: CollectorConfig['apiKeys'], db?: DatabaseSync) {
  const keys: StoredKey[] = apiKeys.map((k) => ({
    name: k.name,
    role: k.role,
    org: k.org ?? null,
    digest: sha256(k.key),
  }));

  function identify(presented: string): ApiPrincipal | null {
    const digest = sha256(presented);
    let found: StoredKey | null = null;
    for (const k of keys) {
      // No early exit: every key is compared whatever matched.
      if (timingSafeEqual(k.digest, digest) && !found) found = k;
    }
    if (found) return { name: found.name, role: found.role, org: found.org };
    return db?.isOpen ? findStoredKey(db, digest) : null;
  }

  /** Resolves the Authorization header to a principal allowed `permission`, or throws 401/403. */
  function authorize(header: string | undefined, permission: Permission): ApiPrincipal {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m)
      throw new ApiError(
        'unauthorized',
        `header.authorization: ${header ? 'not a bearer token' : 'missing'}: send Authorization: Bearer <api key>`,
      );
    const principal = identify(m[1]!);
    if (!principal)
      throw new ApiError(
        'unauthorized',
        "header.authorization: this API key is not configured or was revoked: use a key from apiKeys in the collector's configuration or one made with dayi apikey create",
      );
    if (!ROLE_PERMISSIONS[principal.role].includes(permission)) {
      const roles = (Object.keys(ROLE_PERMISSIONS) as Role[]).filter((r) =>
        ROLE_PERMISSIONS[r].includes(permission),
      );
      throw new ApiError(
        'forbidden',
        `header.authorization: role ${principal.role} may not ${permission}: use a key of role ${roles.join(' or ')}`,
      );
    }
    return principal;
  }

  return { identify, authorize };
}
export type Keyring = ReturnType<typeof createKeyring>;
