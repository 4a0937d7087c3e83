// A library module that imports a command: what the check must catch.
import type { C } from '../commands/c.js';

export type X = { c: C };
