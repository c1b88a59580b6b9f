import type { RuntimeServer } from './types.js';

/** Bits of `srv_admin_state` in `show servers state` (HAProxy's SRV_ADMF_* flags). */
export const AdminState = {
  /** Forced maintenance (`disable server`, `set server … state maint`). */
  FMAINT: 0x01,
  IMAINT: 0x02,
  CMAINT: 0x04,
  /** Forced drain (`set server … state drain`). */
  FDRAIN: 0x08,
  IDRAIN: 0x10,
  RMAINT: 0x20,
  HMAINT: 0x40,
} as const;

const MAINTENANCE = AdminState.FMAINT | AdminState.IMAINT | AdminState.CMAINT | AdminState.RMAINT | AdminState.HMAINT;
const DRAIN = AdminState.FDRAIN | AdminState.IDRAIN;

type Admin = Pick<RuntimeServer, 'adminState'>;

export function inMaintenance(s: Admin): boolean {
  return (s.adminState & MAINTENANCE) !== 0;
}

export function isDraining(s: Admin): boolean {
  return (s.adminState & DRAIN) !== 0;
}

/** In rotation as far as the admin state goes: neither in maintenance nor draining. */
export function inRotation(s: Admin): boolean {
  return !inMaintenance(s) && !isDraining(s);
}

/** Out of rotation by a flag the Runtime API can clear with `set server … state ready`. */
export function forcedOutOfRotation(s: Admin): boolean {
  return (s.adminState & (AdminState.FMAINT | AdminState.FDRAIN)) !== 0;
}
