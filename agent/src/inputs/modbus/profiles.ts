import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '@dayi/protocols';
import { type ModbusProfile, profileSchema } from '@dayi/protocols/modbus/index.ts';

/** The file of a profile: `<profilesDir>/modbus/<name>.yaml`. */
export function profilePath(profilesDir: string, name: string): string {
  return join(profilesDir, 'modbus', `${name}.yaml`);
}

/**
 * Loads and validates a meter profile. Throws ConfigError naming the file and each bad path;
 * a profile whose `name` differs from its file name is refused, so renames cannot go unnoticed.
 */
export function loadModbusProfile(profilesDir: string, name: string): ModbusProfile {
  const file = profilePath(profilesDir, name);
  const profile = loadConfigFile(file, profileSchema, { env: {} });
  if (profile.name !== name) {
    throw new Error(`${file}: name is ${JSON.stringify(profile.name)}, expected ${JSON.stringify(name)}`);
  }
  return profile;
}

/** Names of the profiles shipped in `<profilesDir>/modbus/`. */
export function listModbusProfiles(profilesDir: string): string[] {
  try {
    return readdirSync(join(profilesDir, 'modbus'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => f.slice(0, -'.yaml'.length))
      .sort();
  } catch {
    return [];
  }
}
