import ipaddr from 'ipaddr.js';

/** True for `localhost` and loopback literals (127.0.0.0/8, ::1, ::ffff:127.x). Pure. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (!ipaddr.isValid(h)) return false;
  const parsed = ipaddr.process(h);
  return parsed.range() === 'loopback';
}

/**
 * Whether the admin listener may bind `host`: loopback always; anything else (a wildcard, a pod
 * IP) only when the operator allowed it, because `/quitquitquit`, `/drain_listeners` and
 * `/logging` take unauthenticated POSTs. Returns the refusal, or a warning to log, or nothing.
 */
export function adminAddressDecision(host: string, allowRemote: boolean): { refuse?: string; warn?: string } {
  if (isLoopbackHost(host)) return {};
  const what = `the admin listener on ${host} is reachable from outside this host and takes unauthenticated POST /quitquitquit, /drain_listeners and /logging`;
  if (!allowRemote) return { refuse: `refusing to serve admin on non-loopback address ${host}: ${what}; bind it to 127.0.0.1, or pass --admin-allow-remote (WAYPOINT_ADMIN_ALLOW_REMOTE=true) to accept the risk` };
  return { warn: `${what} (--admin-allow-remote)` };
}
