/** Named bounds of following an address change: every wait is capped here. */
export const ADDRESS_LIMITS = {
  /** How often the cluster agent looks at the interfaces (a DHCP renewal is not urgent to the second). */
  checkEveryMs: 10_000,
} as const;
