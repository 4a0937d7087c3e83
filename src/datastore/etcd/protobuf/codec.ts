/**
 * Protobuf codecs for the message types of a schema (schema.ts), without protobufjs: decode gives
 * the objects @grpc/proto-loader gave with proto.ts's LOADER_OPTIONS (decode.ts), encode takes
 * what handlers return (encode.ts). The tables behind them are built once (compile.ts).
 */
import { MicroK8sError } from '../../../lib/errors.js';
import { type CompiledType, compileTypes } from './compile.js';
import { decodeMessage } from './decode.js';
import { encodeMessage } from './encode.js';
import type { Schema } from './schema.js';

export { EMPTY_BYTES } from './compile.js';
export { MAX_MESSAGE_DEPTH, PROTOBUF_ERROR_CODE } from './decode.js';

export interface MessageCodec<T = Record<string, unknown>> {
  /** Fully qualified type name, e.g. "etcdserverpb.PutRequest". */
  readonly name: string;
  /** Throws MicroK8sError(PROTOBUF_ERROR_CODE) on malformed input. */
  decode(buf: Uint8Array): T;
  /** Throws TypeError when a field holds a value of a type it cannot take (a handler bug). */
  encode(obj: object): Buffer;
}

class Codec implements MessageCodec {
  constructor(private readonly type: CompiledType) {}

  get name(): string {
    return this.type.name;
  }

  decode(buf: Uint8Array): Record<string, unknown> {
    return decodeMessage(this.type, buf);
  }

  encode(obj: object): Buffer {
    return encodeMessage(this.type, obj);
  }
}

export interface Codecs {
  /** The codec of a message type by its fully qualified name; MK_INTERNAL if there is none. */
  get(name: string): MessageCodec;
  readonly names: readonly string[];
}

/** Build the codec of every message type of `schema`. */
export function createCodecs(schema: Schema): Codecs {
  const codecs = new Map<string, MessageCodec>();
  for (const [name, type] of compileTypes(schema)) codecs.set(name, new Codec(type));
  return {
    names: [...codecs.keys()],
    get(name: string): MessageCodec {
      const codec = codecs.get(name);
      if (codec === undefined) throw new MicroK8sError('MK_INTERNAL', `no protobuf message type ${name}`);
      return codec;
    },
  };
}
