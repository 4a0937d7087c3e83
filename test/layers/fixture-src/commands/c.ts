export type C = number;
