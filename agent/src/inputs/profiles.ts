/**
 * Meter and OPC UA profiles as inputs get them when they start.
 *
 * A profile is a YAML file checked by a zod schema, and reading one is config-time work
 * (./profiles-load.ts). The installed agent does it before it starts (with the config, in a process
 * it then replaces, see ../main.ts), so the process that runs for months never loads the YAML parser
 * or zod: they would stay in its memory for its whole life (docs/performance.md, "Agent"). What it
 * gets instead is a ProfileTable: each profile the config names, loaded, or why it could not be.
 */
import type { ModbusProfile } from '@dayi/protocols/modbus/profile.ts';
import type { OpcuaProfile } from '@dayi/protocols/opcua/profile.ts';

export interface ProfileKinds {
  modbus: ModbusProfile;
  opcua: OpcuaProfile;
}
export type ProfileKind = keyof ProfileKinds;

export interface Profiles {
  /** The profile `<profilesDir>/<kind>/<name>.yaml`, validated. Throws why it cannot be had. */
  get<K extends ProfileKind>(kind: K, name: string): ProfileKinds[K];
}

/** A profile loaded beforehand, or the error loading it gave; JSON, to pass to another process. */
export type ProfileEntry = { profile: unknown } | { error: string };
/** Entries by `<kind>/<name>`. */
export type ProfileTable = Record<string, ProfileEntry>;

export function profileKey(kind: ProfileKind, name: string): string {
  return `${kind}/${name}`;
}

/** Profiles from a table made by ./profiles-load.ts `profileTable`: the same results, later. */
export function tableProfiles(table: ProfileTable): Profiles {
  return {
    get<K extends ProfileKind>(kind: K, name: string): ProfileKinds[K] {
      const key = profileKey(kind, name);
      const entry = Object.hasOwn(table, key) ? table[key] : undefined;
      if (!entry) throw new Error(`profile ${key} was not loaded with the config`);
      if ('error' in entry) throw new Error(entry.error);
      return entry.profile as ProfileKinds[K];
    },
  };
}
