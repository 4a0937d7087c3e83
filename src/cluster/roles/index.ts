export {
  DEFAULT_STANDBYS,
  DEFAULT_VOTERS,
  desiredRoles,
  type EffectiveTargets,
  effectiveTargets,
  type MemberState,
  type PlannedChange,
  type PlannerInput,
  planRoles,
  type RoleTargets,
} from './planner.js';
