/**
 * The agent's MQTT connections, without `mqtt.connect()`: that function loads mqtt.js's WebSocket,
 * TLS and SOCKS transports (and with them Node's http, https, tls and crypto) before its first
 * connection, about 6 MiB of resident memory in an agent whose whole budget is 60 MB. The agent's
 * config accepts only mqtt(s)/tcp/ssl/tls URLs, so it builds the client itself with these two
 * stream builders, which do what mqtt.js 5.16's `connect/tcp` and `connect/tls` do (minus SOCKS:
 * `MQTTJS_SOCKS_PROXY` is not read). TLS is loaded only for an mqtts broker.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { type IClientOptions, MqttClient } from 'mqtt';

const SECURE = new Set(['mqtts', 'ssl', 'tls']);

/**
 * What `mqtt.connect(url, options)` makes of a URL: host, port and protocol from it; a user and
 * password in the URL win over the options' (mqtt.js does the same); a client certificate and key
 * turn an mqtt:// URL into mqtts://.
 */
export function clientOptionsFor(url: string, options: IClientOptions): IClientOptions {
  const u = new URL(url);
  let protocol = u.protocol.replace(/:$/, '');
  const opts: IClientOptions = {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    ...(u.port !== '' ? { port: Number(u.port) } : {}),
    ...options,
  };
  if (u.username !== '') {
    opts.username = decodeURIComponent(u.username);
    if (u.password !== '') opts.password = decodeURIComponent(u.password);
  }
  if (opts.cert && opts.key && protocol === 'mqtt') protocol = 'mqtts';
  opts.protocol = protocol as IClientOptions['protocol'];
  return opts;
}

function tcpStream(opts: IClientOptions): Duplex {
  opts.port = opts.port || 1883;
  opts.hostname = opts.hostname || opts.host || 'localhost';
  return net.createConnection({ port: opts.port, host: opts.hostname });
}

function tlsStream(client: MqttClient, opts: IClientOptions): Duplex {
  const tls = process.getBuiltinModule('node:tls');
  opts.port = opts.port || 8883;
  opts.host = opts.hostname || opts.host || 'localhost';
  if (net.isIP(opts.host) === 0 && !opts.servername) opts.servername = opts.host;
  opts.rejectUnauthorized = opts.rejectUnauthorized !== false;
  const connection: TLSSocket = tls.connect(opts as ConnectionOptions);
  const onError = (err: Error) => {
    if (opts.rejectUnauthorized) client.emit('error', err);
    connection.end();
  };
  connection.on('secureConnect', () => {
    if (opts.rejectUnauthorized && !connection.authorized) {
      connection.emit('error', new Error('TLS not authorized'));
    } else {
      connection.removeListener('error', onError);
    }
  });
  connection.on('error', onError);
  return connection;
}

/** An MQTT client for `url`, connecting at once (as `mqtt.connect` does). */
export function connectMqtt(url: string, options: IClientOptions): MqttClient {
  const opts = clientOptionsFor(url, options);
  const secure = SECURE.has(String(opts.protocol));
  const client = new MqttClient((c: MqttClient) => (secure ? tlsStream(c, opts) : tcpStream(opts)), opts);
  // mqtt.connect adds this no-op too: an 'error' with no listener would throw.
  client.on('error', () => {});
  return client;
}
