/**
 * The `peers-clear-std` info value (and `peers-clear-alt`, `peers-tls-std`,
 * `peers-tls-alt`, which have the same form): the other nodes of the cluster and their
 * addresses. The `-tls-` values list the TLS service and each peer's TLS name; the
 * `-alt` values the alternate (access) addresses a cluster behind NAT announces.
 *
 *   <generation>,<default port>,[<peer>,...]      peer = [<node name>,<tls name>,[<host>[:<port>],...]]
 *
 * A host without a port uses the default port; IPv6 hosts are bracketed ("[::1]:3000").
 * The tls name is empty for clear-text peers. "0,3000,[]" lists no peers.
 */
import type { Endpoint } from './connection.js';
import { ProtocolError } from './wire/proto.js';

export interface Peer {
  name: string;
  tlsName: string;
  endpoints: Endpoint[];
}

export interface PeersReply {
  generation: number;
  peers: Peer[];
}

export function parsePeers(value: string, command = 'peers-clear-std'): PeersReply {
  let at = 0;
  const fail = (what: string): never => {
    throw new ProtocolError(`bad ${command} value at offset ${at} (${what}): ${value}`);
  };
  const expect = (ch: string): void => {
    if (value[at] !== ch) fail(`expected "${ch}"`);
    at++;
  };
  const until = (stops: string): string => {
    const start = at;
    while (at < value.length && !stops.includes(value[at]!)) at++;
    return value.slice(start, at);
  };

  const generation = Number(until(','));
  expect(',');
  const portText = until(',');
  const defaultPort = portText === '' ? 3000 : Number(portText);
  expect(',');
  if (!Number.isInteger(generation) || !Number.isInteger(defaultPort)) fail('generation or port is not a number');

  const parseHost = (): Endpoint => {
    let host: string;
    if (value[at] === '[') {
      at++;
      host = until(']');
      expect(']');
    } else {
      host = until(':,]');
    }
    let port = defaultPort;
    if (value[at] === ':') {
      at++;
      port = Number(until(',]'));
      if (!Number.isInteger(port)) fail('port is not a number');
    }
    return { host, port };
  };

  const peers: Peer[] = [];
  expect('[');
  while (value[at] === '[') {
    at++;
    const name = until(',');
    expect(',');
    const tlsName = until(',');
    expect(',');
    expect('[');
    const endpoints: Endpoint[] = [];
    while (value[at] !== ']') {
      endpoints.push(parseHost());
      if (value[at] === ',') at++;
      else if (value[at] !== ']') fail('expected "," or "]" after a host');
    }
    expect(']');
    expect(']');
    peers.push({ name, tlsName, endpoints });
    if (value[at] === ',') at++;
  }
  expect(']');
  return { generation, peers };
}
