// The worker's API-server proxy over real sockets on 127.0.52.x: echo servers stand in for the
// control-plane API servers. Every wait is bounded; nothing depends on how fast things happen.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pickUpstream } from '../../src/cluster/apiserver-proxy/balancer.js';
import { type ApiServerProxy, startApiServerProxy } from '../../src/cluster/apiserver-proxy/proxy.js';
import { type Upstream, UpstreamSet } from '../../src/cluster/apiserver-proxy/upstreams.js';
import { isMicroK8sError, type MicroK8sError } from '../../src/lib/errors.js';
import { createLogger } from '../../src/lib/log.js';

const PROXY_HOST = '127.0.52.1';
const WAIT_MS = 10_000;
const quiet = createLogger('apiserver-proxy', { level: 'error' });

/** An upstream: greets with its name on a line, then echoes; answers a half-close with its own end. */
class Echo {
  server: Server | undefined;
  port = 0;
  readonly sockets = new Set<Socket>();
  constructor(
    readonly name: string,
    readonly host: string,
  ) {}

  async start(): Promise<this> {
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.write(`${this.name}\n`);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.port }, () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  /** Gone like a crashed API server: the port refuses and open connections are cut. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }

  get endpoint() {
    return { host: this.host, port: this.port };
  }
}

interface Conn {
  socket: Socket;
  /** The upstream's name (its greeting). */
  upstream: string;
  received: () => string;
  /** Resolves when nothing more will be received. */
  closed: Promise<void>;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: PROXY_HOST, port, allowHalfOpen: true });
    let data = '';
    let greeted = false;
    // The upstream side is done: its end (FIN) arrived, or the socket closed.
    const closed = new Promise<void>((r) => {
      socket.once('end', () => r());
      socket.once('close', () => r());
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no greeting from an upstream'));
    }, WAIT_MS);
    let failure = '';
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure = ` (${error.code ?? error.message})`;
    });
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const nl = data.indexOf('\n');
      if (!greeted && nl >= 0) {
        greeted = true;
        clearTimeout(timer);
        const upstream = data.slice(0, nl);
        data = data.slice(nl + 1);
        resolve({ socket, upstream, received: () => data, closed });
      }
    });
    // Half-open is allowed (to test half-closes), so a FIN from the proxy shows as 'end'.
    const gone = () => {
      clearTimeout(timer);
      if (!greeted) {
        socket.destroy();
        reject(new Error(`closed before any greeting (got '${data}')${failure}`));
      }
    };
    socket.once('end', gone);
    socket.once('close', gone);
  });
}

/** Open a connection, note which upstream took it, close it. */
async function whoAnswers(proxy: ApiServerProxy): Promise<string> {
  const c = await open(proxy.address().port);
  c.socket.destroy();
  await c.closed;
  return c.upstream;
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(20);
  }
  throw new Error(`${what}: not within ${WAIT_MS} ms`);
}

function stat(proxy: ApiServerProxy, echo: Echo) {
  const s = proxy.stats().upstreams.find((u) => u.upstream === `${echo.host}:${echo.port}`);
  assert.ok(s, `no stats for ${echo.name}`);
  return s;
}

async function three(): Promise<Echo[]> {
  return Promise.all(['a', 'b', 'c'].map((name, i) => new Echo(name, `127.0.52.${11 + i}`).start()));
}

const FAST = { healthIntervalMs: 50, healthTimeoutMs: 1_000, failThreshold: 2, connectTimeoutMs: 2_000 };

test('round-robin spreads connections over every upstream, and bytes flow both ways intact', async () => {
  const echoes = await three();
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: echoes.map((e) => e.endpoint),
    logger: quiet,
  });
  try {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push(await whoAnswers(proxy));
    assert.equal([...seen].sort(), ['a', 'a', 'b', 'b', 'c', 'c']);

    // 1 MiB through the proxy and back (backpressure on both pipes), then a half-close: the
    // client's end reaches the upstream, whose answer and end still come back.
    const c = await open(proxy.address().port);
    const payload = Buffer.alloc(1024 * 1024, 'x');
    c.socket.end(payload);
    await c.closed;
    assert.is(c.received().length, payload.length);
    await until('no active connections', () => proxy.stats().active === 0);
    assert.is(proxy.stats().total, 7);
    assert.is(proxy.stats().upstreams.length, 3);
    assert.ok(proxy.stats().upstreams.every((u) => u.healthy && u.active === 0));
  } finally {
    await proxy.stop();
    await Promise.all(echoes.map((e) => e.kill()));
  }
});

test('least-connections sends a new connection to the least busy upstream', async () => {
  const echoes = await three();
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: echoes.map((e) => e.endpoint),
    strategy: 'least-connections',
    logger: quiet,
  });
  try {
    const held = [await open(proxy.address().port), await open(proxy.address().port)];
    assert.equal(held.map((c) => c.upstream).sort(), ['a', 'b']);
    const third = await open(proxy.address().port);
    assert.is(third.upstream, 'c');
    // a and b are freed; c still has one: the next two go to a and b.
    for (const c of held) c.socket.destroy();
    await until(
      'a and b idle',
      () => stat(proxy, echoes[0]!).active === 0 && stat(proxy, echoes[1]!).active === 0,
    );
    const next = [await whoAnswers(proxy), await whoAnswers(proxy)];
    assert.equal(next.sort(), ['a', 'b']);
    assert.is(stat(proxy, echoes[2]!).active, 1);
    third.socket.destroy();
  } finally {
    await proxy.stop();
    await Promise.all(echoes.map((e) => e.kill()));
  }
});

test('a killed upstream loses its traffic at once, is taken out, and is used again when back', async () => {
  const echoes = await three();
  const [a, b, c] = echoes as [Echo, Echo, Echo];
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: echoes.map((e) => e.endpoint),
    logger: quiet,
    ...FAST,
  });
  try {
    await b.kill();
    // Even before a health check notices, a refused connect moves the client to the next one.
    for (let i = 0; i < 6; i++) assert.is.not(await whoAnswers(proxy), 'b');
    await until('b taken out', () => !stat(proxy, b).healthy);
    assert.ok(stat(proxy, b).lastError);
    assert.ok(stat(proxy, a).healthy && stat(proxy, c).healthy);
    for (let i = 0; i < 4; i++) assert.is.not(await whoAnswers(proxy), 'b');

    await b.start(); // the same address and port
    await until('b back', () => stat(proxy, b).healthy);
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await whoAnswers(proxy));
    assert.ok(seen.has('b'), `b not used again: ${[...seen]}`);
  } finally {
    await proxy.stop();
    await Promise.all(echoes.map((e) => e.kill()));
  }
});

test('all upstreams down: the client connection is closed with MK_PROXY_NO_UPSTREAM; one back serves again', async () => {
  const echoes = await three();
  const rejects: MicroK8sError[] = [];
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: echoes.map((e) => e.endpoint),
    logger: quiet,
    onReject: (error) => rejects.push(error),
    ...FAST,
  });
  try {
    await Promise.all(echoes.map((e) => e.kill()));
    // Whether the checks have noticed yet or not, the connection is closed without an answer.
    for (let i = 0; i < 2; i++) {
      const error = await open(proxy.address().port).then(
        () => undefined,
        (e: Error) => e,
      );
      assert.match(String(error), /closed before any greeting \(got ''\)/);
    }
    assert.is(rejects.length, 2);
    assert.ok(rejects.every((e) => isMicroK8sError(e, 'MK_PROXY_NO_UPSTREAM')));
    assert.match(rejects[0]!.message, /client connection was closed/);
    await until('all taken out', () => proxy.stats().upstreams.every((u) => !u.healthy));
    assert.is(proxy.stats().rejected, 2);

    await echoes[2]!.start();
    await until('c back', () => stat(proxy, echoes[2]!).healthy);
    assert.is(await whoAnswers(proxy), 'c');
  } finally {
    await proxy.stop();
    await Promise.all(echoes.map((e) => e.kill()));
  }
});

test('the upstream list is replaced at run time; open connections to a removed upstream carry on', async () => {
  const echoes = await three();
  const d = await new Echo('d', '127.0.52.14').start();
  const dead = { host: '127.0.52.15', port: d.port }; // nothing listens there
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: echoes.map((e) => e.endpoint),
    logger: quiet,
  });
  try {
    const kept = await open(proxy.address().port);
    await proxy.setUpstreams([d.endpoint, dead, echoes[0]!.endpoint]);
    const list = proxy.stats().upstreams;
    assert.equal(
      list.map((u) => [u.upstream, u.healthy]),
      [
        [`127.0.52.14:${d.port}`, true],
        [`127.0.52.15:${d.port}`, false], // checked before taking traffic: never used
        [`127.0.52.11:${echoes[0]!.port}`, true],
      ],
    );
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(await whoAnswers(proxy));
    assert.equal([...seen].sort(), ['a', 'd']);

    // The connection opened before the change still works.
    kept.socket.write('still here');
    await until('echo on the kept connection', () => kept.received() === 'still here');
    kept.socket.destroy();
  } finally {
    await proxy.stop();
    await Promise.all([...echoes, d].map((e) => e.kill()));
  }
});

test('maxConnections is a hard cap; stop() cuts open connections and frees the port', async () => {
  const a = await new Echo('a', '127.0.52.11').start();
  const proxy = await startApiServerProxy({
    listen: { host: PROXY_HOST, port: 0 },
    upstreams: [a.endpoint],
    maxConnections: 1,
    logger: quiet,
  });
  const port = proxy.address().port;
  const first = await open(port);
  const second = await open(port).then(
    () => 'answered',
    () => 'closed',
  );
  assert.is(second, 'closed');
  assert.is(proxy.stats().dropped, 1);
  await proxy.stop();
  await first.closed;
  first.socket.destroy();
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host: PROXY_HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
  assert.is(refused, 'ECONNREFUSED');
  await a.kill();
});

test('bad settings are clear errors: limits, upstreams, an address in use', async () => {
  const a = await new Echo('a', '127.0.52.11').start();
  try {
    const base = { listen: { host: PROXY_HOST, port: 0 }, upstreams: [a.endpoint], logger: quiet };
    for (const bad of [{ maxConnections: 0 }, { failThreshold: 0 }, { connectTimeoutMs: 1.5 }]) {
      await startApiServerProxy({ ...base, ...bad }).then(
        () => assert.unreachable('accepted'),
        (e) => assert.ok(isMicroK8sError(e, 'MK_INVALID_CONFIG'), String(e)),
      );
    }
    await startApiServerProxy({ ...base, upstreams: [{ host: '127.0.52.11', port: 0 }] }).then(
      () => assert.unreachable('accepted'),
      (e) => assert.ok(isMicroK8sError(e, 'MK_INVALID_ARGUMENT'), String(e)),
    );
    await startApiServerProxy({ ...base, listen: { host: a.host, port: a.port } }).then(
      () => assert.unreachable('accepted'),
      (e) => {
        assert.ok(isMicroK8sError(e, 'MK_PROXY_LISTEN'), String(e));
        assert.match(e.message, /EADDRINUSE/);
      },
    );
  } finally {
    await a.kill();
  }
});

test('the balancer: round-robin in turn, least-connections by load then in turn', () => {
  const set = new UpstreamSet([
    { host: '10.0.0.1', port: 16443 },
    { host: '10.0.0.2', port: 16443 },
    { host: 'fd00::3', port: 16443 },
  ]);
  const [x, y, z] = set.all() as [Upstream, Upstream, Upstream];
  assert.is(z.key, '[fd00::3]:16443');
  assert.equal(
    [0, 1, 2, 3].map((t) => pickUpstream(set.all(), 'round-robin', t)?.key),
    [x.key, y.key, z.key, x.key],
  );
  x.active = 2;
  y.active = 1;
  z.active = 1;
  assert.is(pickUpstream(set.all(), 'least-connections', 0), y);
  assert.is(pickUpstream(set.all(), 'least-connections', 2), z);
  assert.is(pickUpstream([], 'round-robin', 0), undefined);
  // K failures take it out, one success brings it back.
  assert.is(set.failed(x, 'ECONNREFUSED', 2), undefined);
  assert.is(set.failed(x, 'ECONNREFUSED', 2), 'down');
  assert.equal(set.healthy(), [y, z]);
  assert.is(set.succeeded(x), 'up');
  assert.is(x.failures, 0);
});

test.run();
