/**
 * Loading profiles from disk (YAML, validated by zod): config-time work. See ./profiles.ts for why
 * the agent's long-running process gets them as a ProfileTable instead.
 */
import { loadOpcuaProfile } from '@dayi/protocols/opcua/profile.ts';
import { loadModbusProfile } from './modbus/profiles.ts';
import {
  type ProfileKind,
  type ProfileKinds,
  type Profiles,
  type ProfileTable,
  profileKey,
} from './profiles.ts';
import type { InputConfig } from './schemas.ts';

const LOADERS: { [K in ProfileKind]: (profilesDir: string, name: string) => ProfileKinds[K] } = {
  modbus: loadModbusProfile,
  opcua: loadOpcuaProfile,
};

/** Profiles read from `profilesDir` when first asked for; each file is read once, errors included. */
export function diskProfiles(profilesDir: string): Profiles {
  const loaded = new Map<string, { profile: unknown } | { error: Error }>();
  return {
    get<K extends ProfileKind>(kind: K, name: string): ProfileKinds[K] {
      const key = profileKey(kind, name);
      let entry = loaded.get(key);
      if (!entry) {
        try {
          entry = { profile: LOADERS[kind](profilesDir, name) };
        } catch (err) {
          entry = { error: err as Error };
        }
        loaded.set(key, entry);
      }
      if ('error' in entry) throw entry.error;
      return entry.profile as ProfileKinds[K];
    },
  };
}

/** The profile an input names, if it names one. */
export function profileOf(input: InputConfig): { kind: ProfileKind; name: string } | undefined {
  if ((input.type === 'modbus' || input.type === 'opcua') && input.profile)
    return { kind: input.type, name: input.profile };
  return undefined;
}

/**
 * Every profile the instruments' inputs name, loaded now, or the message of the error loading it
 * gave (an input whose profile is bad reports that error when it starts, as it would have).
 */
export function profileTable(
  instruments: readonly { inputs: readonly InputConfig[] }[],
  profiles: Profiles,
): ProfileTable {
  const table: ProfileTable = {};
  for (const inst of instruments)
    for (const input of inst.inputs) {
      const ref = profileOf(input);
      if (!ref) continue;
      const key = profileKey(ref.kind, ref.name);
      if (Object.hasOwn(table, key)) continue;
      try {
        table[key] = { profile: profiles.get(ref.kind, ref.name) };
      } catch (err) {
        table[key] = { error: (err as Error).message };
      }
    }
  return table;
}
