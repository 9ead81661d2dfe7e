// Bare Aedes on loopback, the baseline of bench/ingest: no auth, in-memory persistence, the same
// TCP_NODELAY as the collector so that only the broker differs.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const broker = await Aedes.createBroker();
createServer({ noDelay: true }, broker.handle).listen(Number(process.argv[2]), '127.0.0.1');
