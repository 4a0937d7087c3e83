/**
 * Named limits. Every size, count and duration that bounds a queue, a batch or a retry is
 * declared here or next to its owner through `defineLimit`, and is validated when configured.
 */
import { MicroK8sError } from './errors.js';

export interface LimitSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly unit: string;
}

/** Validate a configured value against a limit and return it; throws MK_INVALID_CONFIG otherwise. */
export function checkLimit(spec: LimitSpec, value: number): number {
  if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
    throw new MicroK8sError(
      'MK_INVALID_CONFIG',
      `${spec.name} must be an integer between ${spec.min} and ${spec.max} ${spec.unit}, got ${value}`,
      { limit: spec.name, value },
    );
  }
  return value;
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
