/**
 * One unary call to the node's own datastore over its etcd unix socket (no TLS: the socket is
 * the node's, mode 0600 in its data folder). Bounded by a deadline; a datastore that does not
 * answer is MK_NOT_RUNNING. It uses our own small gRPC client and codec, so the cluster agent
 * does not load grpc-js.
 */
import net from 'node:net';
import { GrpcStatusError, Status } from '../datastore/etcd/grpc/status.js';
import { unaryCall } from '../datastore/etcd/grpc/unary-client.js';
import { loadEtcdServices } from '../datastore/etcd/proto.js';
import { MicroK8sError } from '../lib/errors.js';

const LOCAL_ETCD_LIMITS = { callTimeoutMs: 3_000 } as const;

type Service = 'KV' | 'Cluster' | 'Lease';

/** A datastore that answers but has no leader or runs late is not "not running". */
function codeOf(error: unknown): 'MK_NO_LEADER' | 'MK_TIMEOUT' | 'MK_NOT_RUNNING' {
  if (error instanceof GrpcStatusError && error.code === Status.DEADLINE_EXCEEDED) return 'MK_TIMEOUT';
  if (/no leader/.test((error as Error).message ?? '')) return 'MK_NO_LEADER';
  return 'MK_NOT_RUNNING';
}

export async function localEtcdCall<T>(
  etcdSocket: string,
  service: Service,
  method: string,
  request: object,
): Promise<T> {
  const definition = loadEtcdServices()[service][method];
  if (!definition) throw new MicroK8sError('MK_INTERNAL', `no method ${service}.${method}`);
  try {
    const answer = await unaryCall({
      connect: () => net.connect(etcdSocket),
      path: definition.path,
      request: definition.requestSerialize(request),
      deadlineMs: LOCAL_ETCD_LIMITS.callTimeoutMs,
    });
    return definition.responseDeserialize(answer) as T;
  } catch (error) {
    throw new MicroK8sError(
      codeOf(error),
      `the local datastore's etcd socket ${etcdSocket} does not answer ${service}.${method} (${(error as Error).message})`,
      {},
      { cause: error },
    );
  }
}
