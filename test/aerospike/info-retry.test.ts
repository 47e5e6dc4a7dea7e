/**
 * Info requests lost to a connection that closed under them (a server dropping an idle
 * pooled connection, a node restarting) are sent again on a new connection; timeouts
 * and nodes that keep failing still fail. Found by the chaos run: a node that stalled
 * while a backup planned (its info requests) failed the whole backup with "connection
 * closed by the server", before anything was saved to resume (`npm run chaos` with
 * AEROBAK_CHAOS_SEED=1, cycle 0; replay it alone with
 * AEROBAK_CHAOS_REPLAY="663542962:scan peer stops answering").
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError } from '../../src/aerospike/errors.js';
import { Node } from '../../src/aerospike/node.js';
import { encodeInfoReply, parseInfoRequest } from '../../src/aerospike/wire/info.js';
import { FrameParser, ProtoType } from '../../src/aerospike/wire/proto.js';

const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
});

/** A node that answers `build` on every connection after the first `drops`, and closes those on the first request. */
async function flakyInfoNode(drops: number): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    const n = ++connections;
    sockets.add(socket);
    socket.on('error', () => undefined);
    const parser = new FrameParser();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of parser.push(chunk)) {
        if (n <= drops) {
          socket.destroy();
          return;
        }
        if (frame.type === ProtoType.INFO) socket.write(encodeInfoReply(parseInfoRequest(frame.body).map((c) => [c, '8.1.2.0'] as const)));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

describe('Node.info', () => {
  it('sends the request again on a new connection when the server closes one under it', async () => {
    const server = await flakyInfoNode(2);
    const node = new Node('BB9', '127.0.0.1', server.port, { infoTimeoutMs: 2000, connectTimeoutMs: 2000 });
    expect(await node.info(['build'])).toEqual(new Map([['build', '8.1.2.0']]));
    expect(server.connections()).toBe(3);
    node.close();
  });

  it('gives up after three tries, with the connection error', async () => {
    const server = await flakyInfoNode(10);
    const node = new Node('BB9', '127.0.0.1', server.port, { infoTimeoutMs: 2000, connectTimeoutMs: 2000 });
    await expect(node.info(['build'])).rejects.toBeInstanceOf(ConnectionError);
    expect(server.connections()).toBe(3);
    node.close();
  });

  it('does not retry a timeout: the node had its whole info timeout', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('error', () => undefined); // never answers
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const node = new Node('BB9', '127.0.0.1', (server.address() as net.AddressInfo).port, { infoTimeoutMs: 300, connectTimeoutMs: 2000 });
    const err = await node.info(['build']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).isTimeout).toBe(true);
    expect(connections).toBe(1);
    node.close();
  });
});
