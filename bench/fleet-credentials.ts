/** Session i of bench/fleet: its agent username (= client id), password and instrument. */
export function fleetCredentials(i: number) {
  const n = String(i).padStart(5, '0');
  return { username: `fleet-${n}`, password: `fleet-password-${i}`, instrument: `FLEET-${n}` };
}
