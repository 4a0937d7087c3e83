// A module of the lowest layer that imports upwards: what the check must catch.
import type { X } from '../node/x.js';

export type Up = X[];
