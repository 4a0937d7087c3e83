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
    throw new MicroK8sError(
      'MK_NOT_RUNNING',
      `the local datastore's etcd socket ${etcdSocket} does not answer ${service}.${method} (${(error as Error).message})`,
      {},
      { cause: error },
    );
  } finally {
    client.close();
  }
}
