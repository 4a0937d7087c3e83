/**
 * One unary call to the node's own datastore over its etcd unix socket (no TLS: the socket is
 * the node's, mode 0600 in its data folder). Bounded by a deadline; a datastore that does not
 * answer is MK_NOT_RUNNING.
 */
import * as grpc from '@grpc/grpc-js';
import { loadEtcdServices } from '../datastore/etcd/proto.js';
import { MicroK8sError } from '../lib/errors.js';

export const LOCAL_ETCD_LIMITS = { callTimeoutMs: 3_000 } as const;

type Service = 'KV' | 'Cluster';
type Unary = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, value?: unknown) => void,
) => void;

/** A datastore that answers but has no leader or runs late is not "not running". */
function codeOf(error: Partial<grpc.ServiceError>): 'MK_NO_LEADER' | 'MK_TIMEOUT' | 'MK_NOT_RUNNING' {
  if (error.code === grpc.status.DEADLINE_EXCEEDED) return 'MK_TIMEOUT';
  if (/no leader/.test(error.details ?? error.message ?? '')) return 'MK_NO_LEADER';
  return 'MK_NOT_RUNNING';
}

export async function localEtcdCall<T>(
  etcdSocket: string,
  service: Service,
  method: string,
  request: object,
): Promise<T> {
  const Client = grpc.makeGenericClientConstructor(loadEtcdServices()[service], service);
  const client = new Client(`unix:${etcdSocket}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<T>((resolve, reject) => {
      const call = (client as unknown as Record<string, Unary>)[method];
      if (!call) return reject(new Error(`no method ${service}.${method}`));
      const deadline = new Date(Date.now() + LOCAL_ETCD_LIMITS.callTimeoutMs);
      call.call(client, request, new grpc.Metadata(), { deadline }, (error, value) =>
        error || value === undefined ? reject(error ?? new Error('empty answer')) : resolve(value as T),
      );
    });
  } catch (error) {
    const message = (error as Error).message;
    throw new MicroK8sError(
      codeOf(error as Partial<grpc.ServiceError>),
      `the local datastore's etcd socket ${etcdSocket} does not answer ${service}.${method} (${message})`,
      {},
      { cause: error },
    );
  } finally {
    client.close();
  }
}
