/** Small helpers the benchmarks share: loopback ports and waiting. */
import { createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the server under test). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
